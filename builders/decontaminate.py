"""Decontamination: drop rows that repeat, or nearly repeat, an evaluation prompt.

A row is contaminated when its text, normalised, equals an evaluation text or
has a shingle-set Jaccard similarity >= ``cfg.threshold`` with one (the same
MinHash LSH search and exact check as near-duplicate removal).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from builders.csvfile import read_csv
from builders.dedup.exact import normalize_series
from builders.dedup.minhash import MinHashConfig, similar_rows
from builders.errors import BuildError

REASON = "contaminated"
DEFAULT_COLUMNS = ("prompt", "text")
_READERS = {
    ".csv": lambda path: read_csv(path, "evaluation set",
                                  fix="It would remove nothing: check that it is the right file, or leave it out."),
    ".json": pl.read_json,
    ".jsonl": pl.read_ndjson,
    ".ndjson": pl.read_ndjson,
    ".parquet": pl.read_parquet,
    ".pq": pl.read_parquet,
}


def split_spec(spec: str) -> tuple[Path, str | None]:
    """"FILE" or "FILE:COLUMN"; a path that itself contains ':' still works when the file exists."""
    whole = Path(spec)
    if whole.is_file():
        return whole, None
    head, sep, column = spec.rpartition(":")
    if sep and head and Path(head).is_file():
        return Path(head), column or None
    raise BuildError(f"evaluation set {spec!r}: no such file (expected FILE or FILE:COLUMN)")


def read_eval_texts(spec: str) -> pl.Series:
    """Texts of an evaluation set given as "FILE" or "FILE:COLUMN".

    FILE is CSV, JSON (an array of records), JSON Lines or Parquet, chosen by its
    suffix.  Without COLUMN the column "prompt", else "text", is used.  Nulls are
    dropped.  Every problem is a ``BuildError`` that names the file and the fix.
    """
    path, column = split_spec(spec)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise BuildError(
            f"evaluation set {path}: unsupported file type {path.suffix!r}; use one of {', '.join(_READERS)}"
        )
    if path.stat().st_size == 0:
        raise BuildError(f"evaluation set {path}: the file is empty, so it would remove nothing. Check that it "
                         "is the right file, or leave it out.")
    try:
        frame = reader(path)
    except BuildError:
        raise
    except Exception as error:  # polars raises several error types for unreadable files
        raise BuildError(f"evaluation set {path}: cannot read it as {path.suffix[1:]}: {error}") from error
    if frame.height == 0:
        raise BuildError(f"evaluation set {path}: the file has no rows, so it would remove nothing. Check that "
                         "it is the right file, or leave it out.")
    if column is None:
        column = next((c for c in DEFAULT_COLUMNS if c in frame.columns), None)
        if column is None:
            raise BuildError(
                f"evaluation set {path}: no 'prompt' or 'text' column; name one as {path}:COLUMN "
                f"(columns: {', '.join(frame.columns)})"
            )
    elif column not in frame.columns:
        raise BuildError(f"evaluation set {path}: no column {column!r} (columns: {', '.join(frame.columns)})")
    texts = frame.get_column(column)
    if texts.dtype not in (pl.String, pl.Categorical, pl.Enum) and not texts.dtype.is_numeric():
        raise BuildError(f"evaluation set {path}: column {column!r} holds {texts.dtype}, not text")
    texts = texts.cast(pl.String).drop_nulls().alias(column)
    if texts.len() == 0:
        # An empty evaluation set removes nothing, which would look like a clean build.
        raise BuildError(f"evaluation set {path}: column {column!r} holds no values, so it would remove "
                         "nothing. Check that it is the right file, or leave it out.")
    return texts


def decontaminate(
    df: pl.DataFrame, text: str, eval_texts: pl.Series, cfg: MinHashConfig
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``df`` into kept rows (input order) and contaminated rows (sorted by ``id``).

    Removed rows get ``reason = "contaminated"``, ``matched_eval`` (the evaluation
    text they match best, as given) and ``jaccard`` (exact similarity to it; 1.0
    for an exact match after normalisation).  Ties go to the earlier evaluation text.
    """
    evals = eval_texts.cast(pl.String).drop_nulls()
    if df.height == 0 or evals.len() == 0:
        return df, df.clear().with_columns(
            pl.lit(None, pl.String).alias("reason"), pl.lit(None, pl.String).alias("matched_eval"),
            pl.lit(None, pl.Float64).alias("jaccard"),
        )
    combined = pl.concat([normalize_series(df[text]).alias("t"), normalize_series(evals).alias("t")])
    pairs = similar_rows(combined, cfg, cross_at=df.height)
    best = (
        pairs.sort(["a", "jaccard", "b"], descending=[False, True, False])
        .unique("a", keep="first", maintain_order=True)
        .with_columns((pl.col("b") - df.height).alias("b"))
    )
    matched = np.full(df.height, -1, dtype=np.int64)
    matched[best["a"].to_numpy()] = best["b"].to_numpy()
    similarity = np.full(df.height, np.nan)
    similarity[best["a"].to_numpy()] = best["jaccard"].to_numpy()
    flagged = pl.Series(matched >= 0)
    kept = df.filter(~flagged)
    removed = (
        df.filter(flagged)
        .with_columns(
            pl.lit(REASON).alias("reason"),
            evals.gather(matched[matched >= 0]).alias("matched_eval"),
            pl.Series("jaccard", similarity[matched >= 0]),
        )
    )
    if "id" in removed.columns:
        removed = removed.sort("id")
    return kept, removed
