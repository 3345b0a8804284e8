"""Benign rows: parsers on small hand-made fixtures, the project's own data files,
and (when the pinned artifacts are at hand) the real upstream files."""

from __future__ import annotations

import ast
import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import tomllib
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

from builders import benign, schema
from builders.errors import BuildError, SourcePinError
from builders.sources import load_registry

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"


def source(name: str, language: str | None = None) -> SimpleNamespace:
    """The fields a parser reads from a pinned source: provenance and, for catalogs, a language."""
    return SimpleNamespace(name=name, version=f"{name}==0.0.1", license="MIT", language=language)


def passes_check(df: pl.DataFrame) -> None:
    assert df.schema == schema.ROW_SCHEMA
    schema.check(df, "test")
    assert (df["label"] == "benign").all()
    assert (df["prompt"].str.strip_chars().str.len_chars() > 0).all()
    assert (df["response"].str.strip_chars().str.len_chars() > 0).all()
    assert (df["cluster_id"] == df["seed_id"]).all()
    assert (df["cluster_size"] == 1).all()
    for row in df.iter_rows(named=True):
        assert row["id"] == schema.row_id(row["seed_id"], row["task"], row["template_id"])
        assert row["messages"] == [{"role": "user", "content": row["prompt"]},
                                   {"role": "assistant", "content": row["response"]}]


# ----------------------------------------------------------------- HumanEval

PROBLEMS = [
    {
        "task_id": "Toy/0",
        "prompt": 'from typing import List\n\n\ndef count_big(values: List[int], limit: int) -> int:\n'
                  '    """ Count the values strictly greater than limit.\n'
                  '    >>> count_big([1, 5, 7], 4)\n    2\n    """\n',
        "entry_point": "count_big",
        "canonical_solution": "    return sum(1 for value in values if value > limit)\n",
        "test": "",
    },
    {
        "task_id": "Toy/1",
        "prompt": '\n\ndef double(x: int) -> int:\n    """ Twice x. """\n    return 2 * x\n\n\n'
                  'def quadruple(x: int) -> int:\n    """ Four times x, using double.\n'
                  '    >>> quadruple(3)\n    12\n    """\n',
        "entry_point": "quadruple",
        "canonical_solution": "    return double(double(x))\n",
        "test": "",
    },
]


def humaneval_file(tmp_path: Path, problems: list[dict]) -> dict[str, Path]:
    path = tmp_path / "HumanEval.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as out:
        for problem in problems:
            out.write(json.dumps(problem) + "\n")
    return {"HumanEval.jsonl.gz": path}


def code_block(text: str) -> str:
    match = re.search(r"```python\n(.*)\n```\Z", text, re.S)
    assert match, text
    return match.group(1)


def test_humaneval_rows_pair_the_stub_with_the_complete_solution(tmp_path):
    rows = benign.humaneval_rows(humaneval_file(tmp_path, PROBLEMS), source("humaneval"))
    passes_check(rows)
    assert rows.height == 2
    assert set(rows["task"]) == {"code"}
    assert set(rows["subtype"]) == {"reference"} and set(rows["category"]) == {"none"}
    assert rows["seed_id"].to_list() == ["humaneval:Toy/0", "humaneval:Toy/1"]
    assert rows["category_raw"].to_list() == ["Toy/0", "Toy/1"]
    assert set(rows["template_id"]) <= {t.template_id for t in benign.CODE_TEMPLATES}
    assert set(rows["source_version"]) == {"humaneval==0.0.1"}

    first, second = rows.iter_rows(named=True)
    # The prompt shows the signature and docstring, never the solution.
    assert "def count_big(values: List[int], limit: int) -> int:" in first["prompt"]
    assert "return sum(" not in first["prompt"]
    # The response is runnable and does what the docstring says.
    namespace: dict = {}
    exec(code_block(first["response"]), namespace)
    assert namespace["count_big"]([1, 5, 7], 4) == 2
    namespace = {}
    exec(code_block(second["response"]), namespace)
    assert namespace["quadruple"](3) == 12
    assert "def double(x: int) -> int:" in second["prompt"]  # helpers come along


def test_humaneval_rows_are_deterministic(tmp_path):
    files = humaneval_file(tmp_path, PROBLEMS)
    assert benign.humaneval_rows(files, source("humaneval")).equals(
        benign.humaneval_rows(files, source("humaneval")))


def test_humaneval_rejects_a_solution_that_does_not_parse(tmp_path):
    broken = dict(PROBLEMS[0], canonical_solution="    return (\n")
    with pytest.raises(SourcePinError, match="Toy/0"):
        benign.humaneval_rows(humaneval_file(tmp_path, [broken]), source("humaneval"))


def test_humaneval_rejects_a_problem_without_its_solution(tmp_path):
    partial = {key: value for key, value in PROBLEMS[0].items() if key != "canonical_solution"}
    with pytest.raises(SourcePinError, match="canonical_solution"):
        benign.humaneval_rows(humaneval_file(tmp_path, [partial]), source("humaneval"))


