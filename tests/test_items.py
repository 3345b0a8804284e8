"""Benign items: loaded, checked, and laid out for every template that can carry them."""

import json
import re
import tomllib
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from builders import compose
from builders.errors import BuildError
from builders.items import ITEM_SCHEMA, LOOKALIKE_TYPES, load_items
from builders.language import detect
from builders.render import load_forms, templates_by_id

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
TAXONOMY = tomllib.loads((DATA / "taxonomy.toml").read_text(encoding="utf-8"))
TEMPLATES = templates_by_id()
HOWTO = {"id": "h1", "request": "How do I repot a houseplant?", "kind": "question", "topic": "gardening",
         "answer": "Pick a pot one size up and loosen the roots.", "summary": "The writer asks how to repot a plant.",
         "steps": ["Water the plant a day before", "Ease it out of the old pot", "Set it in fresh compost"],
         "difficulty": "EASY", "method": "PHYSICAL"}


def write(folder: Path, name: str, items: list[dict]) -> None:
    path = folder / "benign" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")


def test_items_of_every_kind_load_into_the_item_schema(tmp_path):
    write(tmp_path, "items/home.jsonl", [HOWTO])
    write(tmp_path, "translation/fr.jsonl", [{"id": "t1", "request": "Suggest a name for a cat.",
                                               "kind": "instruction", "language": "fr",
                                               "translation": "Propose un nom pour un chat.",
                                               "answer": "Pourquoi pas Moustache ?"}])
    write(tmp_path, "code/python.jsonl", [{"id": "c1", "request": "Add two numbers.", "language": "python",
                                            "solution": "def add(a: int, b: int) -> int:\n    return a + b",
                                            "demo": "print(add(1, 2))", "test": "assert add(1, 2) == 3"}])
    write(tmp_path, "lookalikes/homonyms.jsonl", [{**HOWTO, "id": "l1", "request": "How do I kill a Python process?",
                                                   "category": "cyber", "lookalike_type": "homonyms"}])
    items = load_items(tmp_path, TAXONOMY)
    assert items.schema == ITEM_SCHEMA
    by_id = {r["seed_id"].split(":")[1]: r for r in items.iter_rows(named=True)}
    assert by_id["l1"]["subtype"] == "lookalike" and by_id["l1"]["category"] == "cyber"
    assert by_id["h1"]["subtype"] == "reference" and by_id["h1"]["category"] == "none"
    assert json.loads(by_id["t1"]["fields"]) == {"translations": {"fr": {"text": "Propose un nom pour un chat.",
                                                                          "answer": "Pourquoi pas Moustache ?"}},
                                                 "request": "Suggest a name for a cat."}
    assert json.loads(by_id["c1"]["fields"])["code"]["language"] == "python"
    assert set(items["action"]) == {"answer"} and items["stratum"].n_unique() == 4


@pytest.mark.parametrize(("change", "message"), [
    ({"difficulty": "TRIVIAL"}, "difficulty"),
    ({"kind": "poem"}, "kind"),
    ({"request": ""}, "request"),
    ({"lookalike_type": "jokes"}, "lookalike_type"),
    ({"category": "weapons"}, "category"),
])
def test_bad_items_are_build_errors_naming_the_line(tmp_path, change, message):
    write(tmp_path, "items/home.jsonl", [{**HOWTO, **change}])
    with pytest.raises(BuildError, match=message):
        load_items(tmp_path, TAXONOMY)


def test_duplicate_ids_are_build_errors(tmp_path):
    write(tmp_path, "items/a.jsonl", [HOWTO])
    write(tmp_path, "items/b.jsonl", [HOWTO])
    with pytest.raises(BuildError, match="used twice"):
        load_items(tmp_path, TAXONOMY)


def test_layouts_read_as_a_person_would_write_them():
    steps = {**HOWTO, "steps": ["Water it", "Loosen the roots", "Move it to a bigger pot", "Finish with fresh soil"]}
    paragraph = compose.compose(steps, TEMPLATES["summarization/steps_paragraph@v1"])
    assert paragraph == "Water it. Then loosen the roots. Move it to a bigger pot. Finish with fresh soil."
    assert compose.compose(steps, TEMPLATES["classification/label_method@v1"]).startswith(
        "PHYSICAL\n\nIt is mainly hands-on work with physical things. Water it.")
    sheet = compose.compose({**HOWTO, "summary": "The writer wants to repot a fern."},
                            TEMPLATES["summarization/cheat_sheet@v1"])
    assert sheet.startswith("**Goal:** Repot a fern.")
    plan = compose.compose({**HOWTO, "request": "Plan a picnic for six"}, TEMPLATES["classification/best_option@v1"])
    assert plan.startswith("D) A complete, ready-to-use plan.")
    assert compose.compose(HOWTO, TEMPLATES["classification/best_option@v1"]).startswith("B) ")
    assert compose.compose({"answer": "Yes."}, TEMPLATES["direct/thorough@v1"]) is None


