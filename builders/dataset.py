"""Read one config and split of a built or published version of this dataset.

The source is a Hub-layout folder (what ``build-dataset`` writes) or a Hub
dataset repo id at a revision (what ``publish-dataset`` pushed).  Either way
the Parquet shards ``data/<config>/<split>-*.parquet`` are read with polars;
for a repo they are first downloaded with ``huggingface_hub``, which knows the
user's endpoint, token and cache.

Rows of older versions lack the columns ``action``, ``language`` and
``lookalike_type``; ``with_defaults`` fills them so that callers see one shape.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from .errors import DatasetError

# What a row asks the model to do; only "refuse" and "support" rows are harmful.
HARMFUL_ACTIONS = ("refuse", "support")
BENIGN_ACTIONS = ("answer", "refute", "perspectives", "cannot_know")
ACTIONS = HARMFUL_ACTIONS + BENIGN_ACTIONS
UNTYPED_LOOKALIKE = "untyped"  # a look-alike from a version without lookalike_type
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


@dataclass(frozen=True)
class Split:
    """Rows of one config and split, and where they came from."""

    rows: pl.DataFrame
    source: str  # the folder or repo id as given
    config: str
    split: str
    version: str | None  # manifest.json "version" when the source has one
    revision: str | None  # the revision asked for (Hub only)
    commit: str | None  # the commit the revision resolved to (Hub only)

    def describe(self) -> dict:
        return {"source": self.source, "config": self.config, "split": self.split, "version": self.version,
                "revision": self.revision, "commit": self.commit, "rows": self.rows.height}


def is_local(source: str) -> bool:
    return Path(source).expanduser().exists()


def load_split(source: str, split: str, config: str = "default", revision: str | None = None) -> Split:
    """One split of ``source`` (folder or Hub repo id), with ``with_defaults`` applied."""
    if is_local(source):
        if revision:
            raise DatasetError(f"--revision {revision} only applies to a Hub repo id; {source} is a local folder")
        root, commit = Path(source).expanduser(), None
    elif _REPO_ID.match(source):
        root, commit = _download(source, config, split, revision)
    else:
        raise DatasetError(f"{source!r} is neither an existing folder nor a Hub repo id (ORG/NAME)")
    shards = sorted((root / "data" / config).glob(f"{split}-*.parquet"))
    if not shards:
        raise DatasetError(_missing_split(root, source, config, split))
    rows = with_defaults(pl.concat([pl.read_parquet(s) for s in shards], how="diagonal_relaxed"))
    return Split(rows, source, config, split, _manifest_version(root), revision, commit)


def _missing_split(root: Path, source: str, config: str, split: str) -> str:
    configs = sorted(p.name for p in (root / "data").glob("*") if p.is_dir())
    if not configs:
        return (f"{source} holds no data/<config>/<split>-*.parquet files; point at a folder written by "
                f"build-dataset (e.g. dist/v2) or a repo written by publish-dataset")
    if config not in configs:
        return f"{source} has no config {config!r}; configs: {', '.join(configs)}"
    splits = sorted({p.name.split("-")[0] for p in (root / "data" / config).glob("*.parquet")})
    return f"{source} config {config!r} has no split {split!r}; splits: {', '.join(splits)}"


def _manifest_version(root: Path) -> str | None:
    path = root / "manifest.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("version")
    except (json.JSONDecodeError, AttributeError):
        return None


def _download(repo_id: str, config: str, split: str, revision: str | None) -> tuple[Path, str]:
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    from .publish import NETWORK_ERRORS

    where = f"{repo_id}@{revision or 'main'}"
    try:
        commit = HfApi().dataset_info(repo_id, revision=revision).sha
        folder = snapshot_download(repo_id, repo_type="dataset", revision=commit,
                                   allow_patterns=[f"data/{config}/{split}-*.parquet", "manifest.json"])
    except RevisionNotFoundError:
        raise DatasetError(f"{repo_id} has no revision {revision!r}; pass a tag such as v2 or a commit") from None
    except GatedRepoError:
        raise DatasetError(f"{repo_id} is gated: accept its terms on the Hub, then set HF_TOKEN or run "
                           f"`hf auth login`") from None
    except RepositoryNotFoundError:
        raise DatasetError(f"no dataset repo {repo_id} (or no access to it); check the id, or set HF_TOKEN "
                           f"for a private repo") from None
    except HfHubHTTPError as error:
        raise DatasetError(f"the Hub refused {where}: {str(error).splitlines()[0]}") from None
    except (*NETWORK_ERRORS, OSError) as error:  # no connection, or offline mode without a cached copy
        raise DatasetError(f"cannot download {where}: {str(error).splitlines()[0]}. Check the network or "
                           f"HF_ENDPOINT, or pass a local folder") from None
    return Path(folder), commit


def with_defaults(rows: pl.DataFrame) -> pl.DataFrame:
    """Fill the columns newer versions carry, so every version reads the same way.

    Without ``action``, harmful rows are to be refused and benign ones answered;
    without ``lookalike_type``, look-alikes are "untyped" and other rows "none";
    without ``language``, it is null (unknown).
    """
    missing = [c for c in ("task", "label", "prompt") if c not in rows.columns]
    if missing:
        raise DatasetError(f"rows lack the column(s) {missing}; is this a multitask-safety dataset?")
    added = []
    if "action" not in rows.columns:
        added.append(pl.when(pl.col("label") == "harmful").then(pl.lit("refuse")).otherwise(pl.lit("answer"))
                     .alias("action"))
    if "lookalike_type" not in rows.columns:
        is_lookalike = pl.col("subtype") == "lookalike" if "subtype" in rows.columns else pl.lit(False)
        added.append(pl.when(is_lookalike).then(pl.lit(UNTYPED_LOOKALIKE)).otherwise(pl.lit("none"))
                     .alias("lookalike_type"))
    if "language" not in rows.columns:
        added.append(pl.lit(None, pl.String).alias("language"))
    for column, default in (("category", "none"), ("subtype", "request"), ("id", None)):
        if column not in rows.columns:
            added.append((pl.lit(default) if default else pl.int_range(pl.len()).cast(pl.String)).alias(column))
    return rows.with_columns(added) if added else rows
