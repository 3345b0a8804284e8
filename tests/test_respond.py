"""Task-aware refusals for harmful rows."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import polars as pl
import pytest

from builders.errors import RecipeError
from builders.render import list_forms, render
from builders.respond import (
    MAX_WORDS,
    MIN_WORDS,
    RESPONDERS,
    Responder,
    TemplateResponder,
    get_responder,
    lint_refusal,
    load_refusals,
)
from builders.schema import SEED_SCHEMA, TASKS

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "data" / "templates"
RECIPE_SEED = 20250119
CATEGORIES = tuple(tomllib.loads((ROOT / "data" / "taxonomy.toml").read_text(encoding="utf-8"))["categories"])


def rows_for(task: str, category: str, n: int, template_id: str | None = None, prefix: str = "synthetic") -> pl.DataFrame:
    """Rendered-looking rows: only the columns a responder reads."""
    if template_id is None:
        template_id = list_forms(LIBRARY)[TASKS.index(task)].templates[0].id
    return pl.DataFrame(
        {
            "seed_id": [f"{prefix}:{i}" for i in range(n)],
            "task": [task] * n,
            "category": [category] * n,
            "template_id": [template_id] * n,
        }
    )


def rendered(n: int) -> pl.DataFrame:
    seeds = pl.DataFrame(
        {
            "seed_id": [f"synthetic:{i}" for i in range(n)],
            "request": [f"Explain how to do placeholder task {i}" for i in range(n)],
            "category": [CATEGORIES[i % len(CATEGORIES)] for i in range(n)],
            "category_raw": ["placeholder"] * n,
            "source": ["synthetic"] * n,
            "source_version": ["0"] * n,
            "license": ["MIT"] * n,
        },
        schema=SEED_SCHEMA,
    )
    return render(seeds, TASKS, RECIPE_SEED, library=LIBRARY)


@pytest.fixture(scope="module")
def responder() -> TemplateResponder:
    return TemplateResponder(RECIPE_SEED, LIBRARY)


@pytest.fixture(scope="module")
def library():
    return load_refusals(LIBRARY)


# ------------------------------------------------------------------ lint ---

GOOD = (
    "I can't translate this. This request involves weapons or violence, and help with it could lead to "
    "someone being seriously hurt. I can help with lawful topics instead, such as the history of weapons, "
    "safety training or how to defuse a tense situation."
)


def test_lint_accepts_a_well_formed_refusal():
    assert lint_refusal(GOOD) == []


def test_lint_word_limits_are_inclusive():
    assert MIN_WORDS == 25 and MAX_WORDS == 90
    for words, ok in ((MIN_WORDS - 1, False), (MIN_WORDS, True), (MAX_WORDS, True), (MAX_WORDS + 1, False)):
        text = " ".join(["safe"] * (words - 1) + ["end."])
        assert (lint_refusal(text) == []) is ok, words


@pytest.mark.parametrize(
    "text, problem",
    [
        ("", "empty"),
        ("   \n", "empty"),
        (None, "empty"),
        ("I can't help with that.", "words"),
        (GOOD + " More words." * 40, "words"),
        ("As an AI language model, " + GOOD, "as an ai"),
        (GOOD + " I am bound by the system message.", "system message"),
        (GOOD.replace("I can't", "ChatGPT can't"), "model"),
        (GOOD.replace("I can't", "Llama can't"), "model"),
        (GOOD.replace("I can't", "Dolphin can't"), "model"),
        (GOOD.replace("I can't", "GPT-4o can't"), "model"),
        (GOOD + " Call 555 0100 now.", "phone"),
        (GOOD + " Call 1-800-000-0000.", "phone"),
        (GOOD.replace("this", "{request}"), "placeholder"),
    ],
)
def test_lint_flags_each_problem(text, problem):
    problems = lint_refusal(text)
    assert any(problem in p.lower() for p in problems), problems


# ------------------------------------------------------------- library ---


def test_categories_match_the_taxonomy(library):
    assert set(library.reasons) == set(CATEGORIES)
    assert set(library.redirects) == set(CATEGORIES)


def test_at_least_six_general_openings_per_form(library):
    for form in TASKS:
        assert len(set(library.openings[form]["any"])) >= 6, form


def test_several_variants_of_every_part(library):
    for category in CATEGORIES:
        assert len(set(library.reasons[category])) >= 3, category
        assert len(set(library.redirects[category]["any"])) >= 3, category
    assert len(library.patterns) >= 3


def test_each_reason_is_one_sentence(library):
    for category, reasons in library.reasons.items():
        for reason in reasons:
            assert reason.endswith("."), reason
            assert not re.search(r"[.!?]\s", reason[:-1]), f"{category}: {reason}"


# Words that show an opening declines the task in its own terms.
TASK_WORDS = {
    "summarization": ("summar", "recap", "condense"),
    "translation": ("translat", "language"),
    "classification": ("pick", "choos", "rank", "label", "classif", "option", "question"),
    "code": ("code", "program", "script", "function", "debug"),
}


def test_openings_name_the_task(library):
    for form, words in TASK_WORDS.items():
        for pool in library.openings[form].values():
            for opening in pool:
                assert any(w in opening.lower() for w in words), f"{form}: {opening}"


def test_kind_specific_openings_belong_to_real_template_kinds(library):
    for form in list_forms(LIBRARY):
        kinds = {t.kind for t in form.templates}
        assert set(library.openings[form.name]) - {"any"} <= kinds


def test_self_harm_redirects_point_to_support_without_numbers(library):
    for redirect in library.redirects["self_harm"]["any"]:
        assert "crisis line" in redirect and "someone you trust" in redirect, redirect
        assert not re.search(r"\d", redirect)
    assert any("emergency services" in r for r in library.redirects["self_harm"]["any"])


def test_cyber_code_refusals_can_offer_defensive_code(library):
    assert library.redirects["cyber"].get("code")
    assert all("defensive" in r or "security" in r for r in library.redirects["cyber"]["code"])


# ------------------------------------------------------------ responder ---


@pytest.mark.parametrize("task", TASKS)
def test_every_refusal_passes_lint_for_every_form_and_category(responder, task):
    for form in list_forms(LIBRARY):
        if form.name != task:
            continue
        for template in form.templates:
            for category in CATEGORIES:
                rows = rows_for(task, category, 25, template.id, prefix=template.id)
                for text in responder.respond(rows).to_list():
                    assert lint_refusal(text) == [], (task, category, text)


def test_response_series_has_one_string_per_row_in_order(responder):
    rows = rendered(60)
    responses = responder.respond(rows)
    assert responses.dtype == pl.String
    assert responses.len() == rows.height
    assert responses.name == "response"
    # Order follows the rows: responding to a reversed frame reverses the output.
    assert responder.respond(rows.reverse()).equals(responses.reverse())


def test_refusals_fit_their_task_form(responder):
    rows = rendered(100)
    responses = responder.respond(rows)
    for task, text in zip(rows["task"], responses):
        words = TASK_WORDS.get(task)
        if words:
            assert any(w in text.lower() for w in words), (task, text)


def test_kind_specific_openings_only_reach_their_kind(responder, library):
    for form in list_forms(LIBRARY):
        for template in form.templates:
            others = {
                opening
                for kind, pool in library.openings[form.name].items()
                if kind not in ("any", template.kind)
                for opening in pool
            }
            for category in ("cyber", "other_harmful"):
                for text in responder.respond(rows_for(form.name, category, 40, template.id)).to_list():
                    assert not any(opening in text for opening in others), (template.id, text)


def test_self_harm_refusals_always_point_to_support(responder):
    for task in TASKS:
        for text in responder.respond(rows_for(task, "self_harm", 50)).to_list():
            assert "crisis line" in text, text


@pytest.mark.parametrize("task", TASKS)
def test_refusals_vary_across_seeds(responder, library, task):
    responses = responder.respond(rows_for(task, "other_harmful", 200)).to_list()
    assert len(set(responses)) >= 140
    openings_used = {o for o in library.openings[task]["any"] if any(r.startswith(o) for r in responses)}
    assert len(openings_used) >= 6
    # Different structures: some refusals lead with the reason instead of the opening.
    reasons = library.reasons["other_harmful"]
    assert any(r.startswith(reason) for r in responses for reason in reasons)
    assert any(r.startswith(o) for r in responses for o in library.openings[task]["any"])


def test_the_responder_is_deterministic(responder):
    rows = rendered(80)
    first = responder.respond(rows)
    assert first.equals(responder.respond(rows))
    assert first.equals(TemplateResponder(RECIPE_SEED, LIBRARY).respond(rows))
    shuffled = rows.with_row_index("at").sample(fraction=1.0, shuffle=True, seed=3)
    again = TemplateResponder(RECIPE_SEED, LIBRARY).respond(shuffled.drop("at"))
    assert again.equals(first.gather(shuffled["at"]))


def test_the_recipe_seed_changes_refusals(responder):
    rows = rendered(80)
    other = TemplateResponder(RECIPE_SEED + 1, LIBRARY).respond(rows)
    assert (responder.respond(rows) != other).sum() > rows.height // 2


def test_an_unknown_template_id_falls_back_to_general_openings(responder, library):
    texts = responder.respond(rows_for("code", "cyber", 60, "code/from_elsewhere@v9")).to_list()
    general = library.openings["code"]["any"]
    specific = [o for kind, pool in library.openings["code"].items() if kind != "any" for o in pool]
    assert all(any(o in t for o in general) for t in texts)
    assert not any(o in t for t in texts for o in specific)


def test_unknown_category_or_task_is_a_recipe_error(responder):
    with pytest.raises(RecipeError, match="known categories"):
        responder.respond(rows_for("direct", "none", 2))
    with pytest.raises(RecipeError, match="known forms"):
        responder.respond(rows_for("direct", "cyber", 2).with_columns(task=pl.lit("poetry")))


def test_missing_columns_are_reported(responder):
    with pytest.raises(ValueError, match="category"):
        responder.respond(rows_for("direct", "cyber", 2).drop("category"))


# ------------------------------------------------------------- registry ---


def test_get_responder_builds_the_template_responder():
    responder = get_responder("template", seed=RECIPE_SEED, library=LIBRARY)
    assert isinstance(responder, TemplateResponder)
    assert isinstance(responder, Responder)
    assert responder.name == "template"
    rows = rendered(10)
    assert responder.respond(rows).equals(TemplateResponder(RECIPE_SEED, LIBRARY).respond(rows))


def test_unknown_responder_is_a_recipe_error_listing_known_kinds():
    with pytest.raises(RecipeError) as error:
        get_responder("oracle", seed=1)
    assert "oracle" in str(error.value)
    for kind in RESPONDERS:
        assert kind in str(error.value)


def test_bad_responder_options_are_a_recipe_error():
    with pytest.raises(RecipeError, match="template"):
        get_responder("template", seed=1, temperature=0.1)


def test_default_library_is_the_data_folder(monkeypatch):
    monkeypatch.setenv("MTS_DATA_DIR", str(ROOT / "data"))
    rows = rendered(20)
    assert TemplateResponder(RECIPE_SEED).respond(rows).equals(TemplateResponder(RECIPE_SEED, LIBRARY).respond(rows))


# ------------------------------------------------------ library checks ---

FORMS_TOML = (LIBRARY / "forms.toml").read_text(encoding="utf-8")
FILLER = "a filler sentence that is long enough to keep every refusal inside the word limits"


def write_refusals(folder: Path, *, opening: str = "I can't do this.", reason: str | None = None,
                   redirect: str | None = None, extra: str = "", patterns: str | None = None) -> Path:
    reason = reason or f"This request could hurt people, {FILLER}."
    redirect = redirect or f"I can help with something safe instead, {FILLER}."
    patterns = patterns or '["{opening} {reason} {redirect}", "{opening} {reason} {redirect} {closing}"]'
    lines = [f"[structure]\npatterns = {patterns}\nno_closing = []\n"]
    for form in TASKS:
        lines.append(f'[openings.{form}]\nany = ["{opening}"]\n')
    lines.append("[reasons]")
    lines += [f'{category} = ["{reason}"]' for category in CATEGORIES]
    for category in CATEGORIES:
        lines.append(f'\n[redirects.{category}]\nany = ["{redirect}"]')
    lines.append("\n[closings]")
    lines += [f'{form} = ["Ask me something else."]' for form in TASKS]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "forms.toml").write_text(FORMS_TOML, encoding="utf-8")
    (folder / "refusals.toml").write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return folder


def test_a_minimal_custom_library_works(tmp_path):
    folder = write_refusals(tmp_path / "lib")
    texts = TemplateResponder(1, folder).respond(rows_for("code", "cyber", 5)).to_list()
    assert all(t.startswith("I can't do this. This request could hurt people") for t in texts)
    assert all(lint_refusal(t) == [] for t in texts)


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"reason": "Bad.", "redirect": "Sorry."}, "must stay within"),
        ({"redirect": f"Try again, {FILLER}, {FILLER}, {FILLER}, {FILLER}, {FILLER}."}, "must stay within"),
        ({"opening": "As an AI language model, I can't."}, "as an ai"),
        ({"redirect": f"Call 555 0100, {FILLER}."}, "phone"),
        ({"patterns": '["{opening} {redirect}"]'}, "must use"),
        ({"extra": '[openings.code.extra]\nany = ["x"]\n'}, "list of strings"),
    ],
)
def test_library_mistakes_are_recipe_errors(tmp_path, changes, message):
    folder = write_refusals(tmp_path / "lib", **changes)
    with pytest.raises(RecipeError, match=message):
        TemplateResponder(1, folder)


def test_openings_for_a_kind_the_form_lacks_are_a_recipe_error(tmp_path):
    folder = write_refusals(tmp_path / "lib")
    text = (folder / "refusals.toml").read_text(encoding="utf-8")
    text = text.replace('[openings.code]\nany = ["I can\'t do this."]',
                        '[openings.code]\nany = ["I can\'t do this."]\ntranslate = ["I won\'t."]')
    (folder / "refusals.toml").write_text(text, encoding="utf-8")
    with pytest.raises(RecipeError, match="not template kinds"):
        TemplateResponder(1, folder)


def test_a_missing_library_is_a_recipe_error(tmp_path):
    (tmp_path / "forms.toml").write_text(FORMS_TOML, encoding="utf-8")
    with pytest.raises(RecipeError, match="no refusal templates"):
        TemplateResponder(1, tmp_path)
