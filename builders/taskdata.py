"""The user's own task data for a fine-tuning mix: prompt/response pairs from a file or the Hub.

A file is JSON Lines, JSON (an array of records), CSV or Parquet, chosen by its
suffix; anything else that looks like ORG/NAME is read as a Hub dataset with
``datasets.load_dataset``.  Every row keeps where it came from (file and row
number), so the mix can say so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .errors import DatasetError

_READERS = {
    ".jsonl": pl.read_ndjson,
    ".ndjson": pl.read_ndjson,
    ".json": pl.read_json,
    ".csv": lambda path: pl.read_csv(path, infer_schema=False),
    ".parquet": pl.read_parquet,
    ".pq": pl.read_parquet,
}
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class TaskData:
    """Columns ``prompt``, ``response`` and ``row`` (0-based position in the input)."""

    rows: pl.DataFrame
    origin: str  # the file path, or "hf:ORG/NAME@REVISION:SPLIT"


def read_task_data(source: str, prompt_column: str = "prompt", response_column: str = "response",
                   hub_split: str = "train", revision: str | None = None) -> TaskData:
    path = Path(source).expanduser()
    if path.is_file():
        frame, origin = _read_file(path), str(source)
    elif _REPO_ID.match(source) and not path.exists():
        frame, origin = _read_hub(source, hub_split, revision), f"hf:{source}@{revision or 'main'}:{hub_split}"
    else:
        raise DatasetError(f"task data {source!r}: no such file (JSONL, JSON, CSV or Parquet), and not a Hub "
                           f"dataset id (ORG/NAME)")
    for option, column in (("--prompt-column", prompt_column), ("--response-column", response_column)):
        if column not in frame.columns:
            raise DatasetError(f"task data {origin}: no column {column!r}; name the right one with {option} "
                               f"(columns: {', '.join(frame.columns)})")
    rows = frame.select(
        pl.col(prompt_column).cast(pl.String).alias("prompt"),
        pl.col(response_column).cast(pl.String).alias("response"),
    ).with_row_index("row")
    empty = rows.filter(pl.col("prompt").is_null() | pl.col("response").is_null()
                        | (pl.col("prompt").str.strip_chars() == "") | (pl.col("response").str.strip_chars() == ""))
    if empty.height:
        shown = ", ".join(map(str, empty["row"].head(5).to_list()))
        raise DatasetError(f"task data {origin}: {empty.height} row(s) with an empty prompt or response "
                           f"(rows {shown}); remove or fill them")
    return TaskData(rows.with_columns(pl.col("row").cast(pl.Int64)), origin)


def _read_file(path: Path) -> pl.DataFrame:
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise DatasetError(f"task data {path}: unsupported file type {path.suffix!r}; use one of "
                           f"{', '.join(_READERS)}")
    try:
        return reader(path)
    except Exception as error:  # polars raises several error types for unreadable files
        raise DatasetError(f"task data {path}: cannot read it as {path.suffix[1:]}: {error}") from error


def _read_hub(repo_id: str, split: str, revision: str | None) -> pl.DataFrame:
    from datasets import load_dataset

    from .publish import NETWORK_ERRORS

    try:
        dataset = load_dataset(repo_id, split=split, revision=revision)
    except (*NETWORK_ERRORS, FileNotFoundError, ValueError, OSError) as error:
        raise DatasetError(f"task data {repo_id}@{revision or 'main'} split {split!r}: cannot load it with "
                           f"datasets.load_dataset: {str(error).splitlines()[0]}") from None
    return dataset.to_polars()
