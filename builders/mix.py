"""Fine-tuning mixes: the user's task rows plus safety rows of ours, in chat ``messages`` form.

Safety rows come only from our train split, so a model tuned on the mix can
still be evaluated on our validation and test splits.  Per task form the
harmful and benign rows keep the proportion they have in that train split, and
which rows are taken is a pure function of the seed and the row ids.  The
user's task rows that copy or nearly copy a prompt of our test split are
removed (and listed), or the evaluation would measure memorised prompts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from .dataset import Split, load_split
from .decontaminate import decontaminate
from .dedup.exact import normalize_series
from .dedup.minhash import MinHashConfig
from .errors import MixError
from .schema import TASKS
from .taskdata import TaskData

FORMATS = ("chat-jsonl", "parquet")
# The same near-duplicate test the v2 build uses against evaluation sets.
DECONTAMINATION = MinHashConfig(shingle="char", ngram=5, num_perm=128, threshold=0.8, bands=20, rows=6, seed=1)
PROVENANCE = pl.Struct({
    "origin": pl.String,  # "safety" (ours) or "task" (the user's)
    "dataset": pl.String, "version": pl.String, "id": pl.String, "task": pl.String, "label": pl.String,
    "action": pl.String,  # ours
    "file": pl.String, "row": pl.Int64,  # theirs
})


@dataclass(frozen=True)
class MixRequest:
    per_form: int | None = None  # safety rows per task form
    ratio: float | None = None  # or: safety rows = ratio x kept task rows, spread evenly over the forms
    forms: tuple[str, ...] = TASKS
    seed: int = 0
    fmt: str = "chat-jsonl"


@dataclass
class MixResult:
    out: str
    removed_file: str | None
    task_origin: str
    task_read: int
    task_removed: dict[str, int]  # reason -> rows
    task_kept: int
    safety_source: dict
    safety: dict[str, dict[str, int]]  # form -> label -> rows
    seed: int
    total: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def safety_counts(request: MixRequest, task_rows: int) -> dict[str, int]:
    """How many safety rows each form gets."""
    if (request.per_form is None) == (request.ratio is None):
        raise MixError("give exactly one of --per-form N and --ratio R")
    unknown = sorted(set(request.forms) - set(TASKS))
    if unknown or not request.forms:
        raise MixError(f"unknown task form(s) {unknown}; known: {', '.join(TASKS)}")
    forms = [t for t in TASKS if t in request.forms]
    if request.per_form is not None:
        if request.per_form < 0:
            raise MixError("--per-form must be 0 or more")
        return {form: request.per_form for form in forms}
    if request.ratio < 0:
        raise MixError("--ratio must be 0 or more")
    total = round(request.ratio * task_rows)
    base, extra = divmod(total, len(forms))
    return {form: base + (1 if i < extra else 0) for i, form in enumerate(forms)}


def _rank(seed: int, key: pl.Expr) -> pl.Expr:
    """A seed-determined order of rows that does not depend on their position or the polars version."""
    return pl.concat_str([pl.lit(str(seed)), key.cast(pl.String)], separator="\x1f").map_elements(
        lambda s: int.from_bytes(hashlib.sha256(s.encode()).digest()[:8], "big") >> 1, return_dtype=pl.Int64)


def choose_safety(train: pl.DataFrame, counts: dict[str, int], seed: int) -> pl.DataFrame:
    """``counts[form]`` train rows per form, harmful and benign in the form's own proportion."""
    chosen = []
    for form, wanted in counts.items():
        rows = train.filter(pl.col("task") == form)
        harmful = rows.filter(pl.col("label") == "harmful")
        benign = rows.filter(pl.col("label") == "benign")
        if wanted > rows.height:
            raise MixError(f"form {form}: {wanted} safety rows asked for, but the train split has only "
                           f"{rows.height}; lower --per-form or --ratio")
        n_harmful = int(wanted * harmful.height / rows.height + 0.5) if rows.height else 0
        n_harmful = min(n_harmful, harmful.height, wanted)
        n_benign = min(wanted - n_harmful, benign.height)
        n_harmful = wanted - n_benign  # when benign rows run short, harmful ones fill in
        for part, n in ((harmful, n_harmful), (benign, n_benign)):
            if n:
                chosen.append(part.with_columns(_rank(seed, pl.col("id")).alias("_rank")).sort("_rank").head(n))
    if not chosen:
        return train.clear()
    return pl.concat(chosen, how="diagonal_relaxed").drop("_rank")