def test_a_missing_pinned_file_names_what_is_needed():
    with pytest.raises(SourcePinError, match="HumanEval.jsonl.gz"):
        benign.humaneval_rows({"other.gz": Path("/nonexistent")}, source("humaneval"))


# --------------------------------------------------------------------- VADER

@pytest.mark.parametrize(("mean", "spread", "label"), [
    (3.2, 0.5, "positive"), (1.0, 2.0, "positive"), (0.99, 0.3, None), (0.26, 0.3, None),
    (0.25, 0.3, "neutral"), (0.0, 1.0, "neutral"), (0.0, 1.01, None), (-0.25, 0.0, "neutral"),
    (-0.26, 0.3, None), (-0.99, 0.3, None), (-1.0, 2.0, "negative"), (-2.7, 0.4, "negative"),
])
def test_sentiment_label_margins(mean, spread, label):
    assert benign.sentiment_label(mean, spread) == label


@pytest.mark.parametrize(("text", "reason"), [
    ("What a lovely quiet morning by the lake today.", None),
    ("We had a cocktail with friends and read Dickens all evening.", None),
    ("Great class, and the skills assessment went well.", None),
    ("@someone thanks for the lovely flowers today!", "handle_or_url"),
    ("Read my review here http://url_removed now please", "handle_or_url"),
    ("See the full list at www.example.org for details", "handle_or_url"),
    ("This shit is the best thing ever made", "offensive"),
    ("What a damn fine cup of coffee this is", "offensive"),
    ("The film is clever    even when it drags    and worth seeing.", "garbled"),
    ("Too short.", "length"),
    (" ".join(["word"] * 61), "length"),
])
def test_vader_skip_reasons(text, reason):
    assert benign.vader_skip_reason(text) == reason


def test_clean_vader_text_undoes_corpus_escapes():
    assert benign.clean_vader_text("Fish &amp; chips,  ''really'' good") == 'Fish & chips, "really" good'


def vader_tarball(tmp_path: Path, corpora: dict[str, list[tuple]], ratings: bool = True) -> dict[str, Path]:
    """The inner VADER tarball: per corpus, lines of (id, mean, text[, standard deviation])."""
    path = tmp_path / "hutto_ICWSM_2014.tar.gz"

    def add(archive: tarfile.TarFile, name: str, body: bytes) -> None:
        member = tarfile.TarInfo(f"hutto_ICWSM_2014/{name}")
        member.size = len(body)
        archive.addfile(member, io.BytesIO(body))

    with tarfile.open(path, "w:gz") as archive:
        for corpus, lines in corpora.items():
            add(archive, f"{corpus}_GroundTruth.txt",
                "".join(f"{line[0]}\t{line[1]}\t{line[2]}\r\n" for line in lines).encode("utf-8"))
            if ratings:  # written with a byte-order mark, as the real files are
                spreads = "".join(f"{line[0]}\t{line[1]}\t{line[3] if len(line) > 3 else 0.5}\t[0, 1]\r\n"
                                  for line in lines)
                add(archive, f"{corpus}_anonDataRatings.txt", spreads.encode("utf-8-sig"))
        add(archive, "_README_.txt", b"not a ratings file")
    return {"hutto_ICWSM_2014.tar.gz": path}


TWEETS = [
    ("1", 2.4, "Had the best day at the beach with my family today."),
    ("2", 1.0, "Finally finished the garden and it looks lovely now."),
    ("3", -1.8, "My train was cancelled again and I missed the meeting."),
    ("4", 0.1, "Going to the grocery store after work this evening."),
    ("5", 0.6, "The weather is okay I guess, nothing special really."),  # ambiguous: dropped
    ("6", 2.9, "@friend you are the best, thanks for the gift!"),  # handle: dropped
    ("7", -2.2, "This fucking printer jammed again this morning."),  # offensive: dropped
    ("8", 2.0, "Had the best day at the beach with my family today."),  # repeat: dropped
    ("9", -1.0, "Lost my keys again and waited an hour outside in the rain."),
    ("10", 0.0, "Not sure if I love or hate this new phone, honestly.", 2.1),  # raters split: dropped
    ("11", -0.1, "The bus to the airport leaves every twenty minutes.", 0.2),
]
MOVIES = [
    ("1", 3.1, "A warm, funny and beautifully acted film about growing up."),
    ("2", -2.6, "The plot is a tangled mess and the jokes fall flat."),
    ("3", -0.2, "The film runs just under two hours and was shot in Canada."),  # polarity set: dropped
    ("4", 1.9, "The lead    a newcomer    carries every scene with ease."),  # garbled: dropped
    ("5", -1.3, "Two hours of shouting that never adds up to a story."),
]


