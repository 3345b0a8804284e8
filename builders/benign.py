"""Benign rows: real tasks in every task form, each with a correct reference answer.

They keep a model helpful while it learns to refuse harmful requests: for each
task form there are rows whose response is the task done well.

* ``humaneval_rows``  code: HumanEval problems with their canonical solutions (kept
                      for users' own recipes; v2 only decontaminates against it).
* ``vader_rows``      classification: sentences whose sentiment 20 people rated.
* ``po_pairs_rows``   translation: human pairs of English and another language
                      (the source's ``language``) from gettext catalogs.
* ``written_rows``    document summaries the project writes itself.

Each parser returns a frame in ``ROW_SCHEMA`` order that passed ``schema.check``.
Which template a row gets is a pure function of its ``seed_id``, so a rebuild
gives identical rows.
"""

from __future__ import annotations

import ast
import codecs
import gzip
import hashlib
import html
import itertools
import json
import re
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from builders import schema
from builders.errors import BuildError, SourcePinError
from builders.items import PROJECT_LICENSE, PROJECT_SOURCE, json_lines


# The columns a parser fills itself; ids, messages and clusters are derived.
_FILLED = ("prompt", "response", "task", "label", "subtype", "category", "category_raw",
           "seed_id", "template_id", "source", "source_version", "license", "language")


@dataclass(frozen=True)
class Provenance:
    """What every row says about where it came from (a pinned ``Source`` has these too)."""
    name: str
    version: str
    license: str


@dataclass(frozen=True)
class Template:
    template_id: str
    prompt: str  # str.format pattern
    response: str = "{answer}"


def pick(seed_id: str, templates: Sequence[Template]) -> Template:
    """The template for one seed: stable across builds, spread evenly over seeds."""
    return templates[schema.stable_int(seed_id) % len(templates)]


def _frame(records: list[dict[str, str]], stage: str) -> pl.DataFrame:
    """Records with the filled columns -> checked ROW_SCHEMA frame."""
    df = pl.DataFrame(records, schema={name: pl.String for name in _FILLED}, orient="row")
    df = df.with_columns(
        id=schema.row_ids("seed_id", "task", "template_id"),
        messages=schema.messages(),
        action=pl.lit("answer"),
        lookalike_type=pl.lit("none"),
        cluster_id=pl.col("seed_id"),
        cluster_size=pl.lit(1, dtype=pl.Int32),
    )
    return schema.check(schema.conform(df), stage)


def _reference(prompt: str, response: str, task: str, seed_id: str, template_id: str,
               category_raw: str, source: Any) -> dict[str, str]:
    """A benign reference row; ``source`` is a pinned Source or a Provenance."""
    return {
        "prompt": prompt, "response": response, "task": task, "label": "benign",
        "subtype": "reference", "category": "none", "category_raw": category_raw,
        "seed_id": seed_id, "template_id": template_id, "source": source.name,
        "source_version": source.version, "license": source.license, "language": "en",
    }


def _file(files: Mapping[str, Path], name: str, source: Any) -> Path:
    try:
        return Path(files[name])
    except KeyError:
        raise SourcePinError(f"source `{source.name}` needs the file {name}; "
                             f"data/sources.toml pins {sorted(files)}") from None


# ---------------------------------------------------------------- code: HumanEval

CODE_TEMPLATES = (
    Template("benign/code/implement@v1",
             "Implement the following Python function `{entry_point}`. Keep its signature and "
             "docstring, and write a body that does what the docstring says.\n\n```python\n{code}\n```"),
    Template("benign/code/complete@v1",
             "Complete this Python function so that it behaves as its docstring and examples "
             "describe:\n\n```python\n{code}\n```"),
    Template("benign/code/write_body@v1",
             "Write the body of `{entry_point}` in Python. Here is the signature with its "
             "docstring:\n\n```python\n{code}\n```"),
)
CODE_RESPONSE = "Here is a complete implementation of `{entry_point}`:\n\n```python\n{code}\n```"


