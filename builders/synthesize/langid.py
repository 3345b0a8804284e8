"""Which language a text is written in, from its function words and its script.

Enough to tell whether a model answered in the language it was asked for,
among the languages the dataset uses; it is not a general identifier.  A text
too short or too mixed to call gets ``None``, and callers treat that as "no
objection" rather than guess.
"""

from __future__ import annotations

import re
import unicodedata

# Frequent short words of each language; a word listed for two languages says
# nothing and is dropped from both below ("a", "de" and "en" are left out anyway).
FUNCTION_WORDS = {
    "en": "the and of to is that it for you with this are be on not have but or can as at by from they "
          "will would your what which there their about if an i this we",
    "fr": "le la les des est et une un du que qui pour pas dans ce cette sur avec sont vous nous il elle "
          "au aux mais ou je ne plus être votre leur peux car très aussi tout faire ces",
    "de": "der die das und ist nicht ein eine zu mit sich auf für ich sie es dem den des von wie aber "
          "oder auch wird sind kann werden ihr weil ihnen dabei sehr wenn machen",
    "es": "el los las es y una un del que por para con no se su al lo como más pero sus le ya está "
          "este esta hay puede usted porque esa ese muy también cuando puedo hacer las",
    "it": "il lo gli della di che è e una un per non con si sono le del da come più ma anche questo "
          "questa può essere al perché posso sono molto anche quando fare gli",
    "pt": "o os as da do dos das que é e uma um para com não se por mais como mas ao na no seu sua "
          "está você pode isso porque posso muito também quando fazer não",
}
_LISTED = {lang: set(words.split()) for lang, words in FUNCTION_WORDS.items()}
WORDS = {lang: frozenset(words - set().union(*(w for other, w in _LISTED.items() if other != lang)))
         for lang, words in _LISTED.items()}
SCRIPTS = (("ja", re.compile(r"[\u3040-\u30ff]")), ("zh", re.compile(r"[\u4e00-\u9fff]")),
           ("ru", re.compile(r"[\u0400-\u04ff]")), ("ar", re.compile(r"[\u0600-\u06ff]")))
TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)
MIN_HITS = 2
MIN_SHARE = 0.5  # of all function-word hits, for the winner
SCRIPT_SHARE = 0.3  # of letters, for a non-Latin script to decide


def identify(text: str | None) -> str | None:
    """ISO 639-1 code of ``text``'s language, or None when it cannot be told."""
    if not text:
        return None
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return None
    for code, pattern in SCRIPTS:
        share = len(pattern.findall(text)) / len(letters)
        if share >= SCRIPT_SHARE and (code != "zh" or not SCRIPTS[0][1].search(text)):
            return code
    tokens = [unicodedata.normalize("NFC", t.lower()) for t in TOKEN.findall(text)]
    hits = {lang: sum(t in words for t in tokens) for lang, words in WORDS.items()}
    best = max(hits, key=lambda lang: (hits[lang], lang == "en"))
    total = sum(hits.values())
    if hits[best] < MIN_HITS or hits[best] < MIN_SHARE * total:
        return None
    return best


def language_problem(text: str, expected: str | None) -> str | None:
    """Why ``text`` is not in ``expected``, or None (also when it cannot be told)."""
    if not expected:
        return None
    found = identify(text)
    if found is None or found == expected:
        return None
    return f"written in '{found}', expected '{expected}'"
