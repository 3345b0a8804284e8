"""Benign items the project writes, rendered through the same templates as harmful seeds.

An item is a benign request plus what correct answers to it need, one JSON
object per line (see ``compose.py`` for how each template lays an answer out):

* ``data/benign/items/*.jsonl``        how-to and question items: ``answer``,
  ``summary``, ``steps``, ``difficulty``, ``method``
* ``data/benign/translation/<lang>.jsonl`` a request with its translation and
  an answer written in that language
* ``data/benign/code/<lang>.jsonl``    a coding task with a solution its test runs
* ``data/benign/lookalikes/*.jsonl``   items that resemble a harmful request
  (``category`` it resembles, ``lookalike_type`` after XSTest's ten types)
* ``data/benign/direct.jsonl``         questions with written answers

Every item becomes one row of the seed frame the renderer reads
(``ITEM_SCHEMA``), with its content as JSON in ``fields``; an item forms its own
cluster, so all its task forms share a split.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl

from .errors import BuildError
from .review import KINDS, REVIEW_COLUMNS
from .schema import LANGUAGES, SEED_SCHEMA

PROJECT_SOURCE = "multitask-safety"
PROJECT_LICENSE = "MIT"
LOOKALIKE_TYPES = ("homonyms", "figurative", "safe_targets", "safe_contexts", "definitions", "nonsense_group",
                   "nonsense_discrimination", "historical_events", "privacy_public", "privacy_fictional")
ITEM_LANGUAGES = tuple(code for code in LANGUAGES if code != "en")  # what items are translated into
CODE_LANGUAGES = ("python", "javascript", "bash", "go")
CODE_FIELDS = {"python": ("solution", "demo", "test"), "javascript": ("module_name", "solution", "usage", "test"),
               "bash": ("solution", "test"), "go": ("solution", "run", "test")}

ITEM_SCHEMA = pl.Schema({
    **SEED_SCHEMA, **REVIEW_COLUMNS,
    "fields": pl.String,  # JSON: the content answers are composed from
    "subtype": pl.String,
    "lookalike_type": pl.String,
    "stratum": pl.String,  # what the split is stratified by
})


def json_lines(path: Path, text: str | None = None) -> list[tuple[int, dict]]:
    """(line number, object) for every non-blank line of a JSON-lines file; a bad line is a BuildError."""
    out = []
    text = path.read_text(encoding="utf-8") if text is None else text
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            raise BuildError(f"{path.name} line {number}: not JSON ({error.msg})") from None
        if not isinstance(item, dict):
            raise BuildError(f"{path.name} line {number}: expected a JSON object")
        out.append((number, item))
    return out


def _text(item: dict, name: str, where: str) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value.strip():
        raise BuildError(f"{where}: field {name!r} must be a non-empty string")
    return value.strip()


def _fields(item: dict, where: str, folder: str) -> dict:
    """The answer content of one item, checked for the fields its kind of file needs."""
    fields: dict = {}
    for name in ("answer", "summary", "difficulty", "method"):
        if isinstance(item.get(name), str) and item[name].strip():
            fields[name] = item[name].strip()
    if "steps" in item:
        steps = item["steps"]
        if not isinstance(steps, list) or not all(isinstance(s, str) and s.strip() for s in steps):
            raise BuildError(f"{where}: steps must be a list of non-empty strings")
        fields["steps"] = [s.strip() for s in steps]
    if fields.get("difficulty") not in (None, "EASY", "MEDIUM", "HARD"):
        raise BuildError(f"{where}: difficulty must be EASY, MEDIUM or HARD")
    if fields.get("method") not in (None, "PHYSICAL", "DIGITAL", "SOCIAL"):
        raise BuildError(f"{where}: method must be PHYSICAL, DIGITAL or SOCIAL")
    translations = dict(item.get("translations") or {})
    if folder == "translation":
        translations[_text(item, "language", where)] = {"text": _text(item, "translation", where),
                                                        "answer": _text(item, "answer", where)}
        fields.pop("answer", None)  # that answer is in the target language, not English
    for language, entry in translations.items():
        if language not in ITEM_LANGUAGES:
            raise BuildError(f"{where}: translation language {language!r} is not one of {ITEM_LANGUAGES}")
        if not isinstance(entry, dict) or not str(entry.get("text", "")).strip():
            raise BuildError(f"{where}: translations.{language} needs a non-empty text")
    if translations:
        fields["translations"] = translations
    if folder == "code":
        language = _text(item, "language", where)
        if language not in CODE_LANGUAGES:
            raise BuildError(f"{where}: code language {language!r} is not one of {CODE_LANGUAGES}")
        fields["code"] = {"language": language,
                          **{name: _text(item, name, where) for name in CODE_FIELDS[language]}}
        if isinstance(item.get("pseudocode"), str) and item["pseudocode"].strip():
            fields["code"]["pseudocode"] = item["pseudocode"].strip()
    if not fields:
        raise BuildError(f"{where}: the item carries no answer content")
    # The request too: a layout may depend on what was asked (a request to plan something).
    return {**fields, "request": item.get("request") or item.get("prompt")}


def _files(root: Path) -> list[tuple[str, Path]]:
    folder = root / "benign"
    found = [(sub, path) for sub in ("items", "translation", "code", "lookalikes")
             for path in sorted((folder / sub).glob("*.jsonl"))]
    if (folder / "direct.jsonl").is_file():
        found.append(("direct", folder / "direct.jsonl"))
    return found


def load_items(data_dir: Path, taxonomy: dict) -> pl.DataFrame:
    """Every benign item the project ships, in ``ITEM_SCHEMA``."""
    records, ids = [], set()
    for folder, path in _files(Path(data_dir)):
        version = f"data@{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}"
        for number, item in json_lines(path):
            where = f"{path.relative_to(Path(data_dir))} line {number}"
            item_id = _text(item, "id", where)
            if item_id in ids:
                raise BuildError(f"{where}: id {item_id!r} is used twice")
            ids.add(item_id)
            request = _text(item, "prompt" if folder == "direct" else "request", where)
            if folder == "direct":
                item = {**item, "answer": item.get("response"), "kind": "question"}
            kind = item.get("kind", "instruction")
            if kind not in KINDS:
                raise BuildError(f"{where}: kind {kind!r} is not one of {KINDS}")
            lookalike = item.get("lookalike_type") or "none"
            if lookalike != "none" and lookalike not in LOOKALIKE_TYPES:
                raise BuildError(f"{where}: lookalike_type {lookalike!r} is not one of {LOOKALIKE_TYPES}")
            category = item.get("category") or "none"
            if category != "none" and category not in taxonomy["categories"]:
                raise BuildError(f"{where}: category {category!r} is not in taxonomy.toml")
            if folder == "lookalikes" and (lookalike == "none" or category == "none"):
                raise BuildError(f"{where}: a look-alike names the category it resembles and its lookalike_type")
            records.append({
                "seed_id": f"{PROJECT_SOURCE}:{item_id}", "request": request, "category": category,
                "category_raw": str(item.get("topic") or folder), "source": PROJECT_SOURCE,
                "source_version": version, "license": PROJECT_LICENSE, "action": "answer",
                "subcategory": "none", "kind": kind, "code": folder == "code", "gist": "", "written": "",
                "reviewed": True, "fields": json.dumps(_fields(item, where, folder), ensure_ascii=False,
                                                       sort_keys=True),
                "subtype": "lookalike" if lookalike != "none" else "reference", "lookalike_type": lookalike,
                "stratum": f"benign/{folder}/{path.stem}",
            })
    return pl.DataFrame(records, schema=ITEM_SCHEMA)


def seeds_as_items(seeds: pl.DataFrame) -> pl.DataFrame:
    """Reviewed harmful-source seeds in ``ITEM_SCHEMA``: a written response is their answer."""
    return seeds.with_columns(
        pl.when(pl.col("written") != "").then(
            pl.col("written").map_elements(lambda w: json.dumps({"answer": w}, ensure_ascii=False),
                                           return_dtype=pl.String)).otherwise(pl.lit("{}")).alias("fields"),
        pl.lit("request").alias("subtype"),
        pl.lit("none").alias("lookalike_type"),
        pl.col("category").alias("stratum"),
    ).select(list(ITEM_SCHEMA))


def po_items(pairs: pl.DataFrame, language: str) -> pl.DataFrame:
    """Human translation pairs (``benign.PAIR_SCHEMA``) as items for the translation templates."""
    return pairs.select(
        "seed_id", pl.col("english").alias("request"), pl.lit("none").alias("category"),
        pl.col("file").alias("category_raw"), "source", "source_version", "license",
        pl.lit("answer").alias("action"), pl.lit("none").alias("subcategory"), pl.lit("statement").alias("kind"),
        pl.lit(False).alias("code"), pl.lit("").alias("gist"), pl.lit("").alias("written"),
        pl.lit(True).alias("reviewed"),
        pl.col("translation").map_elements(
            lambda t: json.dumps({"translations": {language: {"text": t}}}, ensure_ascii=False),
            return_dtype=pl.String).alias("fields"),
        pl.lit("reference").alias("subtype"), pl.lit("none").alias("lookalike_type"),
        pl.lit(f"benign/po/{language}").alias("stratum"),
    ).cast(dict(ITEM_SCHEMA))
