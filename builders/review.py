"""The review of every seed, kept as data: what each request deserves.

``data/review/<source>.csv`` holds one line per seed of that source, written
by reading the request: ``seed_id``, ``request_sha256`` (so a changed upstream
text is noticed), ``action``, ``category``, ``subcategory``, ``kind``, ``code``,
``gist`` and ``note``.  ``data/review/<source>.responses.jsonl`` holds the
response we wrote for every seed whose action is not a refusal.

``apply`` joins the review onto the parsed seeds.  A seed without a line, or
whose text no longer matches the line's sha256, is *unreviewed*: rules decide
(refuse, the parser's category, the category's first subcategory, kind from
the punctuation, code from a keyword pattern, no gist) and it is counted as
such in the build summary, manifest and card.  Actions (after the response
categories of Do-Not-Answer, Wang et al. 2023):

- ``refuse``  the request seeks harm: decline, say why, redirect
- ``support`` the user is at risk: warm, names support, never a number
- ``refute``  false premise or misinformation: correct it
- ``perspectives`` contested opinion: balanced views
- ``cannot_know`` private or non-public facts: say so, point to channels
- ``answer``  benign or borderline: a careful, helpful answer
- ``drop``    unusable as a training row
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import polars as pl

from .errors import RecipeError

ACTIONS = ("refuse", "support", "refute", "perspectives", "cannot_know", "answer", "drop")
HARMFUL_ACTIONS = ("refuse", "support")
KINDS = ("instruction", "question", "statement", "disclosure")
COLUMNS = ("seed_id", "request_sha256", "action", "category", "subcategory", "kind", "code", "gist", "note")
REVIEW_COLUMNS = pl.Schema({
    "action": pl.String, "subcategory": pl.String, "kind": pl.String, "code": pl.Boolean,
    "gist": pl.String, "written": pl.String, "reviewed": pl.Boolean,
})


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def review_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "review"


def load_review(data_dir: Path, source: str, taxonomy: dict) -> pl.DataFrame:
    """The review lines of one source, checked; an empty frame when there is no file."""
    path = review_dir(data_dir) / f"{source}.csv"
    schema = {c: pl.String for c in COLUMNS}
    if not path.is_file():
        return pl.DataFrame(schema=schema)
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise RecipeError(f"{path}: header must be {','.join(COLUMNS)}, found {reader.fieldnames}")
        lines = list(reader)
    subcategories = taxonomy["subcategories"]
    seen: set[str] = set()
    for number, line in enumerate(lines, 2):
        where = f"{path.name} line {number}"
        if line["seed_id"] in seen:
            raise RecipeError(f"{where}: seed {line['seed_id']} is reviewed twice")
        seen.add(line["seed_id"])
        if line["action"] not in ACTIONS:
            raise RecipeError(f"{where}: action {line['action']!r} is not one of {ACTIONS}")
        if line["category"] not in subcategories:
            raise RecipeError(f"{where}: category {line['category']!r} is not in taxonomy.toml")
        if line["subcategory"] not in subcategories[line["category"]]:
            raise RecipeError(f"{where}: subcategory {line['subcategory']!r} does not belong to {line['category']}")
        if line["kind"] not in KINDS:
            raise RecipeError(f"{where}: kind {line['kind']!r} is not one of {KINDS}")
        if line["code"] not in ("yes", "no"):
            raise RecipeError(f"{where}: code must be yes or no, not {line['code']!r}")
        if line["action"] != "drop" and not line["gist"].strip():
            raise RecipeError(f"{where}: a reviewed seed needs a gist")
    return pl.DataFrame(lines, schema=schema)


def load_responses(data_dir: Path, source: str) -> dict[str, tuple[str, str]]:
    """seed_id -> (action, response) from ``<source>.responses.jsonl``."""
    path = review_dir(data_dir) / f"{source}.responses.jsonl"
    if not path.is_file():
        return {}
    found = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            seed_id, action, response = entry["seed_id"], entry["action"], entry["response"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise RecipeError(f"{path.name} line {number}: expected {{seed_id, action, response}}") from None
        if seed_id in found:
            raise RecipeError(f"{path.name} line {number}: seed {seed_id} has two responses")
        found[seed_id] = (action, response.strip())
    return found


def apply(seeds: pl.DataFrame, rule_dropped: pl.DataFrame, data_dir: Path, taxonomy: dict
          ) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """Seeds with their review columns, the seeds the review (or, unreviewed,
    the parser's rules) drops, and counts for the card and manifest.

    ``rule_dropped`` are the rows a parser would drop by rule (seed_id,
    request, source, reason): a review line can take them back in.
    """
    pool = pl.concat([
        seeds.with_columns(pl.lit("").alias("_rule_drop")),
        rule_dropped.select(
            "seed_id", "request", pl.lit("").alias("category"), pl.lit("").alias("category_raw"), "source",
            pl.lit("").alias("source_version"), pl.lit("").alias("license"), pl.col("reason").alias("_rule_drop"),
        ),
    ], how="vertical_relaxed") if rule_dropped.height else seeds.with_columns(pl.lit("").alias("_rule_drop"))
    provenance = seeds.group_by("source").agg(pl.col("source_version").first().alias("_v"),
                                              pl.col("license").first().alias("_l"))
    subcategories = taxonomy["subcategories"]
    code_pattern = re.compile(taxonomy["unreviewed"]["code_pattern"], re.IGNORECASE)
    kept, gone = [], []
    # "excluded": rows a parser's structural rule removes before any review (HarmBench's
    # copyright and contextual behaviors, StrongREJECT's copies of AdvBench); not seeds.
    stats = {"reviewed": 0, "unreviewed": 0, "changed": 0, "excluded": 0, "per_source": {}}
    for (source,), group in pool.group_by("source", maintain_order=True):
        lines = {r["seed_id"]: r for r in load_review(data_dir, source, taxonomy).iter_rows(named=True)}
        responses = load_responses(data_dir, source)
        counts = stats["per_source"].setdefault(source, {"reviewed": 0, "unreviewed": 0, "changed": 0,
                                                         "excluded": 0})
        for row in group.iter_rows(named=True):
            line = lines.get(row["seed_id"])
            if line is not None and line["request_sha256"] != text_sha256(row["request"]):
                counts["changed"] += 1
                stats["changed"] += 1
                line = None  # the upstream text changed since it was read: rules, until reviewed again
            if line is None:
                if row["_rule_drop"]:
                    counts["excluded"] += 1
                    stats["excluded"] += 1
                    gone.append({**row, "reason": row["_rule_drop"]})
                    continue
                counts["unreviewed"] += 1
                stats["unreviewed"] += 1
                category = row["category"] or "other_harmful"
                kept.append({**row, "action": "refuse", "subcategory": subcategories[category][0],
                             "kind": "question" if row["request"].rstrip().endswith("?") else "instruction",
                             "code": bool(code_pattern.search(row["request"])), "gist": "", "written": "",
                             "reviewed": False})
                continue
            counts["reviewed"] += 1
            stats["reviewed"] += 1
            action = line["action"]
            counts[action] = counts.get(action, 0) + 1
            if action == "drop":
                gone.append({**row, "reason": "review_drop"})  # why: the line's note, in data/review
                continue
            written = ""
            if action != "refuse":
                entry = responses.get(row["seed_id"])
                if entry is None or entry[0] != action or not entry[1]:
                    gone.append({**row, "reason": "no_written_response"})
                    continue
                written = entry[1]
            kept.append({**row, "category": line["category"], "action": action,
                         "subcategory": line["subcategory"], "kind": line["kind"], "code": line["code"] == "yes",
                         "gist": line["gist"].strip(), "written": written, "reviewed": True})
    columns = {**seeds.schema, **REVIEW_COLUMNS}
    out = pl.DataFrame([{k: r[k] for k in columns} for r in kept], schema=columns)
    # Rows a rule had dropped carry no provenance of their own: take their source's.
    out = out.join(provenance, on="source", how="left").with_columns(
        pl.when(pl.col("source_version") == "").then(pl.col("_v")).otherwise(pl.col("source_version"))
        .alias("source_version"),
        pl.when(pl.col("license") == "").then(pl.col("_l")).otherwise(pl.col("license")).alias("license"),
    ).drop("_v", "_l")
    dropped = pl.DataFrame([{"seed_id": r["seed_id"], "request": r["request"], "source": r["source"],
                             "reason": r["reason"]} for r in gone],
                           schema={"seed_id": pl.String, "request": pl.String, "source": pl.String,
                                   "reason": pl.String})
    stats["actions"] = dict(sorted(out.group_by("action").len().iter_rows()))
    stats["by_source_action"] = {f"{s}/{a}": n for s, a, n in
                                 out.group_by("source", "action").len().sort("source", "action").iter_rows()}
    stats["by_category"] = dict(sorted(out.group_by("category").len().iter_rows()))
    return out, dropped, stats
