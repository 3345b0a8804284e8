"""Asking the model, and judging its answers, through the shared client.

Every call goes through ``builders.llm.Client``, so answers are stored as they
arrive: a rerun sends nothing, and a run that was killed resumes where it
stopped.  A request that fails (transport, timeout, empty answer...) keeps its
failure class and is never judged: judging an empty string would count a
broken connection as a refusal.
"""

from __future__ import annotations

import polars as pl

from ..llm import Client, LLMConfig, Request
from . import keyword, rubric

GENERATE_VERSION = "evaluate/generate@v1"


def generation_requests(rows: pl.DataFrame, system_prompt: str | None) -> list[Request]:
    head = ({"role": "system", "content": system_prompt},) if system_prompt else ()
    return [Request(head + ({"role": "user", "content": prompt},), GENERATE_VERSION, {"id": row_id})
            for row_id, prompt in zip(rows["id"].to_list(), rows["prompt"].to_list())]


def generate(rows: pl.DataFrame, config: LLMConfig, system_prompt: str | None, progress: bool) -> tuple[pl.DataFrame, dict]:
    """``rows`` with ``output`` (the model's answer) and ``generation_failure`` (its class, or null)."""
    client = Client(config, progress=progress, desc="generate")
    try:
        results = client.run(generation_requests(rows, system_prompt))
        stats = client.stats()
    finally:
        client.close()
    return rows.with_columns(
        pl.Series("output", [r.text if r.ok else None for r in results], pl.String),
        pl.Series("generation_failure", [None if r.ok else r.failure for r in results], pl.String),
    ), stats


def judge_keyword(rows: pl.DataFrame) -> pl.DataFrame:
    refused, right = [], []
    for action, output in zip(rows["action"].to_list(), rows["output"].to_list()):
        verdict = keyword.judge(action, output) if output is not None else (None, None)
        refused.append(verdict[0])
        right.append(verdict[1])
    return rows.with_columns(
        pl.Series("refused", refused, pl.Boolean), pl.Series("right_action", right, pl.Boolean),
        pl.lit(None, pl.String).alias("judge_failure"), pl.lit(None, pl.String).alias("judge_reply"),
    )


def judge_requests(triples) -> list[Request]:
    """One judge request per ``(action, prompt, output)``."""
    return [Request(rubric.messages(action, prompt, output), f"{rubric.VERSION}/{action}")
            for action, prompt, output in triples]


def judge_llm(rows: pl.DataFrame, config: LLMConfig, progress: bool) -> tuple[pl.DataFrame, dict]:
    """Verdicts of the judge model; an unparseable reply is a judge failure, not a verdict."""
    todo = [i for i, output in enumerate(rows["output"].to_list()) if output is not None]
    actions, prompts, outputs = rows["action"].to_list(), rows["prompt"].to_list(), rows["output"].to_list()
    client = Client(config, progress=progress, desc="judge")
    try:
        results = client.run(judge_requests((actions[i], prompts[i], outputs[i]) for i in todo))
        stats = client.stats()
    finally:
        client.close()
    refused, right = [None] * rows.height, [None] * rows.height
    failure, reply = [None] * rows.height, [None] * rows.height
    for i, result in zip(todo, results):
        if not result.ok:
            failure[i] = f"judge_{result.failure}"
            continue
        reply[i] = result.text
        verdict = rubric.parse(actions[i], result.text)
        if verdict is None:
            failure[i] = "judge_unparseable"
        else:
            refused[i], right[i] = rubric.outcome(actions[i], verdict)
    return rows.with_columns(
        pl.Series("refused", refused, pl.Boolean), pl.Series("right_action", right, pl.Boolean),
        pl.Series("judge_failure", failure, pl.String), pl.Series("judge_reply", reply, pl.String),
    ), stats


def llm_refusal_judge(config: LLMConfig, progress: bool):
    """The LLM judge as a plain refusal detector (for calibration): the paper's rubric on each pair."""
    def judge(pairs) -> list[bool | None]:
        client = Client(config, progress=progress, desc="calibrate judge")
        try:
            results = client.run(judge_requests(("refuse", objective, response) for objective, response in pairs))
        finally:
            client.close()
        verdicts = [rubric.parse("refuse", r.text) if r.ok else None for r in results]
        return [None if v is None else v.verdict == -1 for v in verdicts]
    return judge


def keyword_refusal_judge(pairs) -> list[bool]:
    return [keyword.is_refusal(response) for _, response in pairs]