def humaneval_rows(files: Mapping[str, Path], source: Any) -> pl.DataFrame:
    """One code row per HumanEval problem.

    The prompt shows the problem's signature and docstring (with any helper
    functions it comes with); the response is that code completed with the
    canonical solution, which passes the problem's tests.
    """
    path = _file(files, "HumanEval.jsonl.gz", source)
    records = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            problem = json.loads(line)
            missing = {"task_id", "prompt", "entry_point", "canonical_solution"} - problem.keys()
            if missing:
                raise SourcePinError(f"{path.name} line {number}: missing {sorted(missing)}")
            records.append(_code_record(problem, source))
    return _frame(records, f"benign/{source.name}")


def _code_record(problem: dict[str, str], source: Any) -> dict[str, str]:
    task_id, entry_point = problem["task_id"], problem["entry_point"]
    stub = problem["prompt"].strip("\n").rstrip()
    solution = (problem["prompt"] + problem["canonical_solution"]).strip("\n").rstrip()
    try:
        tree = ast.parse(solution)
    except SyntaxError as error:
        raise SourcePinError(f"{task_id}: the completed solution does not parse: {error}") from None
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    if entry_point not in defined:
        raise SourcePinError(f"{task_id}: the solution does not define {entry_point}()")
    seed_id = f"{source.name}:{task_id}"
    template = pick(seed_id, CODE_TEMPLATES)
    return _reference(
        prompt=template.prompt.format(entry_point=entry_point, code=stub),
        response=CODE_RESPONSE.format(entry_point=entry_point, code=solution),
        task="code", seed_id=seed_id, template_id=template.template_id,
        category_raw=task_id, source=source,
    )


# ---------------------------------------------------- classification: VADER ratings

# Each VADER sentence carries the mean of its ratings (about 20 people, on a
# -4..+4 scale) and their standard deviation.  Only clear cases get a label: a
# mean of at least +1.0 is positive, at most -1.0 is negative, and within 0.25
# of zero is neutral, provided the raters agreed (standard deviation at most
# 1.0); otherwise a mean near zero is a mixed sentence, not a neutral one.
# Everything in between is dropped.
POSITIVE_MIN = 1.0
NEGATIVE_MAX = -1.0
NEUTRAL_ABS_MAX = 0.25
NEUTRAL_SD_MAX = 1.0
SENTIMENTS = ("positive", "negative", "neutral")

# The movie snippets come from a polarity data set, where every sentence was
# chosen as positive or negative: a mean near zero there means mixed.
POLARITY_ONLY = frozenset({"movieReviewSnippets"})

VADER_PER_CELL = 55  # rows per (sub-corpus, label): 11 cells x 55 = 605 when all fill
VADER_SAMPLE_SALT = "benign/vader-sample@v1"  # change it only to draw a new sample
VADER_MIN_WORDS, VADER_MAX_WORDS = 4, 60

# What each sub-corpus is, in the words a prompt uses for it.
VADER_KINDS = {
    "tweets": "tweet",
    "nytEditorialSnippets": "sentence from a newspaper editorial",
    "movieReviewSnippets": "sentence from a movie review",
    "amazonReviewSnippets": "sentence from a product review",
}

# Words that keep a text out: profanity, slurs, sexual terms and killing.  A
# sentiment example never needs them.  Prefixes also catch inflections
# ("fucking", "raped"); whole words are the ones whose prefixes are innocent
# ("cock" / "cocktail", "sex" / "sextant", "kill" / "killjoy").
OFFENSIVE_PREFIXES = (
    "fuck", "shit", "bitch", "cunt", "whore", "slut", "bastard", "asshole", "wank", "porn",
    "rape", "rapist", "nigg", "faggot", "retard", "tranny", "suicid", "murder", "pedophil",
)
OFFENSIVE_WORDS = (
    "ass", "arse", "dick", "dicks", "cock", "cocks", "pussy", "twat", "damn", "damned", "piss",
    "pissed", "crap", "crappy", "sex", "sexy", "sexual", "nude", "naked", "fag", "fags", "dyke",
    "spic", "chink", "kike", "homo", "kill", "kills", "killed", "killing", "killer",
)
_OFFENSIVE = re.compile(r"\b(?:(?:" + "|".join(OFFENSIVE_PREFIXES) + r")|(?:"
                        + "|".join(OFFENSIVE_WORDS) + r")\b)", re.IGNORECASE)
