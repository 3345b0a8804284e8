"""Responses written by the model, with the template response as the safety net.

Each row's system prompt comes from the recipe: the instruction for the row's
action, a note for its task form and one for its language.  The answer must
pass the check the pipeline hands in (the same as for template responses);
a failing answer is regenerated once, and if that fails too, or the request
fails for any other reason, the row keeps its template response (or is
dropped, if the recipe says so).  The outcome of every row is returned.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from ..benign import LANGUAGES
from ..llm import Client, LLMConfig, Request
from ..respond import TemplateResponder
from .checks import response_problem
from .settings import DEFAULT_ACTION, DEFAULT_LANGUAGE, LLMSettings

RowCheck = Callable[[dict], "str | None"]
LANGUAGE_NAMES = {"en": "English", **LANGUAGES}
OUTCOME_OK, OUTCOME_REGENERATED = "llm", "llm_regenerated"


def with_defaults(rows: pl.DataFrame) -> pl.DataFrame:
    """Rows from before ``action`` and ``language`` existed read as refusals in English;
    rendered rows not yet labelled are harmful requests."""
    added = [] if "label" in rows.columns else [pl.lit("harmful").alias("label")]
    if "action" not in rows.columns:
        added.append(pl.lit(DEFAULT_ACTION).alias("action"))
    if "language" not in rows.columns:
        added.append(pl.lit(DEFAULT_LANGUAGE).alias("language"))
    return rows.with_columns(added) if added else rows


def system_prompt(settings: LLMSettings, action: str, task: str, language: str) -> str:
    parts = [settings.system.get(action) or settings.system["answer"], settings.task_notes.get(task, "")]
    if language and language != DEFAULT_LANGUAGE:
        parts.append(settings.language_note.format(language=LANGUAGE_NAMES.get(language, language)))
    return " ".join(p.strip() for p in parts if p.strip())


def response_requests(rows: pl.DataFrame, settings: LLMSettings) -> list[Request]:
    rows = with_defaults(rows)
    return [
        Request(({"role": "system", "content": system_prompt(settings, action, task, language)},
                 {"role": "user", "content": prompt}),
                settings.version(f"respond/{action}"), {"id": row_id})
        for row_id, prompt, task, action, language in
        rows.select(pl.col("id") if "id" in rows.columns else pl.lit(""), "prompt", "task", "action",
                    "language").iter_rows()
    ]


def llm_responses(rows: pl.DataFrame, config: LLMConfig, settings: LLMSettings, *,
                  check: Callable[[dict, str], str | None] = response_problem,
                  fallback: pl.Series | None = None, client: Client | None = None) -> pl.DataFrame:
    """``response`` and ``outcome`` for every row of ``rows`` (``prompt``, ``task``, ``label``;
    ``action`` and ``language`` when present).  With ``fallback`` (template responses, one
    per row) a row whose model answer failed keeps that; without, its response is null
    and its outcome says why, for the caller to drop it."""
    rows = with_defaults(rows)
    records = rows.select("task", "label", "action", "language").to_dicts()
    requests = response_requests(rows, settings)
    by_key = {r.key(config): record for r, record in zip(requests, records)}
    own = client is None
    client = client or Client(config, desc="llm responses")
    try:
        results = client.run(requests, check=lambda request, text: check(by_key[request.key(config)], text))
    finally:
        if own:
            client.close()
    responses, outcomes = [], []
    for i, result in enumerate(results):
        if result.ok:
            responses.append(result.text)
            outcomes.append(OUTCOME_REGENERATED if result.regenerated else OUTCOME_OK)
        elif fallback is not None:
            responses.append(fallback[i])
            outcomes.append(f"template_fallback/{result.failure}")
        else:
            responses.append(None)
            outcomes.append(f"dropped/{result.failure}")
    return pl.DataFrame({"response": responses, "outcome": outcomes},
                        schema={"response": pl.String, "outcome": pl.String})


class LLMResponder:
    """Model-written responses; the template refusal wherever the model's fails."""

    name = "llm"

    def __init__(self, seed: int, client: Client, settings: LLMSettings,
                 check: Callable[[dict, str], str | None] = response_problem, library=None):
        self.templates = TemplateResponder(seed, library)
        self.client, self.settings, self.check = client, settings, check
        self.outcomes: pl.Series | None = None

    def respond(self, rows: pl.DataFrame) -> pl.Series:
        """One response per row; null where the model failed and the recipe drops such rows
        (``outcomes`` says why)."""
        fallback = self.templates.respond(rows) if self.settings.fallback == "template" else None
        written = llm_responses(rows, self.client.config, self.settings, check=self.check, fallback=fallback,
                                client=self.client)
        self.outcomes = written["outcome"]
        return written["response"]
