"""The one row schema every stage reads and writes.

A harmful *seed* is a request taken from a source; rendering turns each seed
into rows, one per task form.  Stages only fill the columns below; they never
rename or reorder them.  The split is not a column of the published files:
stages carry it as ``split`` and the writer turns it into file names.
"""

from __future__ import annotations

import hashlib

import polars as pl

TASKS = ("direct", "summarization", "translation", "classification", "code")
LABELS = ("harmful", "benign")
SUBTYPES = ("request", "upstream", "reference", "lookalike")
# What the response does (after the response categories of Do-Not-Answer, Wang et al. 2023).
# Only refuse and support rows are label harmful.
ACTIONS = ("refuse", "support", "refute", "perspectives", "cannot_know", "answer")
LANGUAGES = ("en", "fr", "de", "es", "it", "pt", "ja", "zh")
SPLITS = ("train", "validation", "test")

MESSAGE = pl.Struct({"role": pl.String, "content": pl.String})

SEED_SCHEMA = pl.Schema(
    {
        "seed_id": pl.String,  # "<source>:<id within the source>", stable across builds
        "request": pl.String,  # the request exactly as its authors published it
        "category": pl.String,  # normalized category (data/taxonomy.toml)
        "category_raw": pl.String,  # the source's own label(s), "|"-joined
        "source": pl.String,
        "source_version": pl.String,
        "license": pl.String,
    }
)

ROW_SCHEMA = pl.Schema(
    {
        "id": pl.String,  # row_id(seed_id, task, template_id)
        "prompt": pl.String,  # the user turn
        "response": pl.String,  # a refusal for harmful rows, a helpful answer for benign ones
        "messages": pl.List(MESSAGE),  # [user prompt, assistant response]
        "task": pl.String,  # one of TASKS
        "label": pl.String,  # one of LABELS
        "action": pl.String,  # one of ACTIONS: what the response does
        "language": pl.String,  # one of LANGUAGES: the language the response is written in
        "subtype": pl.String,  # one of SUBTYPES
        "category": pl.String,  # normalized category; "none" for plain benign task rows
        "category_raw": pl.String,
        "lookalike_type": pl.String,  # XSTest prompt type of a look-alike; "none" otherwise
        "seed_id": pl.String,
        "template_id": pl.String,  # which prompt template produced the row, versioned
        "source": pl.String,
        "source_version": pl.String,
        "license": pl.String,
        "cluster_id": pl.String,  # near-duplicate cluster; rows of one cluster share a split
        "cluster_size": pl.Int32,
    }
)

WORK_SCHEMA = pl.Schema({**ROW_SCHEMA, "split": pl.String})


def row_id(*parts: str) -> str:
    """Stable 16-hex id from the parts that make a row unique."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()
    return digest[:16]


def stable_int(*parts: object) -> int:
    """A 64-bit number fixed by ``parts``, the same in every process and build.

    Template and sample choices use it; Python's ``hash()`` is salted per process."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def row_ids(*columns: str) -> pl.Expr:
    """``row_id`` over columns of a frame, vectorised by polars."""
    return pl.concat_str([pl.col(c) for c in columns], separator="\x1f").map_elements(
        lambda s: hashlib.sha256(s.encode("utf-8")).hexdigest()[:16], return_dtype=pl.String
    )


def messages(prompt: str = "prompt", response: str = "response") -> pl.Expr:
    """The chat form of a row: one user turn, one assistant turn."""
    return pl.concat_list(
        pl.struct(pl.lit("user").alias("role"), pl.col(prompt).alias("content")),
        pl.struct(pl.lit("assistant").alias("role"), pl.col(response).alias("content")),
    )


def conform(df: pl.DataFrame, schema: pl.Schema = ROW_SCHEMA) -> pl.DataFrame:
    """Select and cast to ``schema``; a missing column is a bug in the stage."""
    missing = [name for name in schema if name not in df.columns]
    if missing:
        raise ValueError(f"rows lack columns {missing}")
    return df.select([pl.col(name).cast(dtype) for name, dtype in schema.items()])


def check(df: pl.DataFrame, stage: str, schema: pl.Schema = ROW_SCHEMA) -> pl.DataFrame:
    """Fail loudly when a stage breaks the schema's promises."""
    if df.schema != schema:
        raise ValueError(f"{stage}: schema {dict(df.schema)} differs from {dict(schema)}")
    nulls = [c for c, n in zip(df.columns, df.null_count().row(0)) if n]
    if nulls:
        raise ValueError(f"{stage}: null values in {nulls}")
    if "id" in df.columns and df["id"].n_unique() != df.height:
        raise ValueError(f"{stage}: duplicate ids")
    for column, allowed in (("task", TASKS), ("label", LABELS), ("subtype", SUBTYPES), ("split", SPLITS),
                            ("action", ACTIONS), ("language", LANGUAGES)):
        if column in df.columns:
            bad = set(df[column].unique().to_list()) - set(allowed)
            if bad:
                raise ValueError(f"{stage}: unknown {column} values {sorted(bad)}")
    return df