def test_vader_rows_keep_clear_fit_sentences_with_correct_labels(tmp_path):
    rows = benign.vader_rows(vader_tarball(tmp_path, {"tweets": TWEETS, "movieReviewSnippets": MOVIES}),
                             source("vader"))
    passes_check(rows)
    assert set(rows["task"]) == {"classification"}
    kept = {seed: label for seed, label in [
        ("vader:tweets:1", "positive"), ("vader:tweets:2", "positive"), ("vader:tweets:3", "negative"),
        ("vader:tweets:4", "neutral"), ("vader:tweets:9", "negative"), ("vader:tweets:11", "neutral"),
        ("vader:movieReviewSnippets:1", "positive"), ("vader:movieReviewSnippets:2", "negative"),
        ("vader:movieReviewSnippets:5", "negative"),
    ]}
    assert sorted(rows["seed_id"]) == sorted(kept)
    for row in rows.iter_rows(named=True):
        label = kept[row["seed_id"]]
        assert row["category_raw"] == row["seed_id"].split(":")[1]
        assert label in row["response"].lower()
        others = set(benign.SENTIMENTS) - {label}
        assert not any(other in row["response"].lower() for other in others)
        if row["template_id"] == "benign/classify/mcq@v1":
            letter = row["response"][0]
            assert re.search(rf"^{letter}\) {label}$", row["prompt"], re.M), row["prompt"]
            assert row["response"] == f"{letter}) {label}"


def test_vader_sample_is_balanced_and_seed_stable(tmp_path):
    files = vader_tarball(tmp_path, {"tweets": TWEETS, "movieReviewSnippets": MOVIES})
    one = benign.vader_rows(files, source("vader"), per_cell=1)
    # one row per (sub-corpus, label): three labels for tweets, two for the movie polarity set
    labelled = one.with_columns(label=pl.col("response").str.to_lowercase()
                                .str.extract(r"(positive|negative|neutral)"))
    assert sorted(labelled.select("category_raw", "label").rows()) == [
        ("movieReviewSnippets", "negative"), ("movieReviewSnippets", "positive"),
        ("tweets", "negative"), ("tweets", "neutral"), ("tweets", "positive")]
    again = benign.vader_rows(files, source("vader"), per_cell=1)
    assert one.equals(again)
    # The sample is the per-cell smallest salted hash, so it is a subset of the full set.
    full = benign.vader_rows(files, source("vader"))
    assert set(one["id"]) <= set(full["id"])


def test_vader_mcq_letters_vary_between_rows():
    letters = set()
    for number in range(60):
        record = benign._classify_record(f"vader:tweets:{number}", "tweets", "Nice day.", "neutral",
                                         source("vader"))
        if record["template_id"] == "benign/classify/mcq@v1":
            letters.add(record["response"][0])
    assert letters == {"A", "B", "C"}


def test_vader_rejects_a_malformed_line(tmp_path):
    files = vader_tarball(tmp_path, {"tweets": [("1", "not-a-number", "Some text here today.")]})
    with pytest.raises(SourcePinError, match="line 1"):
        benign.vader_rows(files, source("vader"))


def test_vader_needs_the_individual_ratings(tmp_path):
    files = vader_tarball(tmp_path, {"tweets": TWEETS}, ratings=False)
    with pytest.raises(SourcePinError, match="tweets_anonDataRatings.txt"):
        benign.vader_rows(files, source("vader"))


# ------------------------------------------------------------------ .po files

PO_TEXT = r'''# French translation of a toy project.
msgid ""
msgstr ""
"Project-Id-Version: toy\n"
"Content-Type: text/plain; charset=UTF-8\n"

#: toy/views.py:10
#, python-format
msgid "The file %(name)s was saved to your account."
msgstr "Le fichier %(name)s a été enregistré dans votre compte."

#: toy/views.py:12
#, fuzzy
msgid "Your changes could not be saved right now."
msgstr "Vos modifications ont été enregistrées."

#: toy/views.py:14
msgid "One item was deleted from the list today."
msgid_plural "%(count)s items were deleted from the list today."
msgstr[0] "Un élément a été supprimé de la liste aujourd’hui."
msgstr[1] "%(count)s éléments ont été supprimés de la liste aujourd’hui."

#: toy/views.py:20
msgid ""
"Please check the address you entered "
"and try again in a few minutes."
msgstr ""
"Veuillez vérifier l’adresse saisie "
"et réessayer dans quelques minutes."

msgid "Click <a href=\"%s\">here</a> to open the settings page."
msgstr "Cliquez ici pour ouvrir la page des paramètres %s."

msgid "Say \"hello\" to the new members of the team."
msgstr "Dites « bonjour » aux nouveaux membres de l’équipe."

msgid "The value {value} is not allowed in this field."
msgstr "La valeur {valeur} n’est pas autorisée dans ce champ."

msgid "Save"
msgstr "Enregistrer"

msgid "This sentence has no translation in the catalog yet."
msgstr ""

msgctxt "menu"
msgid "Open the file that you saved last time."
msgstr "Ouvrir le fichier enregistré la dernière fois."

#| msgid "An old message that was removed long ago."
#~ msgid "An old message that was removed from the program."
#~ msgstr "Un ancien message retiré du programme."
msgid "Tabs\tand backslashes \\ are kept as written here."
msgstr "Les tabulations\tet les barres obliques \\ sont conservées ici."
'''