def decontaminate_task_rows(task: pl.DataFrame, test: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Task rows whose prompt is not a copy of a test prompt, and the removed ones with what they matched."""
    kept, removed = decontaminate(task, "prompt", test["prompt"], DECONTAMINATION)
    if removed.height == 0:
        return kept, removed.select("row", "prompt").with_columns(
            pl.lit(None, pl.String).alias(c) for c in ("reason", "matched_test_id", "matched_test_prompt")
        ).with_columns(pl.lit(None, pl.Float64).alias("jaccard"))
    test_ids = test.select(pl.col("prompt").alias("matched_eval"), pl.col("id").alias("matched_test_id")).unique(
        "matched_eval", keep="first", maintain_order=True)
    exact = normalize_series(removed["prompt"]) == normalize_series(removed["matched_eval"])
    removed = (
        removed.with_columns(pl.Series("reason", ["exact_duplicate" if e else "near_duplicate" for e in exact]))
        .join(test_ids, on="matched_eval", how="left")
        .select("row", "prompt", "reason", "jaccard", "matched_test_id",
                pl.col("matched_eval").alias("matched_test_prompt"))
        .sort("row")
    )
    return kept, removed


def _chat(prompt: pl.Expr, response: pl.Expr) -> pl.Expr:
    return pl.concat_list(
        pl.struct(pl.lit("user").alias("role"), prompt.alias("content")),
        pl.struct(pl.lit("assistant").alias("role"), response.alias("content")),
    ).alias("messages")


def _safety_records(rows: pl.DataFrame, ours: Split) -> pl.DataFrame:
    name = ours.source if ours.commit is None else f"hf:{ours.source}@{ours.revision or 'main'}"
    version = ours.version or ours.revision or ours.commit
    return rows.select(
        _chat(pl.col("prompt"), pl.col("response")),
        pl.struct(
            pl.lit("safety").alias("origin"), pl.lit(name).alias("dataset"), pl.lit(version, pl.String).alias("version"),
            pl.col("id"), pl.col("task"), pl.col("label"), pl.col("action"),
            pl.lit(None, pl.String).alias("file"), pl.lit(None, pl.Int64).alias("row"),
        ).cast(PROVENANCE).alias("provenance"),
        pl.concat_str([pl.lit("s"), pl.col("id")]).alias("_key"),
    )


def _task_records(rows: pl.DataFrame, origin: str) -> pl.DataFrame:
    nothing = pl.lit(None, pl.String)
    return rows.select(
        _chat(pl.col("prompt"), pl.col("response")),
        pl.struct(
            pl.lit("task").alias("origin"), nothing.alias("dataset"), nothing.alias("version"), nothing.alias("id"),
            nothing.alias("task"), nothing.alias("label"), nothing.alias("action"),
            pl.lit(origin).alias("file"), pl.col("row").cast(pl.Int64),
        ).cast(PROVENANCE).alias("provenance"),
        pl.concat_str([pl.lit("t"), pl.col("row").cast(pl.String)]).alias("_key"),
    )


def _write(records: pl.DataFrame, out: Path, fmt: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".part")
    if fmt == "parquet":
        records.write_parquet(partial, compression="zstd")
    else:
        with open(partial, "w", encoding="utf-8") as handle:
            for record in records.iter_rows(named=True):
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    partial.replace(out)


def removed_path(out: Path) -> Path:
    return out.with_name(out.stem + ".removed.jsonl")


def mix(task: TaskData, safety_source: str, out: Path, request: MixRequest,
        revision: str | None = None) -> MixResult:
    """Write the mix to ``out`` (and the removed task rows beside it); say what went in."""
    if request.fmt not in FORMATS:
        raise MixError(f"unknown format {request.fmt!r}; use one of {', '.join(FORMATS)}")
    train = load_split(safety_source, "train", revision=revision)
    test = load_split(safety_source, "test", revision=revision)
    kept, removed = decontaminate_task_rows(task.rows, test.rows)
    counts = safety_counts(request, kept.height)
    safety = choose_safety(train.rows, counts, request.seed)
    records = pl.concat([_task_records(kept, task.origin), _safety_records(safety, train)])
    records = records.with_columns(_rank(request.seed, pl.col("_key")).alias("_order")).sort("_order")
    _write(records.drop("_key", "_order"), out, request.fmt)
    removed_file = None
    if removed.height:
        removed_file = removed_path(out)
        removed.with_columns(pl.lit(task.origin).alias("file")).write_ndjson(removed_file)
    per_form = {form: {label: 0 for label in ("harmful", "benign")} for form in counts}
    for form, label, n in safety.group_by("task", "label").len().iter_rows():
        per_form[form][label] = n
    reasons = dict(removed.group_by("reason").len().iter_rows()) if removed.height else {}
    return MixResult(
        out=str(out), removed_file=str(removed_file) if removed_file else None, task_origin=task.origin,
        task_read=task.rows.height, task_removed=reasons, task_kept=kept.height,
        safety_source={**train.describe(), "rows": safety.height}, safety=per_form, seed=request.seed,
        total=records.height,
    )


def summary(result: MixResult) -> str:
    """What went in, per form and label, as the CLI prints it."""
    removed = sum(result.task_removed.values())
    reasons = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(result.task_removed.items()))
    source = result.safety_source
    version = source["version"] or source["revision"] or "unversioned"
    lines = [
        f"wrote {result.total} rows to {result.out}",
        f"task rows: {result.task_read} read from {result.task_origin}, {removed} removed as copies of the "
        f"test split" + (f" ({reasons}; listed in {result.removed_file})" if removed else "")
        + f", {result.task_kept} kept",
        f"safety rows: {source['rows']} from {source['source']} ({version}), train split only, seed {result.seed}",
        "",
    ]
    header = ["form", "harmful", "benign", "total"]
    body = [[form, c["harmful"], c["benign"], c["harmful"] + c["benign"]] for form, c in result.safety.items()]
    body.append(["all", sum(r[1] for r in body), sum(r[2] for r in body), sum(r[3] for r in body)])
    widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(4)]
    fmt = lambda r: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    lines += [fmt(header), fmt(["-" * w for w in widths]), *map(fmt, body)]
    return "\n".join(lines)
