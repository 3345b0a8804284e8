"""What the recipe says about synthesis (``[llm]``) and what the command line adds.

The recipe holds everything that shapes an answer: system prompts per action,
notes per task form, generation settings, the fallback rule and the check
thresholds.  Their hash names the prompt version in every cache key, so a
changed prompt never replays an old answer.  The command line adds only where
to send requests and how fast (model, URL, concurrency, caps, cache), plus
overrides of temperature and token limit, which are part of the key anyway.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import RecipeError

ACTIONS = ("refuse", "support", "refute", "perspectives", "cannot_know", "answer")
FALLBACKS = ("template", "drop")
DEFAULT_ACTION, DEFAULT_LANGUAGE = "refuse", "en"  # rows from before actions and languages existed


@dataclass(frozen=True)
class LLMSettings:
    system: dict[str, str]  # action -> system prompt
    task_notes: dict[str, str]  # task form -> sentence appended to the system prompt
    language_note: str  # "{language}" is replaced by the language's English name
    translate: str  # system prompt that translates a seed into "{language}"
    back_translate: str  # system prompt that translates "{language}" back to English
    paraphrase: str  # system prompt for one rephrasing; "{k}" numbers it
    temperature: float = 0.0
    max_tokens: int = 400
    fallback: str = "template"  # when a model answer fails twice: the template response, or drop the row
    similarity_floor: float = 0.3  # back-translation against the seed, trigram Jaccard
    sha256: str = ""

    def version(self, purpose: str) -> str:
        """A prompt version for the cache key: the purpose and the hash of this table."""
        return f"{purpose}@{self.sha256[:12]}"

    def card_lines(self) -> list[str]:
        lines = [f"- temperature {self.temperature:g}, at most {self.max_tokens} tokens per answer; a failed "
                 f"answer is regenerated once, then {'replaced by the template response' if self.fallback == 'template' else 'dropped'}",
                 f"- prompt version `{self.sha256[:12]}` (sha256 of the recipe's `[llm]` table)", ""]
        for action, prompt in self.system.items():
            lines += [f"System prompt for `{action}`:", "", *_quoted(prompt), ""]
        for task, note in self.task_notes.items():
            lines.append(f"- added for `{task}` prompts: {note}")
        lines += ["", f"- added for the response language: {self.language_note}"]
        for name in ("translate", "back_translate", "paraphrase"):
            lines += ["", f"System prompt `{name}`:", "", *_quoted(getattr(self, name))]
        return lines


def _quoted(text: str) -> list[str]:
    return [f"> {line}" if line else ">" for line in text.strip().splitlines()]


def parse_llm_settings(raw: dict | None, where: Path | str) -> LLMSettings | None:
    """The recipe's ``[llm]`` table, checked; None when the recipe has none."""
    if raw is None:
        return None
    try:
        settings = LLMSettings(
            system={action: str(text) for action, text in raw["system"].items()},
            task_notes={task: str(text) for task, text in raw.get("task_notes", {}).items()},
            language_note=str(raw["language_note"]),
            translate=str(raw["translate"]),
            back_translate=str(raw["back_translate"]),
            paraphrase=str(raw["paraphrase"]),
            temperature=float(raw.get("temperature", 0.0)),
            max_tokens=int(raw.get("max_tokens", 400)),
            fallback=str(raw.get("fallback", "template")),
            similarity_floor=float(raw.get("similarity_floor", 0.3)),
            sha256=hashlib.sha256(json.dumps(raw, sort_keys=True, ensure_ascii=False).encode()).hexdigest(),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RecipeError(f"{where}: [llm] is missing or has an invalid field: {exc}") from None
    unknown = sorted(set(settings.system) - set(ACTIONS))
    if unknown:
        raise RecipeError(f"{where}: [llm.system] names unknown actions {unknown}; known: {list(ACTIONS)}")
    if "refuse" not in settings.system or "answer" not in settings.system:
        raise RecipeError(f"{where}: [llm.system] needs at least 'refuse' and 'answer'")
    if settings.fallback not in FALLBACKS:
        raise RecipeError(f"{where}: [llm] fallback must be one of {list(FALLBACKS)}")
    for name in ("translate", "back_translate"):
        if "{language}" not in getattr(settings, name):
            raise RecipeError(f"{where}: [llm] {name} must contain {{language}}")
    return settings


@dataclass(frozen=True)
class SynthesisOptions:
    """What ``build-dataset`` was asked to have a model write, and how to reach it."""

    responses: str = "template"  # "llm": the model writes harmful rows' responses
    benign: str = "written"  # "llm": benign content through every task wrapper, answered by the model
    translate_seeds: tuple[str, ...] = ()  # languages for the paper's own translation form
    paraphrase: int = 0  # model rephrasings per rendered prompt
    model: str | None = None
    base_url: str | None = None
    concurrency: int = 16
    rpm: int | None = None
    tpm: int | None = None
    temperature: float | None = None  # None: the recipe's
    max_tokens: int | None = None
    cache_path: Path | None = None
    use_cache: bool = True
    retry_failed: bool = False
    batch: bool = False
    extra: dict = field(default_factory=dict)  # further LLMConfig fields (tests: backoff, polling)

    @property
    def active(self) -> bool:
        return self.responses == "llm" or self.benign == "llm" or bool(self.translate_seeds) or self.paraphrase > 0

    def config(self, settings: LLMSettings, seed: int):
        """The client configuration: the recipe's settings, this build's flags and seed."""
        from ..llm import LLMConfig

        if not self.model:
            raise RecipeError("a model writes part of this build: pass --model NAME (and --base-url URL for a "
                              "server other than OpenAI's).")
        base = LLMConfig(
            model=self.model, base_url=self.base_url, concurrency=self.concurrency, rpm=self.rpm, tpm=self.tpm,
            temperature=settings.temperature if self.temperature is None else self.temperature,
            max_tokens=settings.max_tokens if self.max_tokens is None else self.max_tokens,
            seed=seed, cache_path=self.cache_path, use_cache=self.use_cache, retry_failed=self.retry_failed,
            batch=self.batch)
        return replace(base, **self.extra) if self.extra else base