def test_parse_po_reads_strings_flags_and_escapes():
    entries = benign.parse_po(PO_TEXT, "toy.po")
    by_id = {entry.msgid: entry for entry in entries}
    assert "" in by_id and "charset=UTF-8" in by_id[""].msgstr
    assert "fuzzy" in by_id["Your changes could not be saved right now."].flags
    plural = by_id["One item was deleted from the list today."]
    assert plural.plural and plural.msgstr == "Un élément a été supprimé de la liste aujourd’hui."
    wrapped = by_id["Please check the address you entered and try again in a few minutes."]
    assert wrapped.msgstr == "Veuillez vérifier l’adresse saisie et réessayer dans quelques minutes."
    assert 'Say "hello" to the new members of the team.' in by_id
    assert by_id["Open the file that you saved last time."].msgctxt == "menu"
    assert "Tabs\tand backslashes \\ are kept as written here." in by_id
    assert not any("removed" in entry.msgid for entry in entries)  # obsolete entries are gone


@pytest.mark.parametrize(("msgid", "reason"), [
    ("The file %(name)s was saved to your account.", None),
    ("Your changes could not be saved right now.", "fuzzy"),
    ("One item was deleted from the list today.", "plural"),
    ("Please check the address you entered and try again in a few minutes.", None),
    ("Click <a href=\"%s\">here</a> to open the settings page.", "placeholders"),
    ('Say "hello" to the new members of the team.', None),
    ("The value {value} is not allowed in this field.", "placeholders"),
    ("Save", "not_a_sentence"),
    ("This sentence has no translation in the catalog yet.", "untranslated"),
    ("Open the file that you saved last time.", None),
    ("Tabs\tand backslashes \\ are kept as written here.", None),
])
def test_pair_skip_reasons(msgid, reason):
    entry = next(e for e in benign.parse_po(PO_TEXT, "toy.po") if e.msgid == msgid)
    assert benign.pair_skip_reason(entry) == reason


@pytest.mark.parametrize(("english", "french", "same"), [
    ("Saved %(count)d files in %(dir)s.", "%(dir)s : %(count)d fichiers enregistrés.", True),
    ("Saved %(count)d files.", "Enregistré %(nombre)d fichiers.", False),
    ("Between %s and %s.", "Entre %s et %s.", True),
    ("Between %s and %s.", "Entre %s.", False),
    ("Value {0!r} is wrong.", "La valeur {0!r} est fausse.", True),
    ("Found ${count} pages.", "${count} pages trouvées.", True),
    ("Use <strong>only</strong> letters.", "Utilisez <strong>uniquement</strong> des lettres.", True),
    ("Use <strong>only</strong> letters.", "Utilisez uniquement des lettres.", False),
    ("Done: 100%% of the files.", "Fait : 100 %% des fichiers.", True),
    ("About 50% of us agree.", "Environ 50 % d’entre nous sont d’accord.", True),
])
def test_placeholders_must_match(english, french, same):
    assert (benign.placeholders(english) == benign.placeholders(french)) is same


@pytest.mark.parametrize(("text", "full"), [
    ("Enter a valid date in the form below.", True),
    ("Are you sure you want to continue now?", True),
    ("Your password was changed successfully today!", True),
    ("enter a valid date in the form below.", False),
    ("Enter a valid date in the form", False),
    ("Enter a valid date.", False),
])
def test_is_full_sentence(text, full):
    assert benign.is_full_sentence(text) is full


def po_files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "a-django.po").write_text(PO_TEXT, encoding="utf-8")
    # A second catalog repeating one message (kept once) and adding one in latin-1.
    second = ('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=ISO-8859-1\\n"\n\n'
              'msgid "The file %(name)s was saved to your account."\n'
              'msgstr "Le fichier %(name)s est enregistré."\n\n'
              'msgid "Your session expired, please sign in again."\n'
              'msgstr "Votre session a expiré, veuillez vous reconnecter."\n')
    (tmp_path / "b-django.po").write_bytes(second.encode("latin-1"))
    return {"a-django.po": tmp_path / "a-django.po", "b-django.po": tmp_path / "b-django.po"}


def test_po_pairs_rows_keep_good_pairs_once_in_either_direction(tmp_path):
    rows = benign.po_pairs_rows(po_files(tmp_path), source("toy_fr", "fr"))
    passes_check(rows)
    assert set(rows["task"]) == {"translation"}
    pairs = {
        "The file %(name)s was saved to your account.":
            "Le fichier %(name)s a été enregistré dans votre compte.",
        "Please check the address you entered and try again in a few minutes.":
            "Veuillez vérifier l’adresse saisie et réessayer dans quelques minutes.",
        'Say "hello" to the new members of the team.':
            "Dites « bonjour » aux nouveaux membres de l’équipe.",
        "Open the file that you saved last time.": "Ouvrir le fichier enregistré la dernière fois.",
        "Tabs and backslashes \\ are kept as written here.":
            "Les tabulations et les barres obliques \\ sont conservées ici.",
        "Your session expired, please sign in again.": "Votre session a expiré, veuillez vous reconnecter.",
    }
    assert rows.height == len(pairs)
    seen = set()
    for row in rows.iter_rows(named=True):
        direction = row["template_id"].split("/")[1]
        english = next(en for en, fr in pairs.items() if (en if direction == "translate_en_fr" else fr)
                       in row["prompt"])
        expected = pairs[english] if direction == "translate_en_fr" else english
        assert row["response"] == expected
        assert row["seed_id"].startswith(f"toy_fr:{row['category_raw']}:")
        seen.add(english)
    assert seen == set(pairs)
    # the repeated message comes from the first catalog
    repeated = rows.filter(pl.col("response").str.contains("compte|account"))
    assert repeated["category_raw"].to_list() == ["a-django.po"]


