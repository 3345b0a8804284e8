"""``evaluate-dataset``: attack success and over-refusal per task form, category and both.

``evaluate`` sends every prompt of a split to the model, judges the answers
(keyword or LLM judge), and writes into ``out``: ``report.json`` (rates,
counts and intervals), ``report.md``, ``report.png`` and ``responses.parquet``
(every row with the model's answer, the verdict or the failure class).
``compare_reports`` writes the same three files for two reports side by side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path


from ..dataset import load_split
from ..errors import EvaluateError
from ..llm import LLMConfig
from . import calibration, chart, compare, keyword, report, rubric, run

JUDGES = ("keyword", "llm")
# The paper's generation settings: temperature 0.1, at most 100 new tokens.
TEMPERATURE = 0.1
MAX_TOKENS = 100
JUDGE_TEMPERATURE = 0.1
JUDGE_MAX_TOKENS = 512


@dataclass
class Evaluation:
    report: dict
    files: dict[str, str]


def _write_json(data: dict, path: Path) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, ensure_ascii=False) + "\n", encoding="utf-8")


def evaluate(source: str, out: Path, model: LLMConfig, *, split: str = "test", config: str = "default",
             revision: str | None = None, system_prompt: str | None = None, judge: str = "keyword",
             judge_model: LLMConfig | None = None, calibrate: bool = True, sources_dir: Path | None = None,
             progress: bool = True) -> Evaluation:
    if judge not in JUDGES:
        raise EvaluateError(f"unknown judge {judge!r}; use one of {', '.join(JUDGES)}")
    if judge == "llm" and judge_model is None:
        raise EvaluateError("--judge llm needs --judge-model NAME (and --judge-base-url if it is served elsewhere)")
    data = load_split(source, split, config=config, revision=revision)
    if data.rows.height == 0:
        raise EvaluateError(f"{source} {config}/{split} has no rows to evaluate")
    rows = data.rows.select("id", "prompt", "response", "task", "label", "action", "category", "subtype",
                            "lookalike_type", "language").sort("id")
    answered, generation_stats = run.generate(rows, model, system_prompt, progress)
    if judge == "keyword":
        judged, judge_stats = run.judge_keyword(answered), None
        judge_info = {"name": keyword.NAME, "version": keyword.VERSION}
    else:
        judged, judge_stats = run.judge_llm(answered, judge_model, progress)
        judge_info = {"name": "llm", "model": judge_model.model, "base_url": judge_model.resolved_base_url(),
                      "rubric": rubric.VERSION, "temperature": judge_model.temperature}
    calibration_data = {"own_references": calibration.own_references(rows)} if judge == "keyword" else {}
    if calibrate:
        detector = run.keyword_refusal_judge if judge == "keyword" else run.llm_refusal_judge(judge_model, progress)
        calibration_data["pyrit"] = calibration.calibrate_pinned(detector, sources_dir)
    meta = {
        "model": {"model": model.model, "base_url": model.resolved_base_url()},
        "dataset": data.describe(),
        "generation": {"temperature": model.temperature, "max_tokens": model.max_tokens, "seed": model.seed,
                       "system_prompt": system_prompt},
        "judge": judge_info,
        "calibration": calibration_data,
        "client": {"generate": generation_stats, **({"judge": judge_stats} if judge_stats else {})},
    }
    result = report.build_report(judged, meta)
    out.mkdir(parents=True, exist_ok=True)
    files = {name: str(out / name) for name in ("report.json", "report.md", "report.png", "responses.parquet")}
    _write_json(result, out / "report.json")
    (out / "report.md").write_text(report.markdown(result), encoding="utf-8")
    chart.report_chart(result, out / "report.png")
    judged.rename({"response": "reference", "output": "response"}).write_parquet(out / "responses.parquet")
    return Evaluation(result, files)


def compare_reports(a: Path, b: Path, out: Path) -> Evaluation:
    first, second = compare.load_report(a), compare.load_report(b)
    names = (_name(a), _name(b))
    if names[0] == names[1]:
        names = (f"A ({names[0]})", f"B ({names[1]})")
    result = compare.compare(first, second, names)
    out.mkdir(parents=True, exist_ok=True)
    _write_json(result, out / "compare.json")
    (out / "compare.md").write_text(compare.markdown(result), encoding="utf-8")
    chart.compare_chart(first, second, names, out / "compare.png")
    return Evaluation(result, {n: str(out / n) for n in ("compare.json", "compare.md", "compare.png")})


def _name(path: Path) -> str:
    return (path if path.is_dir() else path.parent).name or str(path)


def model_config(model: str, base_url: str | None, **settings) -> LLMConfig:
    """The generation config: the paper's settings unless overridden."""
    settings = {"temperature": TEMPERATURE, "max_tokens": MAX_TOKENS, **settings}
    return LLMConfig(model=model, base_url=base_url, **settings)


def judge_config(model: LLMConfig, judge_model: str | None, judge_base_url: str | None) -> LLMConfig | None:
    """The judge config: same store and limits as the model, its own name, address and sampling."""
    if judge_model is None:
        return None
    return replace(model, model=judge_model, base_url=judge_base_url or model.base_url,
                   temperature=JUDGE_TEMPERATURE, max_tokens=JUDGE_MAX_TOKENS, seed=None)


__all__ = ["Evaluation", "compare_reports", "evaluate", "judge_config", "model_config"]
