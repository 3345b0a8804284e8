"""Benign content in every task wrapper, answered by the model.

The project's benign direct questions are rendered through the same task
templates as harmful seeds, so that a wrapper ("translate this", "write a
function that...") never signals harm by itself, and the model answers each
one.  An answer that opens by refusing, or fails the other response checks,
costs the row: these rows widen the benign side and have no template to fall
back on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence

import polars as pl

from ..llm import Client
from ..render import render
from ..schema import SEED_SCHEMA, WORK_SCHEMA, conform, messages, row_ids
from .checks import response_problem
from .responses import llm_responses
from .settings import LLMSettings

ANSWER = "answer"


def benign_seeds(ben_rows: pl.DataFrame) -> pl.DataFrame:
    """The benign direct questions, as seeds that keep their split and cluster."""
    direct = ben_rows.filter((pl.col("task") == "direct") & (pl.col("label") == "benign")
                             & (pl.col("subtype") == "reference"))
    return direct.select(*[pl.col("prompt").alias("request") if c == "request" else pl.col(c) for c in SEED_SCHEMA],
                         "split", "cluster_id", "cluster_size")


def wrapped_benign(ben_rows: pl.DataFrame, forms: Sequence[str], seed: int, heldout: Mapping[str, int] | None,
                   client: Client, settings: LLMSettings,
                   check: Callable[[dict, str], str | None] = response_problem) -> tuple[pl.DataFrame, Counter]:
    """New benign rows (work schema) and the count of outcomes."""
    seeds = benign_seeds(ben_rows)
    wrappers = [f for f in forms if f != "direct"]
    if seeds.is_empty() or not wrappers:
        return pl.DataFrame(schema=WORK_SCHEMA), Counter()
    rendered = render(seeds.drop("cluster_id", "cluster_size"), wrappers, seed, heldout=heldout or None)
    if not heldout:
        rendered = rendered.join(seeds.select("seed_id", "split"), on="seed_id")
    rendered = rendered.join(seeds.select("seed_id", "cluster_id", "cluster_size"), on="seed_id").with_columns(
        pl.lit("benign").alias("label"), pl.lit("reference").alias("subtype"), pl.lit(ANSWER).alias("action"))
    written = llm_responses(rendered, client.config, settings, check=check, client=client)
    outcomes = Counter(written["outcome"].to_list())
    rows = rendered.with_columns(written["response"].alias("response")).filter(pl.col("response").is_not_null())
    rows = rows.with_columns(messages().alias("messages"), row_ids("seed_id", "task", "template_id").alias("id"))
    return conform(rows, WORK_SCHEMA), outcomes