def test_po_pairs_rows_use_both_directions():
    directions = {direction for _, direction in benign.TRANSLATE_TEMPLATES}
    assert directions == {"en_fr", "fr_en"}
    for template, direction in benign.TRANSLATE_TEMPLATES:
        assert template.template_id.startswith(f"benign/translate_{direction}/")


def test_po_pairs_rows_empty_catalog_gives_an_empty_checked_frame(tmp_path):
    path = tmp_path / "empty.po"
    path.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n', encoding="utf-8")
    rows = benign.po_pairs_rows({"empty.po": path}, source("toy_fr", "fr"))
    assert rows.height == 0 and rows.schema == schema.ROW_SCHEMA


def test_po_catalog_with_a_placeholder_charset_reads_as_utf8(tmp_path):
    path = tmp_path / "template.po"
    path.write_text('msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=CHARSET\\n"\n\n'
                    'msgid "Your session expired, please sign in again."\n'
                    'msgstr "Votre session a expiré, veuillez vous reconnecter."\n', encoding="utf-8")
    rows = benign.po_pairs_rows({"template.po": path}, source("toy_fr", "fr"))
    assert rows.height == 1
    assert "expiré" in rows["prompt"][0] + rows["response"][0]


# What French rows looked like before catalogs in other languages were added: the same
# fixture must keep giving exactly these rows (ids, templates and prompts).
FRENCH_ROWS = [
    ("e9b6afee169bc4ed", "benign/translate_en_fr/labelled@v1",
     "Translate the following English sentence into French.\n\n"
     "English: The file %(name)s was saved to your account.\nFrench:"),
    ("aaaa17bce979fac9", "benign/translate_en_fr/interface@v1",
     "This message comes from a software user interface. Translate it into French, keeping any "
     "placeholders and markup exactly as they are.\n\n"
     "Please check the address you entered and try again in a few minutes."),
    ("395e1fb6f1f51469", "benign/translate_fr_en/plain@v1",
     "Translate the following text from French to English: "
     "Dites « bonjour » aux nouveaux membres de l’équipe."),
    ("7b83dbf718e47442", "benign/translate_en_fr/interface@v1",
     "This message comes from a software user interface. Translate it into French, keeping any "
     "placeholders and markup exactly as they are.\n\nOpen the file that you saved last time."),
    ("0c9cf51103128add", "benign/translate_en_fr/how@v1",
     "How would you say this in French?\n\nTabs and backslashes \\ are kept as written here."),
    ("e6a0f04a7d9995ed", "benign/translate_fr_en/meaning@v1",
     "What does this French sentence say in English? Give only the translation.\n\n"
     "Votre session a expiré, veuillez vous reconnecter."),
]
FRENCH_TEMPLATES = {
    "benign/translate_en_fr/plain@v1": "Translate into French:\n\n{text}",
    "benign/translate_en_fr/labelled@v1":
        "Translate the following English sentence into French.\n\nEnglish: {text}\nFrench:",
    "benign/translate_en_fr/interface@v1":
        "This message comes from a software user interface. Translate it into French, keeping any "
        "placeholders and markup exactly as they are.\n\n{text}",
    "benign/translate_en_fr/how@v1": "How would you say this in French?\n\n{text}",
    "benign/translate_fr_en/plain@v1": "Translate the following text from French to English: {text}",
    "benign/translate_fr_en/meaning@v1":
        "What does this French sentence say in English? Give only the translation.\n\n{text}",
}


def test_french_rows_are_unchanged(tmp_path):
    rows = benign.po_pairs_rows(po_files(tmp_path), source("toy_fr", "fr"))
    assert rows.select("id", "template_id", "prompt").rows() == FRENCH_ROWS
    assert {t.template_id: t.prompt for t, _ in benign.TRANSLATE_TEMPLATES} == FRENCH_TEMPLATES
    assert benign.translate_templates("fr") == benign.TRANSLATE_TEMPLATES


def catalog(pairs: list[tuple[str, str]], header: str = "charset=UTF-8") -> str:
    """A .po file holding ``pairs`` of (English, translation)."""
    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    body = [f'msgid ""\nmsgstr ""\n"Content-Type: text/plain; {header}\\n"\n']
    body += [f"msgid {quoted(english)}\nmsgstr {quoted(translation)}\n" for english, translation in pairs]
    return "\n".join(body)


# Messages with their human-style German translations; numbered, so there are
# enough rows for every template to be used.
GERMAN_PAIRS = [(f"Report number {n} was saved in the shared archive.",
                 f"Bericht Nummer {n} wurde im gemeinsamen Archiv gespeichert.") for n in range(1, 25)]
