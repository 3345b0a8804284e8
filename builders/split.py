"""Leak-free splits: whole clusters go to one split, stratified by a key.

A cluster is every row that must stay together: all task forms of one seed
and its near duplicates.  Within each stratum (e.g. a harm category) the
clusters are visited in an order fixed by a hash of their id and the recipe
seed, and each goes to the split furthest below its target share of rows.
The result depends only on the clusters, their sizes and the seed, never on
row order.
"""

from __future__ import annotations

import hashlib

import polars as pl

from .schema import SPLITS


def _order_key(cluster_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}\x1f{cluster_id}".encode("utf-8")).hexdigest()


def assign(units: pl.DataFrame, ratios: dict[str, float], seed: int) -> pl.DataFrame:
    """``units``: one row per cluster with ``cluster_id``, ``stratum`` and
    ``weight`` (rows the cluster will hold).  Returns ``cluster_id``, ``split``."""
    splits = [name for name in SPLITS if ratios.get(name, 0) > 0]
    assigned: list[tuple[str, str]] = []
    for (stratum,), group in units.sort("stratum").group_by(["stratum"], maintain_order=True):
        ordered = sorted(group.iter_rows(named=True), key=lambda u: _order_key(u["cluster_id"], seed))
        total = sum(u["weight"] for u in ordered)
        filled = dict.fromkeys(splits, 0)
        for unit in ordered:
            # The split with the largest shortfall against its target takes the cluster;
            # ties go to the earlier split in SPLITS order.
            target = max(splits, key=lambda s: (ratios[s] * total - filled[s], -splits.index(s)))
            filled[target] += unit["weight"]
            assigned.append((unit["cluster_id"], target))
    return pl.DataFrame(assigned, schema={"cluster_id": pl.String, "split": pl.String}, orient="row")


def straddling_clusters(rows: pl.DataFrame) -> pl.DataFrame:
    """Clusters found in more than one split; the build requires none."""
    return (
        rows.group_by("cluster_id")
        .agg(pl.col("split").n_unique().alias("splits"))
        .filter(pl.col("splits") > 1)
    )
