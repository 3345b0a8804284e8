"""Which language a response is written in, checked offline.

A row's ``language`` column says the language its response must be in: the
language of the instruction for a refusal, the language asked for by a
translation.  ``mismatches`` runs a language identifier (py3langid, limited to
the languages the dataset uses) over every response long enough to judge and
returns the rows whose detected language differs; the build fails on any.
Code blocks are removed first: code is not prose in any language.
"""

from __future__ import annotations

import functools
import re

import polars as pl

LANGUAGES = {"en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian",
             "pt": "Portuguese", "ja": "Japanese", "zh": "Chinese"}
UNSPACED = frozenset({"ja", "zh"})
MIN_WORDS = 8  # shorter texts (a label, a UI string) are too short to judge reliably
MIN_CHARS_UNSPACED = 12
_CODE = re.compile(r"```.*?```", re.DOTALL)
_INLINE = re.compile(r"`[^`]*`")


@functools.lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(LANGUAGES))
    return identifier


def prose(text: str) -> str:
    """The text without code: fenced blocks and inline code spans removed."""
    return _INLINE.sub(" ", _CODE.sub(" ", text)).strip()


def judgeable(text: str, language: str) -> bool:
    body = prose(text)
    if language in UNSPACED:
        return len(re.sub(r"\s", "", body)) >= MIN_CHARS_UNSPACED
    return len(body.split()) >= MIN_WORDS


def detect(text: str) -> str:
    """The most likely of LANGUAGES for ``text``."""
    return _identifier().classify(prose(text))[0]


def mismatches(rows: pl.DataFrame, text: str = "response", expected: str = "language") -> pl.DataFrame:
    """Rows whose ``text`` is long enough to judge and is not in ``expected``;
    adds a ``detected`` column."""
    found = []
    for index, (body, language) in enumerate(zip(rows[text].to_list(), rows[expected].to_list())):
        if judgeable(body, language):
            got = detect(body)
            if got != language:
                found.append((index, got))
    if not found:
        return rows.head(0).with_columns(pl.lit("", dtype=pl.String).alias("detected"))
    indices, detected = zip(*found)
    return rows[list(indices)].with_columns(pl.Series("detected", detected, dtype=pl.String))


def match_rate(rows: pl.DataFrame, text: str = "response", expected: str = "language") -> tuple[int, int]:
    """(rows judged, rows whose detected language matches) — for the card."""
    judged = matched = 0
    for body, language in zip(rows[text].to_list(), rows[expected].to_list()):
        if judgeable(body, language):
            judged += 1
            matched += detect(body) == language
    return judged, matched


_CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def identify(text: str | None) -> str | None:
    """The language of ``text``, or None when it is too short to tell."""
    if not text or not text.strip():
        return None
    unspaced = bool(_CJK.search(text))
    return detect(text) if judgeable(text, "ja" if unspaced else "en") else None


def language_problem(text: str, expected: str | None) -> str | None:
    """Why ``text`` is not in ``expected``, or None (also when it is too short to tell)."""
    if not expected:
        return None
    found = identify(text)
    if found is None or found == expected:
        return None
    return f"written in '{found}', expected '{expected}'"