GERMAN_PAIRS += [
    ("The file %(name)s was saved to your account.", "Die Datei %(name)s wurde in Ihrem Konto gespeichert."),
    ("Save", "Speichern"),  # not a sentence
    ("Click <a href=\"%s\">here</a> to open the settings page.",
     "Klicken Sie hier, um die Einstellungen zu öffnen."),  # lost its link and placeholder
    ("This message was never translated into German.", "This message was never translated into German."),
]


def test_german_catalogs_give_german_rows_with_their_own_templates(tmp_path):
    path = tmp_path / "core-django.po"
    path.write_text(catalog(GERMAN_PAIRS), encoding="utf-8")
    rows = benign.po_pairs_rows({path.name: path}, source("toy_de", "de"))
    passes_check(rows)
    assert rows.height == 25
    german = dict(GERMAN_PAIRS)
    french_ids = {t.template_id for t, _ in benign.TRANSLATE_TEMPLATES}
    german_ids = {t.template_id for t, _ in benign.translate_templates("de")}
    assert not german_ids & french_ids
    assert set(rows["template_id"]) == german_ids  # 25 rows use all six templates
    for row in rows.iter_rows(named=True):
        assert "German" in row["prompt"] and "French" not in row["prompt"]
        if row["template_id"].startswith("benign/translate_en_de/"):
            english = next(en for en in german if en in row["prompt"])
            assert row["response"] == german[english]
        else:
            assert row["template_id"].startswith("benign/translate_de_en/")
            assert "from German to English" in row["prompt"] or "this German sentence" in row["prompt"]
            assert german[row["response"]] in row["prompt"]


def test_templates_name_their_language_both_ways():
    seen = set()
    for code, name in benign.LANGUAGES.items():
        templates = benign.translate_templates(code)
        assert {direction for _, direction in templates} == {f"en_{code}", f"{code}_en"}
        for template, direction in templates:
            assert template.template_id.startswith(f"benign/translate_{direction}/")
            assert name in template.prompt and "{text}" in template.prompt
            others = set(benign.LANGUAGES.values()) - {name}
            assert not any(other in template.prompt for other in others)
        ids = {template.template_id for template, _ in templates}
        assert len(ids) == len(templates) and not ids & seen
        seen |= ids
    assert benign.translate_templates("de")[0][0].prompt == "Translate into German:\n\n{text}"
    assert (benign.translate_templates("de")[4][0].prompt
            == "Translate the following text from German to English: {text}")


@pytest.mark.parametrize(("language", "translation", "full"), [
    ("ja", "ファイルを保存しました。", True),
    ("ja", "このページを削除してもよろしいですか？", True),
    ("ja", "保存しました", False),  # no stop
    ("ja", "保存。", False),  # too short
    ("es", "¿Está seguro de que quiere borrar esta página?", True),
    ("es", "¡Los cambios se guardaron correctamente!", True),
    ("es", "¿está seguro de que quiere borrar esta página?", False),
    ("de", "Die Datei wurde gespeichert.", True),
    ("de", "die Datei wurde gespeichert.", False),
    ("fr", "Le fichier a été enregistré", False),
])
def test_translated_sentence_rules_per_language(language, translation, full):
    assert benign.is_translated_sentence(translation, language) is full
    entry = benign.PoEntry(msgid="The file was saved to your account just now.", msgstr=translation)
    assert (benign.pair_skip_reason(entry, language) is None) is full


def test_japanese_catalogs_keep_sentences_ending_in_a_full_stop(tmp_path):
    pairs = [("The page %(title)s was published just now.", "ページ %(title)s を公開しました。"),
             ("Are you sure you want to delete this page?", "このページを削除してもよろしいですか？"),
             ("The requested page could not be found.", "ページが見つかりませんでした"),  # no stop
             ("The page %(title)s was deleted just now.", "ページを削除しました。")]  # lost %(title)s
    path = tmp_path / "core-django.po"
    path.write_text(catalog(pairs), encoding="utf-8")
    rows = benign.po_pairs_rows({path.name: path}, source("toy_ja", "ja"))
    passes_check(rows)
    assert rows.height == 2
    assert rows["prompt"].str.contains("Japanese").all()
    assert rows["template_id"].str.contains(r"^benign/translate_(en_ja|ja_en)/").all()
    assert not rows["prompt"].str.contains("見つかりません|削除しました").any()


@pytest.mark.parametrize("language", [None, "", "xx"])
def test_po_pairs_rows_need_a_known_language(tmp_path, language):
    path = tmp_path / "core-django.po"
    path.write_text(catalog(GERMAN_PAIRS[:2]), encoding="utf-8")
    with pytest.raises(BuildError, match="language"):
        benign.po_pairs_rows({path.name: path}, source("toy", language))