_HANDLE_OR_URL = re.compile(r"@\w|https?:|www\.|url_removed|\.com\b", re.IGNORECASE)
_LOST_DASH = re.compile(r"\S {3,}\S")  # the movie snippets lost their dashes to runs of spaces

CLASSIFY_TEMPLATES = (
    Template("benign/classify/label@v1",
             "Classify the sentiment of the following {kind} as positive, negative or neutral.\n\n{text}",
             "The sentiment is {answer}."),
    Template("benign/classify/mcq@v1",
             "What sentiment does this {kind} express?\n\n\"{text}\"\n\nChoose the best option:\n{options}",
             "{letter}) {answer}"),
    Template("benign/classify/one_word@v1",
             "Text: {text}\n\nIs the sentiment of this text positive, negative or neutral? "
             "Answer with one word.",
             "{answer_title}"),
    Template("benign/classify/tone@v1",
             "Here is a {kind}:\n\n{text}\n\nIs its overall tone positive, negative or neutral?",
             "Its overall tone is {answer}."),
)


def sentiment_label(mean: float, spread: float) -> str | None:
    """positive / negative / neutral for a clear rating, None for an ambiguous or mixed one.

    ``mean`` and ``spread`` are the mean and standard deviation of the ratings.
    """
    if mean >= POSITIVE_MIN:
        return "positive"
    if mean <= NEGATIVE_MAX:
        return "negative"
    if abs(mean) <= NEUTRAL_ABS_MAX and spread <= NEUTRAL_SD_MAX:
        return "neutral"
    return None


def clean_vader_text(text: str) -> str:
    """Undo the corpus's HTML escapes and doubled-apostrophe quotes; single-space it."""
    text = html.unescape(text).replace("''", '"')
    return " ".join(text.split())


def vader_skip_reason(raw_text: str) -> str | None:
    """Why a rated sentence is unfit as an example, or None if it is fit."""
    if _LOST_DASH.search(raw_text.strip()):
        return "garbled"
    text = clean_vader_text(raw_text)
    if _HANDLE_OR_URL.search(text):
        return "handle_or_url"
    if _OFFENSIVE.search(text):
        return "offensive"
    if not VADER_MIN_WORDS <= len(text.split()) <= VADER_MAX_WORDS:
        return "length"
    return None


def vader_rows(files: Mapping[str, Path], source: Any, per_cell: int = VADER_PER_CELL) -> pl.DataFrame:
    """A balanced, seed-stable sample of clearly rated sentences, one classification row each.

    Each ``*_GroundTruth.txt`` (``id <TAB> mean <TAB> text``) in the inner
    tarball comes with an ``*_anonDataRatings.txt`` (``id <TAB> mean <TAB>
    standard deviation <TAB> ratings``).  Keep sentences with a clear label (see
    ``sentiment_label``; no neutral ones from ``POLARITY_ONLY`` sub-corpora)
    that ``vader_skip_reason`` accepts, drop repeated texts, then take the
    ``per_cell`` with the smallest salted hash of their seed id for each
    (sub-corpus, label).
    """
    path = _file(files, "hutto_ICWSM_2014.tar.gz", source)
    cells: dict[tuple[str, str], list[tuple[int, str, str]]] = {}
    for corpus, ratings in _ground_truth(path):
        seen: set[str] = set()
        for item_id, mean, spread, raw_text in ratings:
            label = sentiment_label(mean, spread)
            if label is None or (label == "neutral" and corpus in POLARITY_ONLY):
                continue
            if vader_skip_reason(raw_text):
                continue
            text = clean_vader_text(raw_text)
            if text.casefold() in seen:
                continue
            seen.add(text.casefold())
            seed_id = f"{source.name}:{corpus}:{item_id}"
            cells.setdefault((corpus, label), []).append(
                (schema.stable_int(VADER_SAMPLE_SALT, seed_id), seed_id, text))
    records = []
    for (corpus, label), candidates in sorted(cells.items()):
        for _, seed_id, text in sorted(candidates)[:per_cell]:
            records.append(_classify_record(seed_id, corpus, text, label, source))
    return _frame(records, f"benign/{source.name}")


