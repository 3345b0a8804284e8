"""Checks on the hand-written benign look-alike set (data/benign/lookalikes.jsonl).

Each row is a safe request that borrows the words or topic of one harm category,
paired with the helpful answer a model should give instead of refusing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from builders.schema import TASKS

ROOT = Path(__file__).parent.parent
LOOKALIKES = ROOT / "data/benign/lookalikes.jsonl"
TAXONOMY = ROOT / "data/taxonomy.toml"

KEYS = {"id", "category", "task", "prompt", "response"}
MIN_PER_CATEGORY = 30
MIN_PER_CATEGORY_TASK = 5
# Code answers carry a program plus its explanation, so they may run longer.
WORD_RANGE = {"code": (30, 450)}
DEFAULT_WORD_RANGE = (30, 200)
REFUSALS = (
    "i can't",
    "i can’t",
    "i cannot help",
    "i cannot assist",
    "i'm sorry, but",
    "i’m sorry, but",
    "i won't help",
    "as an ai",
)
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)
# Answers point to "a crisis line" or "emergency services", never to a specific number.
PHONE_NUMBER = re.compile(r"\(\d{3}\)\s*\d{3}-\d{4}|\b\d{3}[-.]\d{3}[-.]\d{4}\b|\b1-8\d\d-")
TRANSLATION_PROMPT = re.compile(r"^Translate into (French|Spanish|German): \S")
# Frequent function words, enough to tell the three target languages from English.
FUNCTION_WORDS = {
    "French": {"le", "la", "les", "des", "du", "et", "est", "une", "pour", "dans", "que", "qui"},
    "Spanish": {"el", "la", "los", "las", "y", "que", "de", "una", "por", "para", "con", "en"},
    "German": {"der", "die", "das", "und", "ist", "ein", "eine", "nicht", "mit", "den", "zu", "sich"},
}
CLASSIFICATION_CUES = ("Classify", "Label", "Choose the best option")


def _rows() -> list[dict]:
    return [json.loads(line) for line in LOOKALIKES.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return _rows()


@pytest.fixture(scope="module")
def categories() -> list[str]:
    return list(tomllib.loads(TAXONOMY.read_text(encoding="utf-8"))["categories"])


def _code_blocks(row: dict) -> list[tuple[str, str]]:
    return FENCE.findall(row["response"])


def test_every_line_is_a_json_object():
    lines = LOOKALIKES.read_text(encoding="utf-8").splitlines()
    assert lines, "the look-alike file is empty"
    for number, line in enumerate(lines, start=1):
        assert line.strip(), f"line {number} is blank"
        assert isinstance(json.loads(line), dict), f"line {number} is not a JSON object"


def test_rows_have_exactly_the_required_string_fields(rows):
    for row in rows:
        assert set(row) == KEYS, f"{row.get('id')}: keys {sorted(row)}"
        assert all(isinstance(row[k], str) for k in KEYS), row["id"]


def test_ids_are_unique_and_name_their_category(rows):
    counts = Counter(row["id"] for row in rows)
    assert [i for i, n in counts.items() if n > 1] == []
    for row in rows:
        assert re.fullmatch(rf"la-{re.escape(row['category'])}-\d{{3}}", row["id"]), row["id"]


def test_categories_and_tasks_are_known(rows, categories):
    assert {row["category"] for row in rows} <= set(categories)
    assert {row["task"] for row in rows} <= set(TASKS)


def test_every_category_has_enough_rows(rows, categories):
    counts = Counter(row["category"] for row in rows)
    short = {c: counts[c] for c in categories if counts[c] < MIN_PER_CATEGORY}
    assert short == {}, f"categories below {MIN_PER_CATEGORY} rows: {short}"


def test_every_category_covers_every_task_form(rows, categories):
    counts = Counter((row["category"], row["task"]) for row in rows)
    short = {
        f"{c}/{t}": counts[(c, t)]
        for c in categories
        for t in TASKS
        if counts[(c, t)] < MIN_PER_CATEGORY_TASK
    }
    assert short == {}, f"(category, task) pairs below {MIN_PER_CATEGORY_TASK} rows: {short}"


def test_prompts_and_responses_are_not_blank(rows):
    blank = [row["id"] for row in rows if not row["prompt"].strip() or not row["response"].strip()]
    assert blank == []


def test_response_lengths_are_in_range(rows):
    bad = []
    for row in rows:
        low, high = WORD_RANGE.get(row["task"], DEFAULT_WORD_RANGE)
        words = len(row["response"].split())
        if not low <= words <= high:
            bad.append(f"{row['id']}: {words} words (want {low}-{high})")
    assert bad == []


def test_responses_never_refuse(rows):
    refusing = [
        row["id"] for row in rows if any(phrase in row["response"].lower() for phrase in REFUSALS)
    ]
    assert refusing == []


def test_no_duplicate_prompts(rows):
    normalized = Counter(" ".join(row["prompt"].casefold().split()) for row in rows)
    assert [p[:60] for p, n in normalized.items() if n > 1] == []


def test_no_phone_numbers(rows):
    found = [
        row["id"]
        for row in rows
        if PHONE_NUMBER.search(row["prompt"]) or PHONE_NUMBER.search(row["response"])
    ]
    assert found == []


def test_summarization_prompts_carry_the_text_to_summarize(rows):
    for row in (r for r in rows if r["task"] == "summarization"):
        assert row["prompt"].startswith("Summarize"), row["id"]
        instruction, _, passage = row["prompt"].partition("\n\n")
        assert len(passage.split()) >= 60, f"{row['id']}: passage too short or missing"
        # A summary is shorter than what it summarizes.
        assert len(row["response"].split()) < len(passage.split()), row["id"]


def test_translation_prompts_name_a_language_and_answers_are_in_it(rows):
    for row in (r for r in rows if r["task"] == "translation"):
        match = TRANSLATION_PROMPT.match(row["prompt"])
        assert match, f"{row['id']}: prompt must start 'Translate into <language>: '"
        words = set(re.findall(r"[a-zäöüßàâçéèêëîïôûùñáíóú]+", row["response"].lower()))
        hits = words & FUNCTION_WORDS[match.group(1)]
        assert len(hits) >= 3, f"{row['id']}: answer does not read as {match.group(1)}"
        source = row["prompt"][match.end() - 1 :].strip()
        assert row["response"].strip() != source, f"{row['id']}: answer repeats the source"


def test_classification_prompts_ask_for_a_label_or_choice(rows):
    for row in (r for r in rows if r["task"] == "classification"):
        assert any(cue in row["prompt"] for cue in CLASSIFICATION_CUES), row["id"]
        if "Choose the best option" in row["prompt"]:
            options = re.findall(r"^([A-D])\) ", row["prompt"], flags=re.M)
            assert options == ["A", "B", "C", "D"], f"{row['id']}: options {options}"
            assert re.match(r"[A-D]\) ", row["response"]), f"{row['id']}: answer must name an option"


def test_code_responses_contain_a_fenced_block(rows):
    missing = [row["id"] for row in rows if row["task"] == "code" and not _code_blocks(row)]
    assert missing == []
    languages = {lang for row in rows if row["task"] == "code" for lang, _ in _code_blocks(row)}
    assert languages <= {"python", "bash"}, languages


def test_python_blocks_compile(rows):
    blocks = [(row["id"], code) for row in rows for lang, code in _code_blocks(row) if lang == "python"]
    assert blocks, "no python code blocks found"
    for row_id, code in blocks:
        try:
            compile(code, row_id, "exec")
        except SyntaxError as err:
            pytest.fail(f"{row_id}: {err}")


def test_bash_blocks_parse(rows):
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash is not installed")
    blocks = [(row["id"], code) for row in rows for lang, code in _code_blocks(row) if lang == "bash"]
    assert blocks, "no bash code blocks found"
    for row_id, code in blocks:
        result = subprocess.run([bash, "-n"], input=code, text=True, capture_output=True)
        assert result.returncode == 0, f"{row_id}: {result.stderr}"
