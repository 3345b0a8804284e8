"""Exact duplicates: rows whose text is equal after normalisation.

Keep rule: rows are ordered by the priority columns, then by ``id`` (ascending,
nulls last); the first row of each group of equal normalised texts is kept and
every other row is removed with ``reason = "exact_duplicate"`` and the
``kept_id`` of its kept twin.
"""

from __future__ import annotations

import polars as pl

REASON = "exact_duplicate"

_EDGE_PUNCTUATION = r"^[\p{P}\s]+|[\p{P}\s]+$"
_WHITESPACE_RUNS = r"\s\s+|[^\S ]"  # two or more whitespace characters, or one that is not a plain space


def normalize_series(texts: pl.Series) -> pl.Series:
    """The text that duplicate detection compares; see ``normalize``."""
    texts = texts.cast(pl.String)
    non_ascii = texts.str.len_bytes() != texts.str.len_chars()
    if non_ascii.any():  # NFKC is slow and a no-op on ASCII, so only the other rows pay for it
        where = non_ascii.arg_true()
        texts = texts.scatter(where, texts.gather(where).str.normalize("NFKC"))
    return (
        texts.str.to_lowercase()
        .str.replace_all(_WHITESPACE_RUNS, " ")
        .str.replace_all(_EDGE_PUNCTUATION, "")
        .alias(texts.name)
    )


def normalize(expr: pl.Expr) -> pl.Expr:
    """Normalise text for duplicate detection.

    In order: Unicode NFKC (so full-width letters, ligatures and compatibility
    forms compare equal to their plain forms), lower case (Unicode), every run
    of whitespace (any Unicode white space, including newlines and tabs)
    replaced by one space, then leading and trailing punctuation (Unicode
    category P) and whitespace removed.  Inner punctuation is kept.  Nulls stay
    null.  Example: ``"  Ｈow do I\\n\\tbake BREAD?!"`` becomes ``"how do i bake bread"``.
    """
    return expr.map_batches(normalize_series, return_dtype=pl.String)


def _keep_order(priority: list[str]) -> list[str]:
    return [*priority, "id"] if "id" not in priority else list(priority)


def exact_dedup(df: pl.DataFrame, text: str, priority: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``df`` into kept rows (input order) and removed exact duplicates (sorted by ``id``).

    Rows whose text is null are never duplicates of anything.
    """
    order = _keep_order(priority)
    ranked = (
        df.with_row_index("_row")
        .with_columns(normalize(pl.col(text)).alias("_norm"))
        .sort(order, nulls_last=True, maintain_order=True)
        .with_columns(
            pl.when(pl.col("_norm").is_null())
            .then(pl.col("id"))
            .otherwise(pl.col("id").first().over("_norm"))
            .alias("kept_id")
        )
    )
    is_kept = pl.col("kept_id") == pl.col("id")
    kept = ranked.filter(is_kept).sort("_row").select(df.columns)
    removed = (
        ranked.filter(~is_kept)
        .sort("id")
        .select(*df.columns, pl.lit(REASON).alias("reason"), "kept_id")
    )
    return kept, removed
