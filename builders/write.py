"""The Hub-layout output folder: Parquet per config and split, card, manifest.

Everything is written into a temporary sibling folder and moved into place at
the end, so a failed build never leaves half a folder behind.  Rows are
sorted by ``id`` and Parquet is written with fixed settings, so equal rows
give byte-identical files.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import polars as pl

from .schema import ROW_SCHEMA, SPLITS, TASKS
from .sources import sha256_file


def config_frames(rows: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Which rows each config holds: all of them, one task form each, benign, upstream."""
    configs = {"default": rows}
    for task in TASKS:
        subset = rows.filter(pl.col("task") == task)
        if subset.height:
            configs[task] = subset
    for name, condition in (("benign", pl.col("label") == "benign"), ("upstream", pl.col("subtype") == "upstream")):
        subset = rows.filter(condition)
        if subset.height:
            configs[name] = subset
    return configs


def shard_path(config: str, split: str) -> str:
    return f"data/{config}/{split}-00000-of-00001.parquet"


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(path, compression="zstd", compression_level=9, statistics=True,
                                   row_group_size=50_000)


def row_counts(rows: pl.DataFrame) -> dict[str, dict[str, int]]:
    counts = {}
    for config, frame in config_frames(rows).items():
        per_split = dict(frame.group_by("split").len().iter_rows())
        counts[config] = {split: int(per_split.get(split, 0)) for split in SPLITS}
    return counts


def write_folder(
    out: Path,
    rows: pl.DataFrame,
    card: str,
    manifest: dict,
    dropped: pl.DataFrame | None = None,
) -> dict:
    """Write the whole folder atomically; returns the manifest as written."""
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        files = {}
        for config, frame in config_frames(rows).items():
            for split in SPLITS:
                part = frame.filter(pl.col("split") == split).select(list(ROW_SCHEMA)).sort("id")
                if part.height:
                    relative = shard_path(config, split)
                    write_parquet(part, staging / relative)
                    files[relative] = sha256_file(staging / relative)
        if dropped is not None:
            write_parquet(dropped, staging / "audit" / "dropped.parquet")
            files["audit/dropped.parquet"] = sha256_file(staging / "audit" / "dropped.parquet")
        # The card has its own hash, apart from the data files: publishing adds the repo id,
        # gating and a changelog to it.
        (staging / "README.md").write_text(card, encoding="utf-8")
        manifest = {**manifest, "rows": row_counts(rows), "files": dict(sorted(files.items())),
                    "card_sha256": sha256_file(staging / "README.md")}
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n",
                                               encoding="utf-8")
        _replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def _replace(staging: Path, out: Path) -> None:
    if out.exists():
        retired = out.with_name(f".{out.name}.old")
        shutil.rmtree(retired, ignore_errors=True)
        out.rename(retired)
        staging.rename(out)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        staging.rename(out)
