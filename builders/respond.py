"""Responses: a refusal that names what it declines, in the user's language,
or the answer a benign row deserves.

Harmful rows whose action is ``refuse`` get a refusal assembled offline from
``data/templates/refusals/<language>.toml``: an opening that declines the task
in its own terms ("I can't translate this."), one sentence saying why, keyed
by the seed's sub-category and naming its *gist* ("a keylogger that secretly
records someone's typing"), a redirect to something lawful and useful (support
for self-harm; only a pointer to reporting for sexual content involving
minors), and sometimes a closing line.  The refusal is written in the language
of the prompt's instruction; other languages' reasons name the kind of harm
instead of the gist.  Which parts a row gets is a stable function of its seed
id, its form and the recipe seed.

Every other row — support for a user at risk, a correction, perspectives, "I
cannot know that", or a benign item's answer — gets the text written for it,
laid out by the template's composer (``compose.py``).

Responders are looked up by name in ``RESPONDERS``; any class with a ``name``
and a ``respond(rows) -> pl.Series`` method fits the ``Responder`` protocol.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import string
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

import polars as pl

from .compose import compose
from .language import UNSPACED
from .errors import RecipeError
from .render import Template, template_for, templates_dir
from .schema import stable_int

NAME = "respond"
REFUSALS_DIR = "refusals"
MIN_WORDS, MAX_WORDS = 25, 90
MIN_CHARS_UNSPACED, MAX_CHARS_UNSPACED = 40, 260  # Japanese and Chinese have no word spaces
PARTS = ("opening", "reason", "redirect", "closing")
OPENING_KINDS = ("ask", "steps", "post", "translate", "translate_then_do", "choose", "label", "write", "fix")
GIST = "{gist}"
GIST_SHARE = 6  # of 7 rows with a gist name it in the reason; the rest vary the wording

# Generation artifacts that must never reach a released refusal.
BANNED_PHRASES = ("as an ai", "language model", "system message", "system prompt", "i am an ai")
MODEL_NAMES = re.compile(
    r"\b(chat\s?gpt|gpt(-?\d[\w.]*)?|claude|llama|gemma|gemini|mistral|mixtral|dolphin|qwen|"
    r"phi-?\d|vicuna|falcon|bard|copilot|deepseek|openai|anthropic)\b",
    re.IGNORECASE,
)
# Support resources are named, never numbered: a made-up number could send someone nowhere.
# The parts refusals are built from hold no number at all; a written reply may
# speak of "500 calories", but never of anything to call, text or dial.
NUMBER = re.compile(r"\d(?:[\s().-]?\d){2,}")
PHONE = re.compile(r"\d(?:[\s().-]?\d){4,}|\b(?:call|text|dial|phone|ring|hotline|line|number)\W+(?:\w+\W+){0,3}\d{2,}",
                   re.IGNORECASE)
# Words that speak of options; a refusal may use them only where the prompt shows options.
OPTION_WORDS = re.compile(r"\b(these|the|any|an|one|those|listed) (options?|choices?|answers)\b|"
                          r"\bchoose (among|between|from|one|an?)\b|\bpick (an?|one|any)\b|\bnone of these\b",
                          re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s*")


def _length_problem(text: str, language: str) -> str | None:
    if language in UNSPACED:
        chars = len(re.sub(r"\s", "", text))
        if not MIN_CHARS_UNSPACED <= chars <= MAX_CHARS_UNSPACED:
            return f"{chars} characters; a refusal needs {MIN_CHARS_UNSPACED}-{MAX_CHARS_UNSPACED}"
        return None
    words = len(text.split())
    if not MIN_WORDS <= words <= MAX_WORDS:
        return f"{words} words; a refusal needs {MIN_WORDS}-{MAX_WORDS}"
    return None


def lint_refusal(text: str | None, language: str = "en", has_options: bool = True, gist: str = "") -> list[str]:
    """Problems that make ``text`` unfit as a released refusal; [] when fine.
    ``gist`` (what the request asked for) may itself speak of choices."""
    if text is None or not text.strip():
        return ["empty refusal"]
    problems = [p for p in (_length_problem(text, language),) if p]
    problems += _lint_text(text)
    sentences = [s.strip().lower() for s in _SENTENCE.split(text) if s.strip()]
    repeated = sorted({s for s in sentences if sentences.count(s) > 1})
    if repeated:
        problems.append(f"repeats the sentence {repeated[0]!r}")
    if not has_options and language == "en" and OPTION_WORDS.search(text.replace(gist, "") if gist else text):
        problems.append("speaks of options the prompt does not show")
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


def _fields(pattern: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(pattern) if name}


def _pick(pool: tuple[str, ...], *key: object) -> str:
    return pool[stable_int(*key) % len(pool)]


@dataclass(frozen=True)
class RefusalLibrary:
    """The parts of refusals in one language."""

    language: str
    patterns: tuple[str, ...]
    no_closing: frozenset[str]  # categories or sub-categories whose refusals never get a closing line
    openings: dict[str, tuple[str, ...]]  # template kind -> texts
    reasons: dict[str, tuple[str, ...]]  # sub-category -> one-sentence reasons
    redirects: dict[str, tuple[str, ...]]  # sub-category -> texts
    closings: tuple[str, ...]

    def assemble(self, *, kind: str, category: str, subcategory: str, gist: str, seed: int, task: str,
                 seed_id: str) -> str:
        key = (seed, task, seed_id)
        if kind not in self.openings:
            raise RecipeError(f"{self.language}: no refusal openings for prompt kind '{kind}'")
        if subcategory not in self.reasons:
            raise RecipeError(f"{self.language}: no refusal reasons for sub-category '{subcategory}'")
        closing = not ({category, subcategory} & self.no_closing)
        patterns = self.patterns if closing else tuple(p for p in self.patterns if "closing" not in _fields(p))
        with_gist = tuple(r for r in self.reasons[subcategory] if GIST in r)
        plain = tuple(r for r in self.reasons[subcategory] if GIST not in r)
        named = bool(gist) and with_gist and (not plain or stable_int(*key, "gist") % 7 < GIST_SHARE)
        reason = _pick(with_gist if named else plain or with_gist, *key, "reason")
        if GIST in reason:  # a seed without a gist: the reason speaks of "this request"
            reason = reason.replace(GIST, gist if named else "this request")
        chosen = {
            "opening": _pick(self.openings[kind], *key, "opening"),
            "reason": reason,
            "redirect": _pick(self.redirects[subcategory], *key, "redirect"),
            "closing": _pick(self.closings, *key, "closing") if self.closings else "",
        }
        text = _pick(patterns, *key, "pattern").format(**chosen)
        return text.replace(" 。", "。").strip()


def library_dir(library: str | Path | None = None) -> Path:
    return templates_dir(library) / REFUSALS_DIR


def load_refusals(language: str = "en", library: str | Path | None = None) -> RefusalLibrary:
    path = library_dir(library) / f"{language}.toml"
    if not path.is_file():
        raise RecipeError(f"no refusal templates for language '{language}' at {path}")
    return _load_refusals(path, path.stat().st_mtime_ns)


def refusal_languages(library: str | Path | None = None) -> list[str]:
    return sorted(p.stem for p in library_dir(library).glob("*.toml"))


@functools.lru_cache(maxsize=16)
def _load_refusals(path: Path, _mtime: int) -> RefusalLibrary:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        library = RefusalLibrary(
            language=raw["language"],
            patterns=tuple(raw["structure"]["patterns"]),
            no_closing=frozenset(raw["structure"].get("no_closing", ())),
            openings={kind: _texts(texts) for kind, texts in raw["openings"].items()},
            reasons={sub: _texts(texts) for sub, texts in raw["reasons"].items()},
            redirects={sub: _texts(texts) for sub, texts in raw["redirects"].items()},
            closings=_texts(raw["closings"].get("any", [])),
        )
    except tomllib.TOMLDecodeError as exc:
        raise RecipeError(f"{path}: {exc}") from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise RecipeError(f"{path}: missing or malformed section: {exc!s}") from None
    _validate(library, path)
    return library


def _texts(texts: object) -> tuple[str, ...]:
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise TypeError(f"expected a list of strings, got {texts!r}")
    return tuple(t.strip() for t in texts)


def _validate(library: RefusalLibrary, path: Path) -> None:
    def fail(message: str) -> None:
        raise RecipeError(f"{path}: {message}")

    if library.language != path.stem:
        fail(f"language {library.language!r} differs from the file name")
    if not library.patterns:
        fail("[structure] patterns is empty")
    for pattern in library.patterns:
        if not {"opening", "reason", "redirect"} <= _fields(pattern) <= set(PARTS):
            fail(f"pattern {pattern!r} must use {{opening}}, {{reason}} and {{redirect}}, and may add {{closing}}")
    missing = sorted(set(OPENING_KINDS) - set(library.openings))
    if missing:
        fail(f"[openings] lacks kinds {missing}")
    if set(library.redirects) != set(library.reasons):
        fail(f"[redirects] covers {sorted(library.redirects)} but [reasons] covers {sorted(library.reasons)}")
    for name, pool in [*library.openings.items(), *library.reasons.items(), *library.redirects.items()]:
        if not pool:
            fail(f"no texts for '{name}'")
    for text in [*(t for p in library.openings.values() for t in p), *(t for p in library.redirects.values()
                                                                        for t in p), *library.closings]:
        if problems := _lint_text(text):
            fail(f"{text!r}: {'; '.join(problems)}")
    for sub, pool in library.reasons.items():
        for text in pool:
            if text.count(GIST) > 1 or _lint_text(text.replace(GIST, "x")):
                fail(f"reason for {sub} {text!r}: {'; '.join(_lint_text(text.replace(GIST, 'x')))} "
                     "(at most one {gist})")


@runtime_checkable
class Responder(Protocol):
    name: str

    def respond(self, rows: pl.DataFrame) -> pl.Series:
        """One response per row of ``rows``, in the same order (String)."""
        ...


class TemplateResponder:
    """Refusals assembled offline; every other row gets its written answer."""

    name = "template"
    columns = ("seed_id", "task", "category", "subcategory", "template_id", "action", "gist", "fields")

    def __init__(self, seed: int, library: str | Path | None = None):
        self.seed = int(seed)
        self.library = library

    def refusals(self, language: str) -> RefusalLibrary:
        return load_refusals(language, self.library)

    def respond(self, rows: pl.DataFrame) -> pl.Series:
        missing = [c for c in self.columns if c not in rows.columns]
        if missing:
            raise ValueError(f"rows lack columns {missing}")
        nulls = [c for c in self.columns if rows[c].null_count()]
        if nulls:
            raise ValueError(f"rows have null values in {nulls}")
        return pl.Series("response", [self.one(row) for row in rows.select(self.columns).iter_rows(named=True)],
                         dtype=pl.String)

    def one(self, row: dict) -> str:
        try:
            template = template_for(row["template_id"], self.library)
        except RecipeError as exc:
            raise RecipeError(f"row {row['seed_id']}: {exc}") from None
        if row["action"] == "refuse":
            return self.refusals(template.language).assemble(
                kind=template.kind, category=row["category"], subcategory=row["subcategory"], gist=row["gist"],
                seed=self.seed, task=row["task"], seed_id=row["seed_id"])
        text = compose(json.loads(row["fields"]), template)
        if text is None:
            raise RecipeError(f"row {row['seed_id']}: template {template.id} cannot lay out its answer")
        return text


def lint_row(response: str, template: Template, action: str, language: str, gist: str = "") -> list[str]:
    """The checks a released response must pass: refusals the full lint; support
    never a number; every written reply free of generation artifacts."""
    if action == "refuse":
        return lint_refusal(response, language, has_options=bool(template.options), gist=gist)
    if not response.strip():
        return ["empty response"]
    if action == "support":
        return (["contains a number to call or text"] if PHONE.search(response) else []) + [
            p for p in _lint_text(response) if "phone number" not in p]
    if template.form == "code":  # code legitimately holds braces and digits
        return []
    # Benign answers may well mention a falcon or the Gemini constellation: only artifacts count.
    lowered = response.lower()
    return [f"contains the phrase {p!r}" for p in BANNED_PHRASES if p in lowered]


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
