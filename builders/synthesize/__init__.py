"""The parts of a build a model may write: responses, benign rows in every task
wrapper, seed translations in the paper's form, and paraphrased prompts.

Each is a function over polars frames that takes an ``LLMConfig`` (or a shared
``Client``) and the recipe's ``[llm]`` settings; ``Synthesizer`` strings them
into the pipeline.  Names load on first use, so that reading a recipe does not
import the ``openai`` package.
"""

import importlib

_WHERE = {
    "LLMResponder": "responses", "llm_responses": "responses",
    "LLMSettings": "settings", "SynthesisOptions": "settings", "parse_llm_settings": "settings",
    "Synthesizer": "stage", "ledger_path": "stage",
    "response_problem": "checks", "task_form_problem": "checks", "identify": "langid",
    "paraphrase": "rewrites", "translate_seeds": "translate", "translated_rows": "translate",
    "wrapped_benign": "wrappers",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
