"""Harmful and benign rows share the wrappers: trimming, the wrapper-label AUC and the limits."""

import polars as pl
import pytest

from builders import balance
from builders.recipe import BalanceConfig


def rows(spec: dict[str, tuple[int, int]], split: str = "train", task: str = "direct") -> pl.DataFrame:
    """spec: template -> (harmful rows, benign rows)."""
    records = []
    for template, (harmful, benign) in spec.items():
        for n in range(harmful):
            records.append({"id": f"{template}-h{n}", "template_id": template, "label": "harmful",
                            "subtype": "request", "task": task, "split": split})
        for n in range(benign):
            records.append({"id": f"{template}-b{n}", "template_id": template, "label": "benign",
                            "subtype": "reference" if n % 2 else "lookalike", "task": task, "split": split})
    return pl.DataFrame(records)


def test_auc_is_half_when_templates_tell_nothing_and_one_when_they_give_it_away():
    assert balance.auc([0.5] * 10, [True] * 5 + [False] * 5) == 0.5
    assert balance.auc([1.0] * 5 + [0.0] * 5, [True] * 5 + [False] * 5) == 1.0
    assert balance.auc([0.8, 0.2, 0.8, 0.2], [True, True, False, False]) == 0.5


def test_report_measures_shares_ratio_and_auc():
    even = balance.report(rows({"a": (6, 4), "b": (6, 4)}))["direct"]
    assert even["wrapper_auc"] == 0.5 and even["ratio"] == 1.5 and even["lowest_benign_share"] == 0.4
    skewed = balance.report(rows({"a": (10, 0), "b": (0, 10)}))["direct"]
    assert skewed["wrapper_auc"] == 1.0 and skewed["harmful_templates_without_benign"] == 1


def test_problems_name_what_breaks_the_limits():
    cfg = BalanceConfig(min_benign_share=0.15, max_wrapper_auc=0.65, max_label_ratio=3.0)
    assert balance.problems(balance.report(rows({"a": (6, 4), "b": (6, 4)})), cfg) == []
    found = balance.problems(balance.report(rows({"a": (40, 0), "b": (1, 5)})), cfg)
    assert any("wrapper-label AUC" in p for p in found)
    assert any("benign share of 0.0" in p and "a (train)" in p for p in found)
    assert any("differ by more than 3.0:1" in p for p in found)


def test_trim_caps_benign_rows_per_template_keeping_lookalikes_first():
    frame = rows({"a": (10, 30), "b": (10, 4)})
    kept, trimmed = balance.trim(frame, BalanceConfig(max_benign_per_harmful=0.8), seed=1)
    per = dict(kept.filter(pl.col("label") == "benign").group_by("template_id").len().iter_rows())
    assert per == {"a": 8, "b": 4}
    assert trimmed.height == 22 and set(trimmed["template_id"]) == {"a"}
    assert set(kept.filter((pl.col("template_id") == "a") & (pl.col("label") == "benign"))["subtype"]) == {"lookalike"}
    again, _ = balance.trim(frame.sample(fraction=1.0, shuffle=True, seed=3), BalanceConfig(max_benign_per_harmful=0.8),
                            seed=1)
    assert again.equals(kept)
    untouched, none = balance.trim(frame, BalanceConfig(), seed=1)
    assert untouched.height == frame.height and none.is_empty()


@pytest.mark.parametrize("split", ["validation", "test"])
def test_a_template_without_benign_rows_in_one_split_is_found(split):
    frame = pl.concat([rows({"a": (6, 4)}), rows({"a": (3, 0)}, split=split)])
    figures = balance.report(frame)["direct"]
    assert figures["lowest_benign_share"] == 0.0 and figures["lowest_share_at"] == f"a ({split})"
