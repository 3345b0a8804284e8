"""``Synthesizer``: the model-written parts of one build, behind a few pipeline hooks.

One client serves every part, so the progress bar, the counters and the
failure ledger cover the whole build.  The hooks, in pipeline order:

* ``extend_rendered(rendered, harmful)``: paraphrased prompts and the paper's
  translation form are added to the rendered harmful rows;
* ``respond(rendered)``: model-written responses (``--responses llm``);
* ``extend_benign(ben_rows)``: benign content in every task wrapper;
* ``card_section()``, ``manifest_entry()``, ``finish(out)``: what the card and
  manifest say, and the ledger beside the output folder.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl

from ..errors import RecipeError
from ..llm import Client
from ..respond import get_responder
from .checks import response_problem
from .rewrites import paraphrase
from .settings import SynthesisOptions
from .translate import translate_seeds, translated_rows
from .wrappers import wrapped_benign

PARTS = ("responses", "benign", "translate_seeds", "paraphrase")


def ledger_path(out: Path) -> Path:
    """Beside the output folder, not in it: the folder holds only what is published."""
    out = Path(out)
    return out.with_name(f"{out.name}.llm-failures.jsonl")


class Synthesizer:
    def __init__(self, recipe, options: SynthesisOptions, *, progress: bool = True, check=response_problem):
        if recipe.llm is None:
            raise RecipeError(f"recipe '{recipe.version}' has no [llm] table with system prompts and generation "
                              "settings; add one (data/recipes/v2.toml has an example) to let a model write rows.")
        self.recipe, self.options, self.settings, self.check = recipe, options, recipe.llm, check
        self.client = Client(options.config(self.settings, recipe.seed), progress=progress)
        self.outcomes: dict[str, Counter] = {part: Counter() for part in PARTS}

    # -- hooks -------------------------------------------------------------------------
    def extend_rendered(self, rendered: pl.DataFrame, harmful: pl.DataFrame) -> pl.DataFrame:
        frames = [rendered]
        if self.options.paraphrase > 0:
            self.client.desc = "llm paraphrase"
            new, counts = paraphrase(rendered, self.options.paraphrase, self.client.config, self.settings,
                                     client=self.client)
            self.outcomes["paraphrase"].update(counts)
            frames.append(new.select(rendered.columns))
        if self.options.translate_seeds:
            self.client.desc = "llm translate"
            translations = translate_seeds(harmful, self.options.translate_seeds, self.client.config,
                                           self.settings, client=self.client)
            self.outcomes["translate_seeds"].update(translations["outcome"].to_list())
            frames.append(translated_rows(harmful, translations).select(rendered.columns))
        return pl.concat(frames, how="vertical")

    def respond(self, rendered: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series, pl.DataFrame]:
        """(rows kept, their responses, rows dropped with ``reason``)."""
        self.client.desc = "llm responses"
        responder = get_responder("llm", seed=self.recipe.seed, client=self.client, settings=self.settings,
                                  check=self.check)
        responses = responder.respond(rendered)
        self.outcomes["responses"].update(responder.outcomes.to_list())
        kept = responses.is_not_null()
        dropped = rendered.filter(~kept).with_columns(responder.outcomes.filter(~kept).alias("reason"),
                                                      pl.lit(None, dtype=pl.String).alias("response"))
        return rendered.filter(kept), responses.filter(kept), dropped

    def extend_benign(self, ben_rows: pl.DataFrame) -> pl.DataFrame:
        self.client.desc = "llm benign"
        new, counts = wrapped_benign(ben_rows, self.recipe.forms, self.recipe.seed,
                                     self.recipe.split.heldout_templates, self.client, self.settings, self.check)
        self.outcomes["benign"].update(counts)
        return pl.concat([ben_rows, new.select(ben_rows.columns)], how="vertical")

    # -- reporting ---------------------------------------------------------------------
    def used(self) -> dict[str, dict[str, int]]:
        return {part: dict(sorted(c.items())) for part, c in self.outcomes.items() if c}

    def manifest_entry(self) -> dict:
        """Deterministic for the same recipe and cache: no timings, no request counts, no URL, no key."""
        cfg = self.client.config
        return {"model": cfg.model, "prompt_version": self.settings.sha256[:12], "temperature": cfg.temperature,
                "max_tokens": cfg.max_tokens, "seed": cfg.seed, "outcomes": self.used()}

    def card_section(self) -> str:
        cfg = self.client.config
        lines = ["", "### Model-written parts", "",
                 f"Model `{cfg.model}` (temperature {cfg.temperature:g}, at most {cfg.max_tokens} tokens, seed "
                 f"{cfg.seed}) wrote: " + ", ".join(f"`{part}`" for part in self.used()) + ".", ""]
        for part, counts in self.used().items():
            lines.append(f"- {part}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        lines += ["", *self.settings.card_lines()]
        return "\n".join(lines)

    def report(self, out: Path) -> dict:
        """For the build summary (not the manifest): request counts, failures, the ledger."""
        return {**self.client.stats(), "outcomes": self.used(), "ledger": str(ledger_path(out)),
                "failed_requests": len(self.client.failures())}

    def finish(self, out: Path) -> None:
        self.client.write_ledger(ledger_path(out))
        self.client.close()