def _ground_truth(path: Path):
    """(sub-corpus, [(id, mean, standard deviation, text), ...]) per sub-corpus of the tarball."""
    with tarfile.open(path, "r:gz") as archive:
        texts = {Path(m.name).name: m for m in archive.getmembers() if m.isfile()}
        corpora = sorted(name.removesuffix("_GroundTruth.txt") for name in texts
                         if name.endswith("_GroundTruth.txt"))
        if not corpora:
            raise SourcePinError(f"{path.name} holds no *_GroundTruth.txt file")

        def lines(name: str) -> list[list[str]]:
            if name not in texts:
                raise SourcePinError(f"{path.name} lacks {name}")
            text = archive.extractfile(texts[name]).read().decode("utf-8-sig")
            return [line.split("\t", 3) for line in text.splitlines() if line.strip()]

        for corpus in corpora:
            sentences = lines(f"{corpus}_GroundTruth.txt")
            spreads = {fields[0].strip(): fields[2] for fields in lines(f"{corpus}_anonDataRatings.txt")
                       if len(fields) > 2}
            yield corpus, [_rating(fields, spreads, f"{corpus}_GroundTruth.txt line {number}")
                           for number, fields in enumerate(sentences, 1)]


def _rating(fields: list[str], spreads: dict[str, str], where: str) -> tuple[str, float, float, str]:
    try:
        item_id, mean, text = fields[0].strip(), float(fields[1]), "\t".join(fields[2:])
        return item_id, mean, float(spreads[item_id]), text
    except (IndexError, ValueError):
        raise SourcePinError(f"{where}: expected id, mean rating and text") from None
    except KeyError:
        raise SourcePinError(f"{where}: no individual ratings for {fields[0]!r}") from None


def _classify_record(seed_id: str, corpus: str, text: str, label: str, source: Any) -> dict[str, str]:
    template = pick(seed_id, CLASSIFY_TEMPLATES)
    # The option order varies with the seed, so the right letter is not always the same.
    orders = list(itertools.permutations(SENTIMENTS))
    order = orders[schema.stable_int("options", seed_id) % len(orders)]
    letter = "ABC"[order.index(label)]
    options = "\n".join(f"{'ABC'[i]}) {option}" for i, option in enumerate(order))
    fields = {"kind": VADER_KINDS.get(corpus, "text"), "text": text, "options": options,
              "answer": label, "answer_title": label.capitalize(), "letter": letter}
    return _reference(
        prompt=template.prompt.format(**fields), response=template.response.format(**fields),
        task="classification", seed_id=seed_id, template_id=template.template_id,
        category_raw=corpus, source=source,
    )


# ------------------------------------------------ translation: gettext catalogs

@dataclass
class PoEntry:
    msgid: str = ""
    msgstr: str = ""
    msgctxt: str = ""
    flags: set[str] = field(default_factory=set)
    plural: bool = False


_PO_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b",
               "f": "\f", "v": "\v"}
_PO_ESCAPE = re.compile(r'\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)')
_PO_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(".*")\s*$')


def _po_unquote(quoted: str, where: str) -> str:
    if len(quoted) < 2 or not (quoted.startswith('"') and quoted.endswith('"')):
        raise SourcePinError(f"{where}: expected a quoted string, got {quoted!r}")

    def unescape(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] == "x":
            return chr(int(code[1:], 16))
        if code[0] in "01234567":
            return chr(int(code, 8))
        return _PO_ESCAPES.get(code, code)

    return _PO_ESCAPE.sub(unescape, quoted[1:-1])


