"""Refusals that name what they decline, in the user's language, and the lint every response passes."""

import json
import re
import tomllib
from pathlib import Path

import polars as pl
import pytest

from builders.errors import RecipeError
from builders.language import detect
from builders.render import load_forms, templates_by_id
from builders.respond import (
    OPENING_KINDS,
    RESPONDERS,
    TemplateResponder,
    get_responder,
    lint_refusal,
    lint_row,
    load_refusals,
    refusal_languages,
)

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "data" / "templates"
TAXONOMY = tomllib.loads((ROOT / "data" / "taxonomy.toml").read_text(encoding="utf-8"))
SUBCATEGORIES = [(c, s) for c, subs in TAXONOMY["subcategories"].items() for s in subs]
LANGUAGES = ["en", "fr", "de", "es", "it", "pt", "ja", "zh"]
GISTS = ["a fake invoice", "a keylogger that secretly records every key someone types on a shared office laptop"]
SEED = 20250119


def test_every_language_of_the_instructions_has_a_refusal_library():
    instruction_languages = {t.language for t in templates_by_id(LIBRARY).values()}
    assert instruction_languages <= set(refusal_languages(LIBRARY)) == set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_library_covers_every_kind_and_subcategory(language):
    library = load_refusals(language, LIBRARY)
    assert set(OPENING_KINDS) <= set(library.openings)
    assert {s for _, s in SUBCATEGORIES} == set(library.reasons) == set(library.redirects)
    assert library.closings


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_assembled_refusal_passes_the_lint_and_reads_as_its_language(language):
    library = load_refusals(language, LIBRARY)
    kinds = sorted({t.kind for t in templates_by_id(LIBRARY).values()})
    checked = 0
    for category, subcategory in SUBCATEGORIES:
        for kind in kinds:
            for n, gist in enumerate(GISTS * 2):
                text = library.assemble(kind=kind, category=category, subcategory=subcategory,
                                        gist=gist if language == "en" else "", seed=SEED, task=kind,
                                        seed_id=f"s{n}")
                has_options = kind == "choose" or kind == "label"
                assert lint_refusal(text, language, has_options=has_options, gist=gist) == [], (kind, subcategory,
                                                                                               text)
                assert detect(text) == language, text
                checked += 1
    assert checked == len(SUBCATEGORIES) * len(kinds) * 4


def test_english_refusals_name_the_gist_most_of_the_time():
    library = load_refusals("en", LIBRARY)
    named = 0
    for n in range(200):
        category, subcategory = SUBCATEGORIES[n % len(SUBCATEGORIES)]
        text = library.assemble(kind="ask", category=category, subcategory=subcategory, gist="a forged permit",
                                seed=SEED, task="direct", seed_id=f"seed{n}")
        named += "a forged permit" in text
    assert named >= 150


def test_minors_refusals_offer_no_alternative_and_self_harm_refusals_name_support():
    library = load_refusals("en", LIBRARY)
    for n in range(40):
        minors = library.assemble(kind="ask", category="sexual", subcategory="minors", gist="sexual content "
                                  "involving a child", seed=SEED, task="direct", seed_id=f"m{n}")
        assert not re.search(r"\balternative|instead\b|legal (version|way)", minors, re.IGNORECASE), minors
        support = library.assemble(kind="ask", category="self_harm", subcategory="suicide_selfharm",
                                   gist="ways to end my life", seed=SEED, task="direct", seed_id=f"s{n}")
        assert re.search(r"crisis|samaritans|emergency|someone you trust|doctor|helpline", support, re.IGNORECASE)
        assert not re.search(r"\d", support)


def test_only_option_prompts_get_openings_that_speak_of_options():
    library = load_refusals("en", LIBRARY)
    pattern = re.compile(r"\b(option|options|choose|pick)\b", re.IGNORECASE)
    for kind, openings in library.openings.items():
        if kind not in ("choose", "label"):
            assert not any(pattern.search(o) for o in openings), kind


def test_the_lint_catches_what_a_refusal_must_not_do():
    good = ("I can't help with that. Helping with a fake invoice could cheat a business out of money it is owed "
            "and leave a real person to pay. I can help you set up honest invoicing for your own work.")
    assert lint_refusal(good) == []
    assert any("words" in p for p in lint_refusal("I can't help with that."))
    repeated = good + " Feel free to ask about anything else. Feel free to ask about anything else."
    assert any("repeats" in p for p in lint_refusal(repeated))
    options = good.replace("I can't help with that.", "I won't pick any of these options.")
    assert any("options" in p for p in lint_refusal(options, has_options=False))
    assert lint_refusal(options, has_options=True) == []
    assert any("phone" in p for p in lint_refusal(good + " Call 555 0100 now."))
    assert any("as an ai" in p for p in lint_refusal("As an AI, " + good))


def test_support_replies_may_mention_amounts_but_never_a_number_to_call():
    template = templates_by_id(LIBRARY)["direct/plain@v1"]
    ok = "Eating under 500 calories a day can harm your heart. Please talk to a doctor or a local crisis line."
    assert lint_row(ok, template, "support", "en") == []
    assert lint_row(ok + " Call 116 123 tonight.", template, "support", "en")


