"""The authors' MultiTaskBench release: parse it, label it, clean it, shape it into rows.

The release (Jan et al., Multitask Mayhem) is one CSV of query/response pairs with no task or
category column.  ``label`` reads each row's text and nothing else, so a shuffled copy of the
file gets the same labels; ``clean`` removes what a refusal set must not contain and says how
many rows each step touched.  The rules themselves are data: ``data/upstream.toml``.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import polars as pl

from builders import schema
from builders.csvfile import read_csv
from builders.errors import BuildError
from builders.resources import data_dir

RULES_FILE = "upstream.toml"
TAXONOMY_FILE = "taxonomy.toml"

Patterns = tuple[re.Pattern[str], ...]


def _fold(text: str) -> str:
    """Unicode-normalize and fold typographic apostrophes, so rules need only one spelling."""
    return unicodedata.normalize("NFKC", text).translate(str.maketrans("\u2019\u2018\u02bc", "'''"))


def _compile(patterns: list[str]) -> Patterns:
    return tuple(re.compile(p, re.IGNORECASE) for p in patterns)


def _first(patterns: Patterns, text: str) -> re.Match[str] | None:
    for pattern in patterns:
        found = pattern.search(text)
        if found:
            return found
    return None


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_SENTENCE_BREAK = re.compile(r"((?<=[.!?])[ \t]+|\n+)")


@dataclass(frozen=True)
class Rules:
    """``data/upstream.toml``, compiled."""

    file: str
    header: tuple[str, ...]
    template: str
    task_rules: tuple[tuple[str, Patterns], ...]
    task_fallback: str
    strip_prefix: Patterns
    cut_at: Patterns
    category_rules: tuple[tuple[str, frozenset[str], Patterns], ...]
    category_fallback: str
    refusal: Patterns
    cut_from: Patterns
    rewrites: tuple[tuple[re.Pattern[str], str], ...]
    drop_sentence: Patterns
    code: Patterns
    translation_given: Patterns
    words_after_marker: int
    rendering_min_ratio: float
    answer_min_chars: int
    pivot: Patterns
    pivot_min_chars_after: int
    assistant_voice: Patterns
    debunk: Patterns
    response_admits: Patterns
    reviewed_harmless: frozenset[str]  # sha256 of queries reviewed by hand
    gold: str
    blocks: tuple[tuple[int, int, str], ...]

    # -- labels ------------------------------------------------------------------------
    def content(self, query: str) -> str:
        """The part of a query that carries the harm: no task wrapper, no answer options."""
        text = _fold(query)
        for prefix in self.strip_prefix:
            text = prefix.sub("", text, count=1)
        cut = _first(self.cut_at, text)
        return (text[: cut.start()] if cut else text).strip()

    def task_of(self, query: str) -> str:
        text = _fold(query)
        for task, patterns in self.task_rules:
            if _first(patterns, text):
                return task
        return self.task_fallback

    def category_of(self, query: str, task: str | None = None) -> str:
        task, content = task or self.task_of(query), self.content(query)
        for category, tasks, patterns in self.category_rules:
            if (not tasks or task in tasks) and _first(patterns, content):
                return category
        return self.category_fallback

    # -- cleaning ----------------------------------------------------------------------
    def refuses(self, response: str) -> bool:
        return _first(self.refusal, _fold(response)) is not None

    def strip_artifacts(self, response: str) -> str:
        """Rewrite or drop the sentences in which the generator names itself or its prompt."""
        text = response
        cut = _first(self.cut_from, text)
        if cut:
            text = text[: cut.start()]
        for pattern, replacement in self.rewrites:
            text = pattern.sub(replacement, text)
        if _first(self.drop_sentence, text):
            parts = _SENTENCE_BREAK.split(text)  # sentence, break, sentence, break, ...
            text = "".join(
                parts[i] + (parts[i + 1] if i + 1 < len(parts) else "")
                for i in range(0, len(parts), 2)
                if not _first(self.drop_sentence, parts[i])
            )
        if text == response:
            return response
        # Tidy only what the edits left behind: stray spaces, a lower-case first letter.
        text = re.sub(r"[ \t]{2,}", " ", re.sub(r"[ \t]+([,.;:!?])", r"\1", text)).strip()
        return text[:1].upper() + text[1:]

    def compliance(self, task: str, query: str, response: str) -> str | None:
        """Why ``response`` reads as doing the task instead of refusing it, or None."""
        text = _fold(response)
        if _first(self.code, text):
            return "code"
        if task == "translation":
            given = _first(self.translation_given, text)
            if given and len(text[given.end() :].split()) >= self.words_after_marker:
                return "translation_given"
        refuses = _first(self.refusal, text) is not None
        if not refuses and task == "translation":
            source = self.content(query)
            if len(text) >= self.rendering_min_ratio * max(len(source), 1):
                return "translation_rendered"
        if not refuses and len(text) >= self.answer_min_chars:
            return "answered"
        pivot = _first(self.pivot, text)
        if pivot and len(text) - pivot.end() >= self.pivot_min_chars_after:
            return "pivot_to_help"
        return None

    def benign(self, query: str, response: str = "") -> str | None:
        """Why the content of ``query`` is not harmful, or None."""
        content = self.content(query)
        for reason, patterns, text in (
            ("assistant_voice", self.assistant_voice, content),
            ("debunk", self.debunk, content),
            ("response_admits", self.response_admits, _fold(response)),
        ):
            if _first(patterns, text):
                return reason
        if sha256(query) in self.reviewed_harmless:
            return "reviewed_topic"
        return None


def _categories() -> set[str]:
    with (data_dir() / TAXONOMY_FILE).open("rb") as handle:
        return set(tomllib.load(handle)["categories"])


def _ordered(rules: list[dict[str, Any]], key: str, allowed: set[str]) -> tuple[tuple[str, Patterns], ...]:
    unknown = sorted({rule[key] for rule in rules} - allowed)
    unknown += sorted({t for rule in rules for t in rule.get("tasks", ())} - set(schema.TASKS))
    if unknown:
        raise BuildError(f"{RULES_FILE}: unknown {key} {unknown}; allowed: {sorted(allowed)}")
    return tuple((rule[key], _compile(rule["patterns"])) for rule in rules)


@lru_cache(maxsize=4)
def _load(path: Path) -> Rules:
    try:
        with path.open("rb") as handle:
            raw = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise BuildError(f"cannot read the MultiTaskBench rules {path}: {error}") from error
    categories = _categories()
    artifacts, compliance, benign = raw["artifacts"], raw["compliance"], raw["benign"]
    return Rules(
        file=raw["release"]["file"],
        header=tuple(raw["release"]["header"]),
        template=raw["release"]["template"],
        task_rules=_ordered(raw["task"]["rules"], "task", set(schema.TASKS)),
        task_fallback=raw["task"]["fallback"],
        strip_prefix=_compile(raw["content"]["strip_prefix"]),
        cut_at=_compile(raw["content"]["cut_at"]),
        category_rules=tuple(
            (category, frozenset(rule.get("tasks", ())), patterns)
            for rule, (category, patterns) in zip(
                raw["category"]["rules"], _ordered(raw["category"]["rules"], "category", categories)
            )
        ),
        category_fallback=raw["category"]["fallback"],
        refusal=_compile(raw["refusal"]["markers"]),
        cut_from=_compile(artifacts["cut_from"]),
        rewrites=tuple((re.compile(r["pattern"], re.IGNORECASE), r["replace"]) for r in artifacts["rewrite"]),
        drop_sentence=_compile(artifacts["drop_sentence"]["patterns"]),
        code=_compile(compliance["code"]),
        translation_given=_compile(compliance["translation_given"]),
        words_after_marker=int(compliance["words_after_marker"]),
        rendering_min_ratio=float(compliance["rendering_min_ratio"]),
        answer_min_chars=int(compliance["answer_min_chars"]),
        pivot=_compile(compliance["pivot"]),
        pivot_min_chars_after=int(compliance["pivot_min_chars_after"]),
        assistant_voice=_compile(benign["assistant_voice"]),
        debunk=_compile(benign["debunk"]),
        response_admits=_compile(benign["response_admits"]),
        reviewed_harmless=frozenset(benign["reviewed_harmless"]),
        gold=raw["quality"]["gold"],
        blocks=tuple((b["first"], b["last"], b["task"]) for b in raw["quality"]["blocks"]),
    )


def load_rules(path: Path | None = None) -> Rules:
    return _load((path or data_dir() / RULES_FILE).resolve())


# -- stages -------------------------------------------------------------------------------


def parse_multitaskbench(files: Mapping[str, Path], source: Any) -> pl.DataFrame:
    """The release as columns row (its own index column), query, response, plus provenance."""
    rules = load_rules()
    if rules.file in files:
        path = Path(files[rules.file])
    elif len(files) == 1:
        path = Path(next(iter(files.values())))
    else:
        raise BuildError(f"{source.name}: expected a file named {rules.file}, got {sorted(files)}")
    frame = read_csv(path, f"source '{source.name}'",
                     fix="Use the authors' release (data/sources.toml lists where it is), or fix the copy you "
                         f"passed with --source {source.name}=PATH.")
    if tuple(frame.columns) != rules.header:
        raise BuildError(f"{path}: header {frame.columns} differs from the release's {list(rules.header)}")
    index, query, response = rules.header
    frame = frame.select(
        pl.col(index).cast(pl.Int64, strict=False).alias("row"),
        pl.col(query).alias("query"),
        pl.col(response).alias("response"),
    )
    missing = [c for c, n in zip(frame.columns, frame.null_count().row(0)) if n]
    if missing:
        raise BuildError(f"{path}: empty or malformed values in {missing}")
    return frame.with_columns(
        pl.lit(source.name).alias("source"),
        pl.lit(source.version).alias("source_version"),
        pl.lit(source.license).alias("license"),
    )


def label(raw: pl.DataFrame) -> pl.DataFrame:
    """Add task, category and category_raw, read from each row's query alone."""
    rules = load_rules()
    queries = raw["query"].to_list()
    tasks = [rules.task_of(q) for q in queries]
    return raw.with_columns(
        pl.Series("task", tasks, dtype=pl.String),
        pl.Series("category", [rules.category_of(q, t) for q, t in zip(queries, tasks)], dtype=pl.String),
        pl.lit("").alias("category_raw"),  # the release has no labels of its own
    )


