"""Bar charts of a report (or two) per task form, with the 95 % Wilson interval as whiskers."""

from __future__ import annotations

from pathlib import Path

from ..errors import EvaluateError
from .report import _order

SERIES = (("attack_success", "attack success (harmful)"), ("over_refusal", "over-refusal (benign)"),
          ("lookalike_over_refusal", "over-refusal (look-alikes)"))


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed, none opened
        import matplotlib.pyplot as plt
    except ImportError:
        raise EvaluateError("the PNG chart needs matplotlib: pip install matplotlib") from None
    return plt


def _bars(ax, forms: list[str], per_form: dict, offset: float, width: float, label: str, **style) -> None:
    xs, heights, below, above = [], [], [], []
    for i, form in enumerate(forms):
        data = per_form.get(form)
        if not data or not data["n"]:
            continue
        xs.append(i + offset)
        heights.append(100 * data["rate"])
        below.append(100 * (data["rate"] - data["low"]))
        above.append(100 * (data["high"] - data["rate"]))
    ax.bar(xs, heights, width, yerr=[below, above], capsize=3, label=label, **style)


def draw(groups: list[tuple[str, dict]], path: Path, title: str) -> Path:
    """One bar per (label, per-form rates) group and form; ``groups`` holds up to six series."""
    plt = _pyplot()
    forms = _order({f for _, per_form in groups for f in per_form})
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(forms) + 2), 4.0), dpi=100)
    width = 0.8 / max(len(groups), 1)
    for k, (label, per_form) in enumerate(groups):
        _bars(ax, forms, per_form, (k - (len(groups) - 1) / 2) * width, width, label)
    ax.set_xticks(range(len(forms)), forms)
    ax.set_xlabel("task form")
    ax.set_ylabel("rate (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def report_chart(report: dict, path: Path) -> Path:
    groups = [(label, report[key]["by_form"]) for key, label in SERIES if report[key]["by_form"]]
    return draw(groups, path, f"{report['model']['model']} on {report['dataset']['split']}: rates per task form")


def compare_chart(a: dict, b: dict, names: tuple[str, str], path: Path) -> Path:
    groups = []
    for key, label in SERIES[:2]:
        for name, report in zip(names, (a, b)):
            if report[key]["by_form"]:
                groups.append((f"{label}: {name}", report[key]["by_form"]))
    return draw(groups, path, f"{names[0]} vs {names[1]}: rates per task form")
