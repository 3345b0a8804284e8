"""Harmful and benign rows through the same wrappers, in shares a model cannot exploit.

If a template carried only harmful rows, a fine-tuned model could learn to
refuse the template ("anything that says TL;DR") instead of the harm.  Three
figures guard against it, per task form:

* the *wrapper-label AUC*: score every row by the share of harmful rows among
  the rows of its template and ask how well that score predicts the label
  (0.5 = the template tells nothing; 1.0 = it gives the label away);
* the benign share of every template with harmful rows, in every split;
* the ratio of harmful to benign rows.

``trim`` lowers the benign rows of templates where they are abundant (human
translation pairs, say) so that shares stay alike across templates; ``report``
measures the three figures and ``problems`` lists what breaks the recipe's
limits.
"""

from __future__ import annotations

import math

import polars as pl

from .recipe import BalanceConfig
from .schema import stable_int


def trim(rows: pl.DataFrame, cfg: BalanceConfig, seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep at most ``max_benign_per_harmful`` benign rows per harmful row of each
    template; look-alikes and seed rows are kept before reference rows, then a
    stable hash decides.  Returns (kept, trimmed)."""
    if (cfg.max_benign_per_harmful is None and not cfg.max_benign_per_harmful_by_form
            and cfg.max_rows_without_harmful is None) or rows.is_empty():
        return rows, rows.head(0)
    default = cfg.max_benign_per_harmful if cfg.max_benign_per_harmful is not None else float("inf")
    caps = pl.col("task").replace_strict(cfg.max_benign_per_harmful_by_form, default=default,
                                         return_dtype=pl.Float64)
    harmful = rows.filter(pl.col("label") == "harmful").group_by("template_id").len("harmful")
    benign = rows.filter(pl.col("label") == "benign").join(harmful, on="template_id", how="left").with_columns(
        pl.col("harmful").fill_null(0),
        pl.when(pl.col("subtype") == "reference").then(1).otherwise(0).alias("_tier"),
        pl.col("id").map_elements(lambda i: stable_int(seed, "balance", i), return_dtype=pl.UInt64).alias("_rank"),
    ).sort("template_id", "_tier", "_rank")
    benign = benign.with_columns(pl.int_range(pl.len()).over("template_id").alias("_place"))
    cap = (pl.col("harmful") * caps).ceil()
    # A template with no harmful rows has nothing to balance against: it keeps at most
    # ``max_rows_without_harmful`` rows (all of them when the recipe sets no limit).
    alone = cfg.max_rows_without_harmful
    keep = pl.when(pl.col("harmful") == 0).then(pl.col("_place") < alone if alone is not None else pl.lit(True)) \
        .otherwise(pl.col("_place") < cap)
    extra = ["harmful", "_tier", "_rank", "_place"]
    kept = pl.concat([rows.filter(pl.col("label") == "harmful"), benign.filter(keep).drop(extra)])
    return kept.sort("id"), benign.filter(~keep).drop(extra)


def auc(scores: list[float], labels: list[bool]) -> float:
    """Area under the ROC curve of ``scores`` for ``labels`` (ties count half)."""
    positives = sum(labels)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return 1.0
    pairs = sorted(zip(scores, labels))
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        rank_sum += (i + 1 + j) / 2 * sum(1 for k in range(i, j) if pairs[k][1])
        i = j
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def report(rows: pl.DataFrame) -> dict[str, dict]:
    """Per task form: rows by label, harmful:benign ratio, wrapper-label AUC, and the
    lowest benign share of a harmful template in any split (with which one)."""
    out = {}
    for (task,), group in sorted(rows.group_by("task"), key=lambda g: g[0]):
        harmful = group.filter(pl.col("label") == "harmful").height
        benign = group.height - harmful
        share = group.group_by("template_id").agg((pl.col("label") == "harmful").mean().alias("_s"))
        scored = group.join(share, on="template_id")
        per_split = group.group_by("template_id", "split").agg(
            (pl.col("label") == "harmful").sum().alias("h"), (pl.col("label") == "benign").sum().alias("b"),
        ).filter(pl.col("h") > 0).with_columns((pl.col("b") / (pl.col("h") + pl.col("b"))).alias("share"))
        lowest = per_split.sort("share", "template_id", "split").head(1).to_dicts()
        out[task] = {
            "harmful": harmful,
            "benign": benign,
            "ratio": round(harmful / benign, 3) if benign else math.inf,
            "wrapper_auc": round(auc(scored["_s"].to_list(), (scored["label"] == "harmful").to_list()), 3),
            "templates": int(group["template_id"].n_unique()),
            "harmful_templates_without_benign": int(per_split.filter(pl.col("b") == 0)["template_id"].n_unique()),
            "lowest_benign_share": round(lowest[0]["share"], 3) if lowest else None,
            "lowest_share_at": f"{lowest[0]['template_id']} ({lowest[0]['split']})" if lowest else "",
        }
    return out


def problems(figures: dict[str, dict], cfg: BalanceConfig) -> list[str]:
    found = []
    for task, f in figures.items():
        if f["wrapper_auc"] > cfg.max_wrapper_auc:
            found.append(f"{task}: wrapper-label AUC {f['wrapper_auc']} exceeds {cfg.max_wrapper_auc}")
        if f["lowest_benign_share"] is not None and f["lowest_benign_share"] < cfg.min_benign_share:
            found.append(f"{task}: template {f['lowest_share_at']} has a benign share of {f['lowest_benign_share']},"
                         f" below {cfg.min_benign_share}")
        if cfg.max_label_ratio and f["benign"] and f["harmful"]:
            ratio = max(f["harmful"] / f["benign"], f["benign"] / f["harmful"])
            if ratio > cfg.max_label_ratio:
                found.append(f"{task}: {f['harmful']} harmful and {f['benign']} benign rows differ by more than "
                             f"{cfg.max_label_ratio}:1")
    return found