def test_every_po_source_names_the_language_of_its_catalogs():
    registry = load_registry()
    po_sources = [s for s in registry.values() if s.parser == "po_pairs"]
    assert {s.language for s in po_sources} >= {"fr", "de", "es", "it"}
    for po in po_sources:
        assert po.language in benign.LANGUAGES, po.name
        assert po.name.endswith(f"_{po.language}"), po.name
        for pinned in po.files:
            # the catalog folder is the language, possibly with a region (pt_BR)
            folder = re.search(r"/locale/([^/]+)/LC_MESSAGES/", pinned.member).group(1)
            assert folder.split("_")[0] == po.language, (po.name, pinned.member)
        assert len({pinned.name for pinned in po.files}) == len(po.files), po.name
    recipe = tomllib.loads((DATA / "recipes" / "v2.toml").read_text(encoding="utf-8"))
    po_names = {s.name for s in po_sources}
    assert po_names <= set(recipe["benign_sources"]) and po_names <= set(recipe["dedup"]["priority"])


def test_parse_po_rejects_garbage():
    with pytest.raises(SourcePinError, match="bad.po line 2"):
        benign.parse_po('msgid "Hello there."\nmsgfoo "x"\n', "bad.po")


# ------------------------------------------------------------- written rows

def write_jsonl(path: Path, items: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")


SUMMARY = {"id": "sum-001", "title": "A Title", "document": "Some document text.",
           "summary": "A summary.", "kind": "memo"}


def small_data_dir(tmp_path: Path) -> Path:
    write_jsonl(tmp_path / "benign" / "summarization.jsonl", [SUMMARY])
    return tmp_path


def test_written_rows_are_document_summaries(tmp_path):
    rows = benign.written_rows(small_data_dir(tmp_path))
    passes_check(rows)
    assert rows["task"].to_list() == ["summarization"]
    assert set(rows["subtype"]) == {"reference"} and set(rows["category"]) == {"none"}
    assert set(rows["source"]) == {"multitask-safety"} and set(rows["license"]) == {"MIT"}
    assert set(rows["action"]) == {"answer"} and set(rows["language"]) == {"en"}
    summary = rows.row(0, named=True)
    assert "Some document text." in summary["prompt"] and summary["response"] == "A summary."
    assert summary["category_raw"] == "memo" and summary["seed_id"] == "multitask-safety:sum-001"
    digest = hashlib.sha256((tmp_path / "benign" / "summarization.jsonl").read_bytes()).hexdigest()[:12]
    assert summary["source_version"] == f"data@{digest}"


def test_written_rows_reject_duplicate_ids_and_broken_lines(tmp_path):
    data_dir = small_data_dir(tmp_path)
    write_jsonl(data_dir / "benign" / "summarization.jsonl", [SUMMARY, SUMMARY])
    with pytest.raises(BuildError, match="appears twice"):
        benign.written_rows(data_dir)
    (data_dir / "benign" / "summarization.jsonl").write_text("{not json\n", encoding="utf-8")
    with pytest.raises(BuildError, match="line 1"):
        benign.written_rows(data_dir)
    (data_dir / "benign" / "summarization.jsonl").write_text('["a list"]\n', encoding="utf-8")
    with pytest.raises(BuildError, match="JSON object"):
        benign.written_rows(data_dir)


def test_written_rows_need_their_file(tmp_path):
    with pytest.raises(BuildError, match="summarization.jsonl"):
        benign.written_rows(tmp_path)


def test_written_rows_load_the_shipped_files():
    rows = benign.written_rows(DATA)
    passes_check(rows)
    assert rows.height >= 60 and set(rows["task"]) == {"summarization"}
    assert rows["source_version"].str.contains(r"^data@[0-9a-f]{12}$").all()
    assert set(rows["template_id"]) == {t.template_id for t in benign.SUMMARIZE_TEMPLATES}


def test_evaluation_prompts_read_humaneval(tmp_path):
    files = humaneval_file(tmp_path, PROBLEMS[:1])
    prompts = benign.evaluation_prompts(files, source("humaneval"))
    assert prompts.to_list() == [PROBLEMS[0]["prompt"]]


def test_po_pairs_give_the_raw_english_and_translation(tmp_path):
    pairs = benign.po_pairs(po_files(tmp_path), source("django_fr", "fr"))
    assert pairs.schema == benign.PAIR_SCHEMA
    assert pairs.height and not pairs["english"].str.contains("Traduire").any()
    assert pairs["seed_id"].n_unique() == pairs.height


def test_template_choice_is_stable_and_spread():
    picks = [benign.pick(f"seed:{n}", benign.SUMMARIZE_TEMPLATES).template_id for n in range(200)]
    assert picks == [benign.pick(f"seed:{n}", benign.SUMMARIZE_TEMPLATES).template_id for n in range(200)]
    assert set(picks) == {t.template_id for t in benign.SUMMARIZE_TEMPLATES}


# ------------------------------------------------ the project's own data files

ABBREVIATIONS = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|St|Jr|vs|etc|e\.g|i\.e|a\.m|p\.m)\.", re.IGNORECASE)


def sentences(text: str) -> int:
    text = ABBREVIATIONS.sub("ABBR", text)
    return len(re.findall(r"[.!?][\"”’)]?(?=\s+[A-Z\"“]|\s*$)", text))


