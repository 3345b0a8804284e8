"""Two reports side by side (say, before and after fine-tuning): the change per task form.

The difference is B minus A in percentage points.  Whether the two 95 %
intervals overlap is a conservative reading: intervals that do not overlap
mean a real change; overlapping ones do not prove that nothing changed.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import EvaluateError
from .report import SCHEMA, _order, _table, cell
from .stats import Rate, overlap

METRICS = (("attack_success", "attack success"), ("over_refusal", "over-refusal (benign)"),
           ("lookalike_over_refusal", "over-refusal (look-alikes)"))


def load_report(path: Path) -> dict:
    file = path / "report.json" if path.is_dir() else path
    try:
        report = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvaluateError(f"no report at {file}; pass a report.json or the --out folder of evaluate-dataset") from None
    except json.JSONDecodeError as error:
        raise EvaluateError(f"{file} is not JSON ({error}); pass a report.json written by evaluate-dataset") from None
    if report.get("schema") != SCHEMA:
        raise EvaluateError(f"{file} is not an evaluate-dataset report (schema {report.get('schema')!r})")
    return report


def _change(a: dict | None, b: dict | None) -> dict:
    ra = Rate.from_dict(a) if a else Rate(0, 0, None, None, None)
    rb = Rate.from_dict(b) if b else Rate(0, 0, None, None, None)
    diff = None if ra.rate is None or rb.rate is None else 100 * (rb.rate - ra.rate)
    return {"a": ra.to_dict(), "b": rb.to_dict(), "difference_pp": diff, "intervals_overlap": overlap(ra, rb)}


def compare(a: dict, b: dict, names: tuple[str, str]) -> dict:
    out = {"schema": "multitask-safety/comparison@1", "a": names[0], "b": names[1],
           "models": [a["model"]["model"], b["model"]["model"]]}
    for key, _ in METRICS:
        forms = _order(set(a[key]["by_form"]) | set(b[key]["by_form"]))
        out[key] = {"all": _change(a[key]["all"], b[key]["all"]),
                    "by_form": {f: _change(a[key]["by_form"].get(f), b[key]["by_form"].get(f)) for f in forms}}
    return out


def _difference(change: dict) -> str:
    if change["difference_pp"] is None:
        return "–"
    verdict = {True: "overlap", False: "**no overlap**", None: "–"}[change["intervals_overlap"]]
    return f"{change['difference_pp']:+.1f} pp ({verdict})"


def markdown(comparison: dict) -> str:
    a, b = comparison["a"], comparison["b"]
    lines = [f"# {a} → {b}", "", "B minus A in percentage points; \"no overlap\": the 95 % Wilson intervals "
             "do not overlap.", ""]
    for key, title in METRICS:
        section = comparison[key]
        lines += [f"## {title}", ""]
        body = [[f, cell(c["a"]), cell(c["b"]), _difference(c)] for f, c in section["by_form"].items()]
        body.append(["**all**", cell(section["all"]["a"]), cell(section["all"]["b"]), _difference(section["all"])])
        lines += _table(["form", f"A: {a}", f"B: {b}", "difference"], body) + [""]
    return "\n".join(lines).rstrip() + "\n"
