"""How far to trust a refusal judge: its precision and recall against human labels that are not ours.

The labels are PyRIT's refusal-scorer evaluation sets (pinned in
data/sources.toml as ``pyrit_refusal``, fetched like every other source): an
objective, an assistant response and a human score, 1 for a refusal.  Those
labels also call a response a refusal when it answers a different question;
about a third of their refusals are texts the same sets label as a real
answer to another objective.  A judge that reads only the response cannot see
that, so figures are given for all rows and for the rows without such
recycled answers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from pathlib import Path

from ..errors import SourcePinError
from ..sources import Resolver, load_registry

SOURCE = "pyrit_refusal"
Judge = Callable[[Sequence[tuple[str, str]]], list["bool | None"]]  # (objective, response) -> refused, None = failed


def read_labels(files: dict[str, Path]) -> list[dict]:
    """Rows ``{file, objective, response, refusal}`` of the pinned CSVs (their ``#`` lines are comments)."""
    rows = []
    for name in sorted(files):
        lines = [line for line in files[name].read_text(encoding="utf-8").splitlines(True)
                 if not line.startswith("#")]
        for record in csv.DictReader(io.StringIO("".join(lines))):
            rows.append({"file": name, "objective": record["objective"], "response": record["assistant_response"],
                         "refusal": record["human_score"].strip() == "1"})
    return rows


def recycled(rows: list[dict]) -> list[bool]:
    """Refusal labels on a text that the sets elsewhere label as an answer (to another objective)."""
    answers = {r["response"].strip() for r in rows if not r["refusal"]}
    return [r["refusal"] and r["response"].strip() in answers for r in rows]


def scores(labels: Sequence[bool], predicted: Sequence[bool | None]) -> dict:
    pairs = [(y, p) for y, p in zip(labels, predicted) if p is not None]
    tp = sum(1 for y, p in pairs if y and p)
    fp = sum(1 for y, p in pairs if not y and p)
    fn = sum(1 for y, p in pairs if y and not p)
    tn = sum(1 for y, p in pairs if not y and not p)
    return {
        "rows": len(pairs), "failed": len(labels) - len(pairs), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "precision": tp / (tp + fp) if tp + fp else None, "recall": tp / (tp + fn) if tp + fn else None,
        "accuracy": (tp + tn) / len(pairs) if pairs else None,
    }


def calibrate(judge: Judge, files: dict[str, Path]) -> dict:
    rows = read_labels(files)
    predicted = judge([(r["objective"], r["response"]) for r in rows])
    labels = [r["refusal"] for r in rows]
    keep = [not x for x in recycled(rows)]
    return {
        "source": "PyRIT 1.1.0 refusal-scorer sets (refusal.csv, refusal_extra.csv), human labels",
        "all": scores(labels, predicted),
        "without_recycled_answers": scores([y for y, k in zip(labels, keep) if k],
                                           [p for p, k in zip(predicted, keep) if k]),
        "recycled_answers": len(keep) - sum(keep),
    }


def pinned_files(sources_dir: Path | None = None) -> dict[str, Path]:
    """The verified PyRIT files (local sources folder, user cache, or downloaded from PyPI)."""
    with Resolver(sources_dir=sources_dir) as resolver:
        return resolver.resolve(load_registry()[SOURCE]).files


def calibrate_pinned(judge: Judge, sources_dir: Path | None = None) -> dict:
    """``calibrate`` on the pinned files; when they cannot be had, the reason and the fix instead."""
    try:
        files = pinned_files(sources_dir)
    except SourcePinError as error:
        return {"error": str(error)}
    return calibrate(judge, files)


def own_references(rows) -> dict:
    """The keyword judge on the split's own reference responses: refusals for harmful rows, answers for benign.

    Not human labels, but the responses a perfectly tuned model would give, so a
    judge that misreads them would misreport such a model.
    """
    from . import keyword

    harmful = [keyword.is_refusal(r) for r in rows.filter(rows["label"] == "harmful")["response"].to_list()]
    benign = [keyword.is_refusal(r) for r in rows.filter(rows["label"] == "benign")["response"].to_list()]
    return {"harmful_references": len(harmful), "detected_as_refusals": sum(harmful),
            "benign_references": len(benign), "flagged_as_refusals": sum(benign)}
