"""Responses for harmful rows: a refusal that fits the task form.

A responder turns rendered rows into one response per row.  The default,
``TemplateResponder``, assembles each refusal offline from the parts in
``data/templates/refusals.toml``: an opening that declines the task in its own
terms ("I can't translate this."), one sentence naming the reason for the
row's harm category, a redirect to a lawful alternative or, for self-harm, to
support, and sometimes a closing line.  Which parts and which order a row
gets is a stable function of its seed id, its form and the recipe seed.

Responders are looked up by name in ``RESPONDERS``; any class with a ``name``
and a ``respond(rows) -> pl.Series`` method fits the ``Responder`` protocol.
"""

from __future__ import annotations

import functools
import inspect
import re
import string
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import polars as pl

from .errors import RecipeError
from .render import FORMS, load_forms, templates_dir
from .schema import stable_int

NAME = "respond"
REFUSALS_FILE = "refusals.toml"
MIN_WORDS, MAX_WORDS = 25, 90
PARTS = ("opening", "reason", "redirect", "closing")

# Generation artifacts that must never reach a released refusal.
BANNED_PHRASES = ("as an ai", "language model", "system message", "system prompt", "i am an ai")
MODEL_NAMES = re.compile(
    r"\b(chat\s?gpt|gpt(-?\d[\w.]*)?|claude|llama|gemma|gemini|mistral|mixtral|dolphin|qwen|"
    r"phi-?\d|vicuna|falcon|bard|copilot|deepseek|openai|anthropic)\b",
    re.IGNORECASE,
)
# Support resources are named, never numbered: a made-up number could send someone nowhere.
NUMBER = re.compile(r"\d(?:[\s().-]?\d){2,}")


def lint_refusal(text: str | None) -> list[str]:
    """Problems that make ``text`` unfit as a released refusal; [] when fine."""
    if text is None or not text.strip():
        return ["empty refusal"]
    problems = []
    words = len(text.split())
    if not MIN_WORDS <= words <= MAX_WORDS:
        problems.append(f"{words} words; a refusal needs {MIN_WORDS}-{MAX_WORDS}")
    problems += _lint_text(text)
    return problems


def _lint_text(text: str) -> list[str]:
    lowered = text.lower()
    problems = [f"contains the phrase {phrase!r}" for phrase in BANNED_PHRASES if phrase in lowered]
    problems += [f"names a model or vendor ({m.group(0)!r})" for m in MODEL_NAMES.finditer(text)]
    if "{" in text or "}" in text:
        problems.append("contains an unfilled placeholder")
    if NUMBER.search(text):
        problems.append("contains a number that could be taken for a phone number")
    return problems


def _words(text: str) -> int:
    return len(text.split())


@dataclass(frozen=True)
class RefusalLibrary:
    patterns: tuple[str, ...]
    no_closing: frozenset[str]  # categories whose refusals never get a closing line
    openings: dict[str, dict[str, tuple[str, ...]]]  # form -> "any" or template kind -> texts
    reasons: dict[str, tuple[str, ...]]  # category -> one-sentence reasons
    redirects: dict[str, dict[str, tuple[str, ...]]]  # category -> "any" or form -> texts
    closings: dict[str, tuple[str, ...]]  # form -> texts

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self.reasons)

    def parts(self, task: str, kind: str | None, category: str) -> dict[str, tuple[str, ...]]:
        """The pools one row draws from."""
        if task not in self.openings:
            raise RecipeError(f"no refusal openings for task form '{task}'; known forms: {', '.join(self.openings)}")
        if category not in self.reasons:
            raise RecipeError(
                f"no refusal reasons for category '{category}'; known categories: {', '.join(self.categories)}"
            )
        openings = self.openings[task]
        redirects = self.redirects[category]
        for_kind = openings.get(kind, ()) if kind and kind != "any" else ()
        return {
            "opening": openings["any"] + for_kind,
            "reason": self.reasons[category],
            "redirect": redirects["any"] + redirects.get(task, ()),
            "closing": () if category in self.no_closing else self.closings[task],
        }

    def usable_patterns(self, category: str) -> tuple[str, ...]:
        if category in self.no_closing:
            return tuple(p for p in self.patterns if "closing" not in _fields(p))
        return self.patterns

    def assemble(self, task: str, kind: str | None, category: str, seed: int, seed_id: str) -> str:
        pools = self.parts(task, kind, category)
        pattern = _pick(self.usable_patterns(category), seed, task, seed_id, "pattern")
        chosen = {part: _pick(pools[part], seed, task, seed_id, part) if pools[part] else "" for part in PARTS}
        return pattern.format(**chosen)