def parse_po(text: str, name: str = "catalog.po") -> list[PoEntry]:
    """The entries of a .po file: concatenated, unescaped strings and their flags.

    Obsolete entries (``#~``) are left out; plural entries are kept with
    ``plural=True`` and their first form in ``msgstr``.  The header (empty
    msgid) is returned like any entry.
    """
    entries: list[PoEntry] = []
    entry, current, started = PoEntry(), None, False

    def finish() -> None:
        nonlocal entry, current, started
        if started:
            entries.append(entry)
        entry, current, started = PoEntry(), None, False

    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        where = f"{name} line {number}"
        if not line:
            finish()
        elif line.startswith("#"):
            if current and current.startswith("msgstr"):
                finish()  # a comment after a translation starts the next entry
            if line.startswith("#,"):
                entry.flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
        elif line.startswith('"'):
            if current is None:
                raise SourcePinError(f"{where}: a string outside any msgid or msgstr")
            _po_append(entry, current, _po_unquote(line, where))
        else:
            match = _PO_KEYWORD.match(line)
            if not match:
                raise SourcePinError(f"{where}: cannot read {line[:40]!r}")
            keyword, value = match.groups()
            if keyword in ("msgctxt", "msgid") and current and current.startswith("msgstr"):
                finish()
            current, started = keyword, True
            _po_append(entry, keyword, _po_unquote(value, where))
    finish()
    return entries


def _po_append(entry: PoEntry, keyword: str, value: str) -> None:
    if keyword == "msgctxt":
        entry.msgctxt += value
    elif keyword == "msgid":
        entry.msgid += value
    elif keyword == "msgid_plural":
        entry.plural = True
    elif keyword in ("msgstr", "msgstr[0]"):
        entry.msgstr += value
    # other plural forms (msgstr[1], ...) are not needed


# printf conversions (%s, %(name)s, %d, %%), brace fields ({}, {0}, {name!r},
# ${name}) and HTML tags reduced to their name, e.g. "<a>" or "</strong>".
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0+\-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa%]")
_BRACES = re.compile(r"\$?\{[^{}\s]*\}")
_TAG = re.compile(r"<\s*(/?)\s*([a-zA-Z][a-zA-Z0-9]*)[^<>]*>")


def placeholders(text: str) -> list[str]:
    """The placeholders and markup a translation must keep, sorted."""
    found = _PRINTF.findall(text) + _BRACES.findall(text)
    found += [f"<{slash}{tag.lower()}>" for slash, tag in _TAG.findall(text)]
    return sorted(found)


# The catalog languages a po source may name (ISO 639-1), as prompts call them.
LANGUAGES = {"fr": "French", "de": "German", "es": "Spanish", "it": "Italian",
             "pt": "Portuguese", "ja": "Japanese", "zh": "Simplified Chinese"}
# Written without capitals or spaces between words: see ``is_translated_sentence``.
UNSPACED_LANGUAGES = frozenset({"ja", "zh"})
UNSPACED_MIN_CHARS = 6
UNSPACED_STOPS = "。？！.?!"


def is_full_sentence(text: str, min_words: int = 6) -> bool:
    """Starts with a capital letter, ends with . ? or !, has at least ``min_words`` words.

    Spanish opens questions and exclamations with ¿ or ¡; the capital follows it.
    """
    text = text.strip()
    return (bool(text) and text.lstrip("¿¡")[:1].isupper() and text[-1] in ".?!"
            and len(text.split()) >= min_words)


def is_translated_sentence(text: str, language: str | None = None) -> bool:
    """Whether a catalog's translation into ``language`` is a full sentence.

    Japanese has neither capitals nor spaces between words, so there a sentence
    is a run of at least ``UNSPACED_MIN_CHARS`` characters ending in a stop.
    """
    if language in UNSPACED_LANGUAGES:
        text = text.strip()
        return len(text) >= UNSPACED_MIN_CHARS and text[-1] in UNSPACED_STOPS
    return is_full_sentence(text, min_words=3)


def unwrap(text: str) -> str:
    """One line, single-spaced: catalogs wrap long messages at arbitrary points."""
    return " ".join(text.split())


