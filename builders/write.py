"""The Hub-layout output folder: Parquet per config and split, card, manifest.

Everything is written into a staging folder beside the output folder and
moved into place at the end (``outdir.py``), so a failed build never leaves
half a folder behind and an earlier build stays as it was.  Rows are sorted by
``id`` and Parquet is written with fixed settings, so equal rows give
byte-identical files.
"""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path

import polars as pl

from . import outdir
from .errors import BuildError
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
    try:
        frame.write_parquet(path, compression="zstd", compression_level=9, statistics=True,
                            row_group_size=50_000)
    except pl.exceptions.PolarsError as err:
        # polars reports a failed write (a full disk, say) as its own error with "(os error N)"
        # in the text; turn it back into the OSError it is, so callers handle both alike.
        code = re.search(r"\(os error (\d+)\)", str(err))
        if code is None:
            raise
        raise OSError(int(code.group(1)), os.strerror(int(code.group(1))), str(path)) from err


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
    if rows.height == 0:
        raise BuildError(f"the build has no rows left, so {out} was not written (an earlier build there is "
                         "kept). Check that the sources hold rows, and the audit counts of what was dropped.")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        outdir.clean_stale(out)
        staging = outdir.new_staging(out)
    except OSError as err:
        raise _write_error(err, out) from None
    try:
        manifest = _write_into(staging, rows, card, manifest, dropped)
        outdir.replace(staging, out)
    except OSError as err:
        outdir.discard(staging)
        raise _write_error(err, out) from None
    except BaseException:
        outdir.discard(staging)
        raise
    return manifest


def _write_into(staging: Path, rows: pl.DataFrame, card: str, manifest: dict, dropped: pl.DataFrame | None) -> dict:
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
    return manifest


def _write_error(err: OSError, out: Path) -> BuildError:
    kept = f"an earlier build at {out} is unchanged" if out.exists() else f"nothing was written to {out}"
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = f"Free some space on the disk that holds {out.parent}, or choose another --out."
    else:
        fix = "Choose an --out you can write to."
    return BuildError(f"cannot write the build next to {out} ({err.strerror or err}); {kept}. {fix}")