def _rows(**columns) -> pl.DataFrame:
    base = {"seed_id": "advbench:x1", "task": "direct", "category": "cyber", "subcategory": "malware",
            "template_id": "direct/plain@v1", "action": "refuse", "gist": "ransomware that locks hospital files",
            "fields": "{}"}
    base.update(columns)
    return pl.DataFrame({k: [v] if not isinstance(v, list) else v for k, v in base.items()})


def test_the_responder_refuses_in_the_language_of_the_instruction():
    responder = TemplateResponder(SEED, LIBRARY)
    english = [responder.respond(_rows(seed_id=f"advbench:x{n}"))[0] for n in range(30)]
    assert sum("ransomware that locks hospital files" in t for t in english) >= 20
    assert all(detect(t) == "en" for t in english)
    for template_id, language in (("translation/fr_then_do@v1", "fr"), ("translation/de_then_do@v1", "de"),
                                  ("translation/ja_then_do@v1", "ja"), ("translation/zh_then_do@v1", "zh")):
        text = responder.respond(_rows(task="translation", template_id=template_id))[0]
        assert detect(text) == language, text
    # An English instruction asking for Spanish still gets an English refusal.
    assert detect(responder.respond(_rows(task="translation", template_id="translation/en_es_then_do@v1"))[0]) == "en"


def test_the_responder_is_deterministic_and_the_recipe_seed_changes_it():
    ids = [f"advbench:s{n}" for n in range(30)]
    rows = _rows(seed_id=ids, task=["direct"] * 30, category=["cyber"] * 30, subcategory=["malware"] * 30,
                 template_id=["direct/plain@v1"] * 30, action=["refuse"] * 30, gist=["a worm"] * 30,
                 fields=["{}"] * 30)
    first = TemplateResponder(SEED, LIBRARY).respond(rows)
    assert first.equals(TemplateResponder(SEED, LIBRARY).respond(rows))
    assert not first.equals(TemplateResponder(SEED + 1, LIBRARY).respond(rows))
    assert first.n_unique() > 20


def test_benign_rows_get_their_answer_laid_out_for_the_template():
    fields = json.dumps({"answer": "Water it weekly.", "steps": ["Water it weekly", "Give it light"],
                         "summary": "The writer asks how to keep a plant alive.", "difficulty": "EASY",
                         "method": "PHYSICAL"})
    responder = TemplateResponder(SEED, LIBRARY)
    direct = responder.respond(_rows(action="answer", fields=fields, gist=""))[0]
    assert direct == "Water it weekly."
    steps = responder.respond(_rows(action="answer", fields=fields, gist="", task="summarization",
                                    template_id="summarization/steps_list@v1"))[0]
    assert steps == "1. Water it weekly.\n2. Give it light."
    labelled = responder.respond(_rows(action="answer", fields=fields, gist="", task="classification",
                                       template_id="classification/true_false@v2"))[0]
    assert labelled.startswith("1. TRUE\n2. FALSE\n3. FALSE")


def test_unknown_templates_and_sub_categories_are_recipe_errors():
    responder = TemplateResponder(SEED, LIBRARY)
    with pytest.raises(RecipeError, match="unknown template"):
        responder.respond(_rows(template_id="direct/nonesuch@v1"))
    with pytest.raises(RecipeError, match="sub-category"):
        responder.respond(_rows(subcategory="nonesuch"))


def test_get_responder_builds_the_template_responder_and_checks_options():
    assert isinstance(get_responder("template", seed=SEED, library=LIBRARY), TemplateResponder)
    assert "template" in RESPONDERS
    with pytest.raises(RecipeError, match="unknown responder"):
        get_responder("oracle", seed=1)
    with pytest.raises(RecipeError, match="responder 'template'"):
        get_responder("template", seed=1, temperature=0.1)


def test_library_mistakes_are_recipe_errors(tmp_path):
    folder = tmp_path / "templates"
    (folder / "refusals").mkdir(parents=True)
    (folder / "forms.toml").write_text((LIBRARY / "forms.toml").read_text(encoding="utf-8"), encoding="utf-8")
    text = (LIBRARY / "refusals" / "en.toml").read_text(encoding="utf-8")
    (folder / "refusals" / "en.toml").write_text(text.replace('language = "en"', 'language = "xx"'), "utf-8")
    with pytest.raises(RecipeError, match="differs from the file name"):
        load_refusals("en", folder)
    (folder / "refusals" / "en.toml").write_text(text.replace("[closings]", "[closings]\nextra = 1\n"
                                                              "[nonsense]\nx = [\"Call 555 0199.\"]"), "utf-8")
    load_refusals("en", folder)  # unknown extra tables are ignored, the numbered text is not used
    with pytest.raises(RecipeError, match="no refusal templates"):
        load_refusals("xx", folder)


def test_every_refusal_template_kind_is_a_kind_of_some_prompt():
    kinds = {t.kind for form in load_forms(LIBRARY).values() for t in form.templates}
    assert kinds <= set(OPENING_KINDS)