def test_every_template_can_lay_out_a_complete_item():
    item = {**HOWTO, "translations": {lang: {"text": "x", "answer": "y"} for lang in
                                      ("fr", "de", "es", "it", "pt", "ja", "zh")}}
    for template in TEMPLATES.values():
        if template.form == "code":
            continue
        assert compose.compose(item, template), template.id
    # And says so when an item lacks what a layout needs.
    assert compose.compose({"answer": "Hi."}, TEMPLATES["summarization/steps_list@v1"]) is None
    assert compose.compose({"answer": "Hi."}, TEMPLATES["translation/en_fr@v1"]) is None


def test_code_layouts_follow_the_template_language():
    py = {"code": {"language": "python", "solution": "def f() -> int:\n    # the one answer\n    return 1",
                   "demo": "print(f())", "test": "assert f() == 1", "pseudocode": "return one"}}
    script = compose.compose(py, TEMPLATES["code/script@v1"])
    assert "def main() -> None:\n    print(f())" in script and 'if __name__ == "__main__":' in script
    # A script asked to be explained needs comments of its own; the example script does not.
    bare = {"code": {**py["code"], "solution": "def f() -> int:\n    return 1"}}
    assert compose.compose(bare, TEMPLATES["code/script@v1"]) is None
    assert compose.compose(bare, TEMPLATES["code/python_example_script@v1"])
    assert compose.compose(py, TEMPLATES["code/bash@v1"]) is None
    assert compose.compose(py, TEMPLATES["code/pseudocode_then_python@v1"]).startswith("Pseudocode:")


# ------------------------------------------------------------------ shipped items


@pytest.fixture(scope="module")
def shipped() -> pl.DataFrame:
    return load_items(DATA, TAXONOMY)


def test_shipped_items_load(shipped):
    assert shipped.height >= 1000
    assert shipped["request"].n_unique() == shipped.height


def test_lookalikes_cover_the_ten_types_and_categories(shipped):
    looks = shipped.filter(pl.col("subtype") == "lookalike")
    assert looks.height >= 500
    assert set(looks["lookalike_type"]) == set(LOOKALIKE_TYPES)
    assert set(looks["category"]) == set(TAXONOMY["categories"])
    assert min(Counter(looks["lookalike_type"]).values()) >= 40


def test_every_form_has_benign_items_it_can_render(shipped):
    forms = load_forms()
    for form in forms.values():
        fits = 0
        for fields in shipped["fields"].to_list()[::3]:
            item = json.loads(fields)
            fits += any(compose.compose(item, t) is not None for t in form.templates)
        assert fits >= 100, form.name


def test_translated_answers_read_as_their_language(shipped):
    checked = 0
    for fields in shipped["fields"].to_list():
        for language, entry in json.loads(fields).get("translations", {}).items():
            for text in filter(None, (entry.get("answer"),)):
                if len(text.split()) >= 8 or language in ("ja", "zh"):
                    assert detect(text) == language, text
                    checked += 1
    assert checked >= 300


def test_item_labels_are_accurate_words():
    for path in sorted((DATA / "benign").glob("*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            for step in item.get("steps", []):
                assert not re.match(r"^\s*(\d+[.)]|-|\*)\s", step), (path.name, item["id"], step)
            assert not re.search(r"\bas an ai\b", json.dumps(item).lower()), item["id"]


def test_into_english_templates_are_the_papers_own_form():
    from builders.benign import LANGUAGES
    from builders.render import PAPER_PROMPT

    paper = {t.source_language: t for t in TEMPLATES.values() if t.source_language}
    assert set(paper) == {"fr", "de", "es", "it", "pt", "ja", "zh"}
    for code, template in paper.items():
        assert template.text == PAPER_PROMPT.format(language=LANGUAGES[code], request="{request}")
        assert template.id == f"translation/paper_from_{code}@v1" and template.target == "en"
    item = {**HOWTO, "translations": {"fr": {"text": "Comment rempoter une plante ?", "answer": "…"}}}
    assert compose.compose(item, paper["fr"]) == HOWTO["request"]
    assert compose.compose(item, paper["de"]) is None
    assert compose.response_language(paper["fr"], "benign") == "en"
