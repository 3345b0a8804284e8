"""Model-written rephrasings of rendered prompts.

Each prompt gets up to N rewrites, one request each (the system prompt numbers
them, so each has its own cache key).  A rewrite must still ask for the same
task form and stay clean; the rows it makes go through the same response,
dedup and split checks as every other row, so a rewrite too close to its
original is removed as a near duplicate there.
"""

from __future__ import annotations

from collections import Counter

import polars as pl

from ..llm import Client, LLMConfig, Request
from .checks import clean_model_text, task_form_problem
from .settings import LLMSettings


def paraphrase_template_id(template_id: str, k: int) -> str:
    return f"{template_id}~paraphrase{k}"


def paraphrase(rows: pl.DataFrame, n: int, config: LLMConfig, settings: LLMSettings, *,
               client: Client | None = None) -> tuple[pl.DataFrame, Counter]:
    """New rows (copies of ``rows`` with the prompt rewritten and ``template_id`` marked)
    for every rewrite that passed, and the count of outcomes."""
    if n <= 0 or rows.is_empty():
        return rows.clear(), Counter()
    prompts, tasks = rows["prompt"].to_list(), rows["task"].to_list()
    jobs = [(i, k) for i in range(rows.height) for k in range(1, n + 1)]
    requests = [Request(({"role": "system", "content": settings.paraphrase.format(k=k, n=n)},
                         {"role": "user", "content": prompts[i]}), settings.version("paraphrase"))
                for i, k in jobs]
    task_of = {r.key(config): (tasks[i], prompts[i]) for r, (i, _) in zip(requests, jobs)}

    def check(request: Request, text: str) -> str | None:
        task, original = task_of[request.key(config)]
        return task_form_problem(task, original, clean_model_text(text))

    own = client is None
    client = client or Client(config, desc="llm paraphrase")
    try:
        results = client.run(requests, check=check)
    finally:
        if own:
            client.close()
    outcomes, picked, texts, ids = Counter(), [], [], []
    template_ids = rows["template_id"].to_list()
    for (i, k), result in zip(jobs, results):
        outcomes["ok" if result.ok else f"dropped/{result.failure}"] += 1
        if result.ok:
            picked.append(i)
            texts.append(clean_model_text(result.text))
            ids.append(paraphrase_template_id(template_ids[i], k))
    new = rows.select(pl.all().gather(pl.Series(picked, dtype=pl.UInt32))).with_columns(pl.Series("prompt", texts, dtype=pl.String),
                                    pl.Series("template_id", ids, dtype=pl.String))
    return new, outcomes