STEP_DESCRIPTIONS = {
    "strip_artifacts": "Removed generation artifacts from responses: the generator naming itself "
    "(\"Dolphin\") and mentions of the system prompt it ran under (\"bound by the system message\", "
    "leaked instruction blocks); such sentences were rewritten or dropped.",
    "drop_complying": "Dropped rows whose response does the task instead of refusing: it contains code, "
    "hands over the English translation (even after a disclaimer), answers at length without any "
    "refusal marker, or refuses and then delivers an outline anyway.",
    "drop_refused_benign": "Dropped rows whose content is not harmful but was refused anyway: an "
    "assistant's own refusal or disclaimer given as text to translate, a text that debunks a false claim, "
    "a response that calls the request harmless before refusing, or a topic reviewed by hand as harmless.",
    "drop_not_refusal": "Dropped rows whose response, after artifact stripping, carries no refusal marker.",
    "dedup_queries": "Dropped exact duplicate queries (after NFKC, case folding and whitespace collapsing), "
    "keeping the copy with the lowest sha256 of query and response.",
}


def _dedup_key(query: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", query).casefold().split())


def _pair_sha(query: str, response: str) -> str:
    return sha256(f"{query}\x1f{response}")


def _seed_id(query: str) -> str:
    """Named by the query's own hash, so it survives any reordering of the release."""
    return "multitaskbench:" + sha256(query)[:16]


def _template_id(task: str, rules: Rules) -> str:
    return f"multitaskbench/{task}@{rules.template}"


def clean(labeled: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, list[dict[str, Any]]]:
    """Strip artifacts, drop complying, benign-refused, non-refusing and duplicate rows.

    Returns the kept rows (response cleaned), the dropped rows (response as released, plus
    ``reason``, ``detail`` and, for duplicates, the ``kept_id`` of the surviving row) and one
    counted entry per step.  Every decision reads one row's
    text, and duplicates keep the lowest hash, so file order never changes the outcome.
    """
    rules = load_rules()
    queries, tasks = labeled["query"].to_list(), labeled["task"].to_list()
    released = labeled["response"].to_list()
    cleaned = [rules.strip_artifacts(r) for r in released]

    reasons: list[tuple[str, str] | None] = []
    for query, task, response in zip(queries, tasks, cleaned):
        complies = rules.compliance(task, query, response)
        benign = rules.benign(query, response)
        if complies:
            reasons.append(("complies", complies))
        elif benign:
            reasons.append(("refused_benign", benign))
        elif not rules.refuses(response):
            reasons.append(("not_refusal", "no_refusal_marker"))
        else:
            reasons.append(None)

    best: dict[str, tuple[str, int]] = {}
    for i, (query, response) in enumerate(zip(queries, released)):
        if reasons[i] is None:
            key, rank = _dedup_key(query), _pair_sha(query, response)
            if key not in best or rank < best[key][0]:
                best[key] = (rank, i)
    winners = {i for _, i in best.values()}
    kept_ids: list[str | None] = [None] * len(reasons)
    for i, reason in enumerate(reasons):
        if reason is None and i not in winners:  # point the audit at the copy that was kept
            winner = best[_dedup_key(queries[i])][1]
            reasons[i] = ("duplicate_query", "kept:" + best[_dedup_key(queries[i])][0][:16])
            kept_ids[i] = schema.row_id(_seed_id(queries[winner]), tasks[winner], _template_id(tasks[winner], rules))

    order = pl.Series("_order", [_pair_sha(q, r) for q, r in zip(queries, released)])
    verdict = pl.Series("reason", [r[0] if r else None for r in reasons], dtype=pl.String)
    detail = pl.Series("detail", [r[1] if r else None for r in reasons], dtype=pl.String)
    marked = labeled.with_columns(
        order,
        verdict,
        detail,
        pl.Series("kept_id", kept_ids, dtype=pl.String),
        pl.Series("_cleaned", cleaned, dtype=pl.String),
    )
    kept = (
        marked.filter(pl.col("reason").is_null())
        .with_columns(pl.col("_cleaned").alias("response"))
        .sort("_order")
        .select(labeled.columns)
    )
    dropped = (
        marked.filter(pl.col("reason").is_not_null())
        .sort("reason", "_order")
        .select([*labeled.columns, "reason", "detail", "kept_id"])
    )
    return kept, dropped, _steps(labeled, released, cleaned, reasons)


def _steps(
    labeled: pl.DataFrame, released: list[str], cleaned: list[str], reasons: list[tuple[str, str] | None]
) -> list[dict[str, Any]]:
    tasks = labeled["task"].to_list()
    changed = Counter(t for t, a, b in zip(tasks, released, cleaned) if a != b)
    steps: list[dict[str, Any]] = [
        {
            "step": "strip_artifacts",
            "rows_changed": sum(changed.values()),
            "by_task": dict(sorted(changed.items())),
            "description": STEP_DESCRIPTIONS["strip_artifacts"],
        }
    ]
    rows_in = labeled.height
    for step, reason in (
        ("drop_complying", "complies"),
        ("drop_refused_benign", "refused_benign"),
        ("drop_not_refusal", "not_refusal"),
        ("dedup_queries", "duplicate_query"),
    ):
        hits = [(t, r[1]) for t, r in zip(tasks, reasons) if r and r[0] == reason]
        steps.append(
            {
                "step": step,
                "reason": reason,
                "rows_in": rows_in,
                "rows_dropped": len(hits),
                "rows_out": rows_in - len(hits),
                "by_task": dict(sorted(Counter(t for t, _ in hits).items())),
                "by_detail": dict(sorted(Counter(d.split(":")[0] for _, d in hits).items())),
                "description": STEP_DESCRIPTIONS[step],
            }
        )
        rows_in -= len(hits)
    return steps


def to_rows(kept: pl.DataFrame, source: Any) -> pl.DataFrame:
    """Kept release rows in ROW_SCHEMA: harmful requests with the authors' (cleaned) refusals."""
    rules = load_rules()
    seed_ids = [_seed_id(q) for q in kept["query"].to_list()]
    rows = kept.select(
        pl.col("query").alias("prompt"),
        pl.col("response"),
        pl.col("task"),
        pl.lit("harmful").alias("label"),
        pl.lit("refuse").alias("action"),
        pl.lit("en").alias("language"),  # the release's instructions and refusals are English
        pl.lit("upstream").alias("subtype"),
        pl.col("category"),
        pl.col("category_raw"),
        pl.lit("none").alias("lookalike_type"),
        pl.Series("seed_id", seed_ids, dtype=pl.String),
        pl.Series("template_id", [_template_id(t, rules) for t in kept["task"].to_list()], dtype=pl.String),
        pl.lit(source.name).alias("source"),
        pl.lit(source.version).alias("source_version"),
        pl.lit(source.license).alias("license"),
    ).with_columns(
        schema.messages().alias("messages"),
        schema.row_ids("seed_id", "task", "template_id").alias("id"),
        pl.col("seed_id").alias("cluster_id"),
        pl.lit(1, dtype=pl.Int32).alias("cluster_size"),
    )
    return schema.check(schema.conform(rows).sort("id"), "upstream")


# -- measuring the labels -------------------------------------------------------------------


def label_quality(labeled: pl.DataFrame, gold: Path | None = None) -> dict[str, Any]:
    """How far the content-based labels can be trusted, and how that was checked.

    Task labels are compared with the release's block layout (the row index decides the
    expected task here and only here).  Category labels and the benign verdict are compared
    with our own hand labels of a stratified sample (``data/upstream_gold.csv``, keyed by the
    query's sha256 so that no release text is stored).
    """
    rules = load_rules()
    rows = labeled.select("row", "query", "response", "task", "category").rows()

    def block_of(row: int) -> str | None:
        return next((task for first, last, task in rules.blocks if first <= row <= last), None)

    expected = [(block_of(row), task) for row, _, _, task, _ in rows if block_of(row) is not None]
    misses = Counter(f"{block}->{task}" for block, task in expected if block != task)

    gold_path = gold or data_dir() / rules.gold
    hand = pl.read_csv(gold_path, schema_overrides={"query_sha256": pl.String})
    by_sha = {sha256(row[1]): row for row in rows}
    found = [(g, by_sha[g["query_sha256"]]) for g in hand.iter_rows(named=True) if g["query_sha256"] in by_sha]
    harmful = [(g, r) for g, r in found if g["category"] != "none"]
    benign_gold = {g["query_sha256"] for g, _ in found if g["category"] == "none"}
    flagged = {g["query_sha256"] for g, r in found if rules.benign(r[1], r[2])}
    per_block = Counter(block_of(r[0]) for _, r in found)

    def share(hits: int, total: int) -> float:
        return hits / total if total else float("nan")

    return {
        "task_agreement": share(sum(b == t for b, t in expected), len(expected)),
        "task_checked": len(expected),
        "task_disagreements": dict(sorted(misses.items())),
        "category_agreement": share(sum(g["category"] == r[4] for g, r in harmful), len(harmful)),
        "category_checked": len(harmful),
        "gold_rows": len(found),
        "gold_task_agreement": share(sum(g["task"] == r[3] for g, r in found), len(found)),
        "benign_gold": len(benign_gold),
        "benign_flagged": len(flagged),
        "benign_precision": share(len(flagged & benign_gold), len(flagged)),
        "benign_recall": share(len(flagged & benign_gold), len(benign_gold)),
        "method": (
            "task: the content-based task label of every row compared with the task of the release block "
            "the row sits in ("
            + ", ".join(f"rows {first}-{last} {task}" for first, last, task in rules.blocks)
            + "); the blocks are used for this measurement only. category: compared with hand labels of "
            f"{len(found)} rows drawn at random ({', '.join(f'{n} {b}' for b, n in sorted(per_block.items()))}) "
            f"and read by the project ({gold_path.name}), counting only the {len(harmful)} rows judged harmful; "
            "the rows judged not harmful (category 'none') measure the refused_benign rule as precision and "
            "recall."
        ),
    }