def read_jsonl(name: str) -> list[dict]:
    lines = (DATA / "benign" / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_summarization_file():
    items = read_jsonl("summarization.jsonl")
    assert len(items) >= 60
    assert [item["id"] for item in items] == [f"sum-{n:03d}" for n in range(1, len(items) + 1)]
    assert len({item["title"] for item in items}) == len(items)
    assert len({item["kind"] for item in items}) >= 8
    for item in items:
        assert set(item) == set(benign.SUMMARY_FIELDS), item["id"]
        assert all(isinstance(value, str) and value.strip() for value in item.values()), item["id"]
        assert 150 <= len(item["document"].split()) <= 350, item["id"]
        # templates ask for "2-3 sentences", so every summary must fit that
        assert 2 <= sentences(item["summary"]) <= 3, item["id"]
        assert len(item["summary"].split()) < len(item["document"].split()) / 2, item["id"]


def test_direct_file():
    items = read_jsonl("direct.jsonl")
    assert len(items) >= 150
    assert [item["id"] for item in items] == [f"dir-{n:03d}" for n in range(1, len(items) + 1)]
    assert len({item["prompt"].casefold() for item in items}) == len(items)
    topics = {item["topic"] for item in items}
    assert len(topics) >= 8
    for item in items:
        assert set(item) == {"id", "topic", "prompt", "response"}, item["id"]
        assert all(isinstance(value, str) and value.strip() for value in item.values()), item["id"]
        assert 40 <= len(item["response"].split()) <= 150, item["id"]
        assert item["response"].count("```") % 2 == 0, item["id"]


def test_python_in_direct_answers_parses():
    blocks = [block for item in read_jsonl("direct.jsonl")
              for block in re.findall(r"```python\n(.*?)```", item["response"], re.S)]
    assert len(blocks) >= 5
    for block in blocks:
        ast.parse(block)


def test_every_benign_source_has_a_parser():
    pins = tomllib.loads((DATA / "sources.toml").read_text(encoding="utf-8"))
    parsers = {entry["parser"] for entry in pins.values() if entry["role"] == "benign"}
    assert parsers and parsers <= set(benign.BENIGN_PARSERS)


# ------------------------------------------- the real pinned files, when at hand

# A build with the default cache (as `build-dataset --version v2` in CI runs before the tests)
# leaves the verified pinned files here; the tests' own cache is a fresh tmp folder.
USER_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "multitask-safety"
REAL_SOURCES = ("humaneval", "vader", "django_fr", "sphinx_fr")


def real_files(name: str, pins: dict, out: Path) -> dict[str, Path]:
    files = {}
    for pin in pins[name]["files"]:
        path = USER_CACHE / name / pin["name"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == pin["sha256"], pin["name"]
        files[pin["name"]] = path
    return files


def _cached(name: str) -> bool:
    pins = tomllib.loads((DATA / "sources.toml").read_text(encoding="utf-8"))
    return all((USER_CACHE / name / pin["name"]).is_file() for pin in pins[name]["files"])


@pytest.mark.skipif(not all(_cached(name) for name in REAL_SOURCES),
                    reason="the pinned benign files are not in the user cache (run build-dataset --version v2)")
def test_parsers_on_the_real_pinned_files(tmp_path):
    pins = tomllib.loads((DATA / "sources.toml").read_text(encoding="utf-8"))
    frames = {}
    for name in REAL_SOURCES:
        parser = benign.BENIGN_PARSERS[pins[name]["parser"]]
        meta = SimpleNamespace(name=name, version=pins[name]["version"], license=pins[name]["license"],
                               language=pins[name].get("language"))
        frames[name] = parser(real_files(name, pins, tmp_path), meta)
        passes_check(frames[name])
    assert frames["humaneval"].height == 164
    vader = frames["vader"].with_columns(
        label=pl.col("response").str.to_lowercase().str.extract(r"(positive|negative|neutral)"))
    cells = vader.group_by("category_raw", "label").len()
    assert cells["len"].to_list() == [benign.VADER_PER_CELL] * 11  # no neutral movie snippets
    assert vader.height == 11 * benign.VADER_PER_CELL
    assert frames["django_fr"].height >= 100 and frames["sphinx_fr"].height >= 50
    everything = pl.concat([*frames.values(), benign.written_rows(DATA)])
    schema.check(everything, "benign")  # ids stay unique across all benign rows


PO_SOURCES = sorted(name for name, entry in tomllib.loads((DATA / "sources.toml").read_text(encoding="utf-8"))
                    .items() if entry["parser"] == "po_pairs")


@pytest.mark.parametrize("name", PO_SOURCES)
def test_real_catalogs_give_pairs_in_their_language(name, tmp_path):
    if not _cached(name):
        pytest.skip(f"the pinned files of {name} are not in the user cache (run build-dataset --version v2)")
    pins = tomllib.loads((DATA / "sources.toml").read_text(encoding="utf-8"))
    language = pins[name]["language"]
    meta = SimpleNamespace(name=name, version=pins[name]["version"], license=pins[name]["license"],
                           language=language)
    rows = benign.po_pairs_rows(real_files(name, pins, tmp_path), meta)
    passes_check(rows)
    assert rows.height >= 50
    assert rows["prompt"].str.contains(benign.LANGUAGES[language]).all()
    assert rows["template_id"].str.contains(f"^benign/translate_(en_{language}|{language}_en)/").all()