def _pick(pool: tuple[str, ...], *key: object) -> str:
    return pool[stable_int(*key) % len(pool)]


def _fields(pattern: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None}


def load_refusals(library: str | Path | None = None) -> RefusalLibrary:
    """The refusal parts in a templates folder, checked; template kinds come
    from the prompt templates beside them."""
    path = templates_dir(library) / REFUSALS_FILE
    if not path.is_file():
        raise RecipeError(f"no refusal templates at {path}")
    kinds = {form.name: {t.kind for t in form.templates} for form in load_forms(library).values()}
    frozen_kinds = tuple(sorted((form, tuple(sorted(k))) for form, k in kinds.items()))
    return _load_refusals(path, path.stat().st_mtime_ns, frozen_kinds)


@functools.lru_cache(maxsize=8)
def _load_refusals(path: Path, _mtime: int, kinds: tuple[tuple[str, tuple[str, ...]], ...]) -> RefusalLibrary:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: {exc}") from None
    try:
        library = RefusalLibrary(
            patterns=tuple(raw["structure"]["patterns"]),
            no_closing=frozenset(raw["structure"].get("no_closing", ())),
            openings={form: _pools(table) for form, table in raw["openings"].items()},
            reasons={category: _texts(texts) for category, texts in raw["reasons"].items()},
            redirects={category: _pools(table) for category, table in raw["redirects"].items()},
            closings={form: _texts(texts) for form, texts in raw["closings"].items()},
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise RecipeError(f"{path}: missing or malformed section: {exc!s}") from None
    _validate(library, dict(kinds), path)
    return library


def _pools(table: dict) -> dict[str, tuple[str, ...]]:
    return {key: _texts(texts) for key, texts in table.items()}


def _texts(texts: object) -> tuple[str, ...]:
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise TypeError(f"expected a list of strings, got {texts!r}")
    return tuple(texts)


def _validate(library: RefusalLibrary, kinds: dict[str, tuple[str, ...]], path: Path) -> None:
    def fail(message: str) -> None:
        raise RecipeError(f"{path}: {message}")

    if not library.patterns:
        fail("[structure] patterns is empty")
    for pattern in library.patterns:
        fields = _fields(pattern)
        if not {"opening", "reason", "redirect"} <= fields <= set(PARTS):
            fail(f"pattern {pattern!r} must use {{opening}}, {{reason}} and {{redirect}}, and may add {{closing}}")
    for section, keys in (("openings", library.openings), ("closings", library.closings)):
        if set(keys) != set(FORMS):
            fail(f"[{section}] covers forms {sorted(keys)}; expected {sorted(FORMS)}")
    if set(library.redirects) != set(library.reasons):
        fail(f"[redirects] covers {sorted(library.redirects)} but [reasons] covers {sorted(library.reasons)}")
    if not library.no_closing <= set(library.reasons):
        fail(f"no_closing names unknown categories {sorted(library.no_closing - set(library.reasons))}")
    for category in library.reasons:
        if not library.usable_patterns(category):
            fail(f"no pattern without {{closing}} is left for category '{category}'")
    for form, table in library.openings.items():
        extra = set(table) - {"any", *kinds.get(form, ())}
        if extra:
            fail(f"[openings.{form}] names {sorted(extra)}, which are not template kinds of that form")
    for category, table in library.redirects.items():
        extra = set(table) - {"any", *FORMS}
        if extra:
            fail(f"[redirects.{category}] names {sorted(extra)}, which are not task forms")

    texts = [
        *(t for table in library.openings.values() for pool in table.values() for t in pool),
        *(t for pool in library.reasons.values() for t in pool),
        *(t for table in library.redirects.values() for pool in table.values() for t in pool),
        *(t for pool in library.closings.values() for t in pool),
    ]
    for text in texts:
        problems = ["empty"] if not text.strip() else _lint_text(text)
        if problems:
            fail(f"{text!r}: {'; '.join(problems)}")
    _check_lengths(library, kinds, fail)


def _check_lengths(library: RefusalLibrary, kinds: dict[str, tuple[str, ...]], fail: Callable[[str], None]) -> None:
    """Every combination must land in MIN_WORDS..MAX_WORDS; checking the
    shortest and longest choice of each part covers them all."""
    for form in FORMS:
        for kind in ("any", *kinds.get(form, ())):
            for category in library.reasons:
                pools = library.parts(form, kind, category)
                for part, pool in pools.items():
                    if not pool and part != "closing":
                        fail(f"no {part} texts for form '{form}', category '{category}'")
                for pattern in library.usable_patterns(category):
                    used = [part for part in PARTS if part in _fields(pattern)]
                    fixed = _words(pattern.format(**dict.fromkeys(used, "")))
                    low = fixed + sum(min(map(_words, pools[p]), default=0) for p in used)
                    high = fixed + sum(max(map(_words, pools[p]), default=0) for p in used)
                    if low < MIN_WORDS or high > MAX_WORDS:
                        fail(
                            f"refusals for form '{form}' ({kind}), category '{category}' with pattern {pattern!r} "
                            f"run {low}-{high} words; they must stay within {MIN_WORDS}-{MAX_WORDS}"
                        )


@runtime_checkable
class Responder(Protocol):
    name: str

    def respond(self, rows: pl.DataFrame) -> pl.Series:
        """One response per row of ``rows``, in the same order (String)."""
        ...


class TemplateResponder:
    """Refusals assembled offline from the template library."""

    name = "template"
    columns = ("seed_id", "task", "category", "template_id")

    def __init__(self, seed: int, library: str | Path | None = None):
        self.seed = int(seed)
        self.library = load_refusals(library)
        # A template id this library does not know (rows rendered from other
        # templates) gets the form's general openings, which fit any prompt.
        self.kinds = {t.id: t.kind for form in load_forms(library).values() for t in form.templates}

    def respond(self, rows: pl.DataFrame) -> pl.Series:
        missing = [c for c in self.columns if c not in rows.columns]
        if missing:
            raise ValueError(f"rows lack columns {missing}")
        nulls = [c for c in self.columns if rows[c].null_count()]
        if nulls:
            raise ValueError(f"rows have null values in {nulls}")
        responses = [
            self.library.assemble(task, self.kinds.get(template_id), category, self.seed, seed_id)
            for seed_id, task, category, template_id in rows.select(self.columns).iter_rows()
        ]
        return pl.Series("response", responses, dtype=pl.String)


def _llm_responder(seed: int, client, settings, check=None, library: str | Path | None = None) -> Responder:
    """Responses written by a model through any OpenAI-compatible server (``builders.synthesize``)."""
    from .synthesize.responses import LLMResponder

    return LLMResponder(seed, client, settings, **({"check": check} if check else {}), library=library)


# name -> factory
RESPONDERS: dict[str, Callable[..., Responder]] = {
    "template": TemplateResponder,
    "llm": _llm_responder,
}


def get_responder(kind: str, **options) -> Responder:
    """The responder a recipe names, built with its options."""
    factory = RESPONDERS.get(kind)
    if factory is None:
        raise RecipeError(f"unknown responder '{kind}'; known responders: {', '.join(sorted(RESPONDERS))}")
    try:
        inspect.signature(factory).bind(**options)
    except TypeError as exc:
        raise RecipeError(f"responder '{kind}': {exc}") from None
    return factory(**options)