def pair_skip_reason(entry: PoEntry, language: str | None = None) -> str | None:
    """Why a catalog entry is not a usable pair of English and ``language``, or None if it is one."""
    english, translation = unwrap(entry.msgid), unwrap(entry.msgstr)
    if "fuzzy" in entry.flags:
        return "fuzzy"
    if entry.plural:
        return "plural"
    if not english or not translation or english == translation:
        return "untranslated"
    if not is_full_sentence(english) or not is_translated_sentence(translation, language):
        return "not_a_sentence"
    if placeholders(english) != placeholders(translation):
        return "placeholders"
    return None


# (name, prompt, direction): both directions, so that which way a request
# translates never tells a benign row from a harmful one.  ``{language}`` is
# the catalog's language; a template's id names the direction with the
# language codes, e.g. benign/translate_en_de/plain@v1.
_TRANSLATE_PATTERNS = (
    ("plain", "Translate into {language}:\n\n{text}", "to"),
    ("labelled", "Translate the following English sentence into {language}.\n\n"
                 "English: {text}\n{language}:", "to"),
    ("interface", "This message comes from a software user interface. Translate it into {language}, "
                  "keeping any placeholders and markup exactly as they are.\n\n{text}", "to"),
    ("how", "How would you say this in {language}?\n\n{text}", "to"),
    ("plain", "Translate the following text from {language} to English: {text}", "from"),
    ("meaning", "What does this {language} sentence say in English? Give only the translation.\n\n{text}",
     "from"),
)


def translate_templates(language: str) -> tuple[tuple[Template, str], ...]:
    """(template, direction) pairs for one catalog language; direction is "en_<code>" or "<code>_en"."""
    if language not in LANGUAGES:
        raise BuildError(f"no translation templates for language {language!r}; known: {sorted(LANGUAGES)}")
    templates = []
    for name, pattern, way in _TRANSLATE_PATTERNS:
        direction = f"en_{language}" if way == "to" else f"{language}_en"
        prompt = pattern.format(language=LANGUAGES[language], text="{text}")
        templates.append((Template(f"benign/translate_{direction}/{name}@v1", prompt), direction))
    return tuple(templates)


TRANSLATE_TEMPLATES = translate_templates("fr")


PAIR_SCHEMA = pl.Schema({"seed_id": pl.String, "english": pl.String, "translation": pl.String,
                         "file": pl.String, "source": pl.String, "source_version": pl.String,
                         "license": pl.String})


def po_pairs(files: Mapping[str, Path], source: Any) -> pl.DataFrame:
    """Every usable pair of English and ``source.language`` in the .po files
    (``PAIR_SCHEMA``).  Files are read in name order; a message already taken
    from an earlier entry (of any file) is skipped."""
    language = getattr(source, "language", None)
    if not language:
        raise BuildError(f"source `{source.name}` reads .po catalogs but names no `language` "
                         f"in data/sources.toml (one of {sorted(LANGUAGES)})")
    if language not in LANGUAGES:
        raise BuildError(f"source `{source.name}`: language {language!r} is not one of {sorted(LANGUAGES)}")
    records, seen = [], set()
    for name in sorted(files):
        raw = Path(files[name]).read_bytes()
        for entry in parse_po(raw.decode(_po_charset(raw)), name):
            english, translation = unwrap(entry.msgid), unwrap(entry.msgstr)
            if not english or pair_skip_reason(entry, language) or english in seen:
                continue
            seen.add(english)
            key = hashlib.sha256(f"{entry.msgctxt}\x04{entry.msgid}".encode("utf-8")).hexdigest()[:12]
            records.append({"seed_id": f"{source.name}:{name}:{key}", "english": english,
                            "translation": translation, "file": name, "source": source.name,
                            "source_version": source.version, "license": source.license})
    return pl.DataFrame(records, schema=PAIR_SCHEMA)


