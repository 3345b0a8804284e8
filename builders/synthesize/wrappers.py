"""Benign content in every task wrapper, answered by the model.

The pipeline renders the project's benign items through the templates that fit
their kind but that no written answer of theirs can fill (a question with no
written steps, asked to be summarized as steps); the model answers each one.
An answer that opens by refusing, or fails the other response checks, costs
the row: these rows widen the benign side and have no template to fall back on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import polars as pl

from ..llm import Client
from ..schema import WORK_SCHEMA, conform, messages, row_ids
from .checks import response_problem
from .responses import llm_responses
from .settings import LLMSettings


def wrapped_benign(wrapped: pl.DataFrame, client: Client, settings: LLMSettings,
                   check: Callable[[dict, str], str | None] = response_problem) -> tuple[pl.DataFrame, Counter]:
    """The rows of ``wrapped`` the model answered (work schema), and the count of outcomes."""
    if wrapped.is_empty():
        return pl.DataFrame(schema=WORK_SCHEMA), Counter()
    written = llm_responses(wrapped, client.config, settings, check=check, client=client)
    outcomes = Counter(written["outcome"].to_list())
    rows = wrapped.with_columns(written["response"].alias("response")).filter(pl.col("response").is_not_null())
    rows = rows.with_columns(messages().alias("messages"), row_ids("seed_id", "task", "template_id").alias("id"))
    return conform(rows, WORK_SCHEMA), outcomes