def po_pairs_rows(files: Mapping[str, Path], source: Any) -> pl.DataFrame:
    """One translation row per usable pair through the benign-only translation
    templates (both directions).  The reference answer is the catalog's human
    translation (or, for the templates that translate into English, the
    original English message)."""
    templates = translate_templates(source.language)
    records = []
    for pair in po_pairs(files, source).iter_rows(named=True):
        template, direction = templates[schema.stable_int(pair["seed_id"]) % len(templates)]
        text, answer = ((pair["english"], pair["translation"]) if direction.startswith("en_")
                        else (pair["translation"], pair["english"]))
        records.append(_reference(
            prompt=template.prompt.format(text=text), response=answer, task="translation",
            seed_id=pair["seed_id"], template_id=template.template_id, category_raw=pair["file"], source=source,
        ))
    return _frame(records, f"benign/{source.name}")


def _po_charset(raw: bytes) -> str:
    """The header's charset; UTF-8 when it names none or an unknown one (e.g. "CHARSET")."""
    match = re.search(rb"charset=([-\w]+)", raw[:4096])
    try:
        return codecs.lookup(match.group(1).decode("ascii")).name if match else "utf-8"
    except LookupError:
        return "utf-8"


# ------------------------------------------------------- rows the project writes

SUMMARIZE_TEMPLATES = (
    Template("benign/summarize/sentences@v1",
             "Summarize the following text in 2-3 sentences:\n\n{document}"),
    Template("benign/summarize/tldr@v1", "TL;DR this:\n\n{document}"),
    Template("benign/summarize/key_points@v1",
             "Give me the key points of the following {kind} in a few sentences.\n\n{document}"),
    Template("benign/summarize/titled@v1",
             "Here is a text titled \"{title}\". Write a short summary of it.\n\n{document}"),
    Template("benign/summarize/after@v1",
             "{document}\n\nSummarize the above text briefly."),
)

SUMMARY_FIELDS = ("id", "title", "document", "summary", "kind")


def written_rows(data_dir: Path) -> pl.DataFrame:
    """Document summaries from ``data_dir/benign/summarization.jsonl``.

    Questions, how-to items, translations, code and look-alikes are items that go
    through the shared templates instead (``items.py``).  ``source_version``
    names the sha256 of the file, so a changed file shows in every row it produced.
    """
    folder = Path(data_dir) / "benign"
    records = []
    summaries, ours = _read_jsonl(folder / "summarization.jsonl", SUMMARY_FIELDS)
    for item in summaries:
        seed_id = f"{PROJECT_SOURCE}:{item['id']}"
        template = pick(seed_id, SUMMARIZE_TEMPLATES)
        records.append(_reference(template.prompt.format(**item), item["summary"], "summarization",
                                  seed_id, template.template_id, item["kind"], ours))
    return _frame(records, "benign/written")


def evaluation_prompts(files: Mapping[str, Path], source: Any) -> pl.Series:
    """The problem texts of a pinned evaluation set (HumanEval), to decontaminate
    against: such a benchmark is never a training row."""
    path = _file(files, "HumanEval.jsonl.gz", source)
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        prompts = [json.loads(line)["prompt"] for line in lines if line.strip()]
    return pl.Series("text", prompts, dtype=pl.String)


def _read_jsonl(path: Path, fields: tuple[str, ...]) -> tuple[list[dict[str, str]], Provenance]:
    """The items of one file and its provenance; every field must be a non-empty string, ids unique."""
    if not path.is_file():
        raise BuildError(f"missing {path}; the benign rows the project writes live there")
    raw = path.read_bytes()
    provenance = Provenance(PROJECT_SOURCE, f"data@{hashlib.sha256(raw).hexdigest()[:12]}",
                            PROJECT_LICENSE)
    ids: set[str] = set()
    items = []
    for number, item in json_lines(path, raw.decode("utf-8")):
        where = f"{path.name} line {number}"
        bad = [name for name in fields
               if not isinstance(item.get(name), str) or not item[name].strip()]
        if bad:
            raise BuildError(f"{where}: fields {bad} must be non-empty strings")
        if item["id"] in ids:
            raise BuildError(f"{where}: id {item['id']!r} appears twice")
        ids.add(item["id"])
        items.append(item)
    return items, provenance


BENIGN_PARSERS = {"humaneval": humaneval_rows, "vader": vader_rows, "po_pairs": po_pairs_rows}
