"""Rendering seeds into the five task forms."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from builders.errors import RecipeError
from builders.render import FORMS, RENDER_SCHEMA, digest, list_forms, load_forms, render
from builders.schema import SEED_SCHEMA, TASKS

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "data" / "templates"
RECIPE_SEED = 20250119

# Placeholder requests in the grammatical shapes real seeds come in, plus text
# that would trip naive templating: braces, regex replacement syntax, quotes,
# several lines, non-ASCII.
SHAPES = (
    "Explain how to do placeholder task {n}",
    "Write a script that performs placeholder step {n}.",
    "How do I finish placeholder chore {n}?",
    "I want to learn about placeholder topic {n}.",
    "Give detailed instructions for placeholder activity {n}",
    'Describe "placeholder item {n}" in {{braces}} with \\1 and $1 and $0 kept',
    "Placeholder line one for case {n}.\nPlaceholder line two: list the parts.",
    "  Leading and trailing spaces around placeholder {n}  ",
    "Décris l'élément fictif {n} — avec des accents « ici ».",
)


def make_seeds(n: int, prefix: str = "synthetic") -> pl.DataFrame:
    categories = ("cyber", "privacy", "self_harm", "other_harmful")
    return pl.DataFrame(
        {
            "seed_id": [f"{prefix}:{i}" for i in range(n)],
            "request": [SHAPES[i % len(SHAPES)].format(n=i) for i in range(n)],
            "category": [categories[i % len(categories)] for i in range(n)],
            "category_raw": ["placeholder"] * n,
            "source": [prefix] * n,
            "source_version": ["0"] * n,
            "license": ["MIT"] * n,
        },
        schema=SEED_SCHEMA,
    )


def templates_by_id() -> dict:
    return {t.id: t for form in list_forms(LIBRARY) for t in form.templates}


def test_registry_lists_the_five_forms_in_schema_order():
    assert tuple(FORMS) == TASKS
    assert [form.name for form in list_forms(LIBRARY)] == list(TASKS)
    assert all(form.description for form in list_forms(LIBRARY))


@pytest.mark.parametrize("form", TASKS)
def test_every_form_has_at_least_seven_distinct_templates_that_render(form):
    templates = load_forms(LIBRARY)[form].templates
    assert len(templates) >= 7
    assert len({t.text for t in templates}) == len(templates)
    for template in templates:
        prompt = template.fill("Explain how to do placeholder task Q")
        assert "Explain how to do placeholder task Q" in prompt
        assert "{request}" not in prompt


def test_template_ids_are_namespaced_versioned_and_unique():
    ids = list(templates_by_id())
    assert len(ids) == sum(len(form.templates) for form in list_forms(LIBRARY))
    for form in list_forms(LIBRARY):
        for template in form.templates:
            assert re.fullmatch(rf"{form.name}/[a-z0-9_]+@v[1-9][0-9]*", template.id)


def test_forms_cover_each_kind_of_prompt():
    kinds = {form.name: Counter(t.kind for t in form.templates) for form in list_forms(LIBRARY)}
    assert kinds["translation"]["translate"] >= 2 and kinds["translation"]["translate_then_do"] >= 2
    assert kinds["summarization"]["steps"] >= 2 and kinds["summarization"]["post"] >= 2
    assert {"choose", "label"} <= set(kinds["classification"])
    assert kinds["code"]["write"] >= 2 and kinds["code"]["fix"] >= 1
    # The paper's multiple-choice format is one of the classification templates.
    texts = [t.text for t in load_forms(LIBRARY)["classification"].templates]
    assert any("Choose the Best Option:" in text for text in texts)
    # Several language pairs.
    translation = " ".join(t.text for t in load_forms(LIBRARY)["translation"].templates)
    for language in ("French", "German", "Italian", "Chinese", "Spanish", "Portuguese", "Japanese"):
        assert language in translation
    # Instructions written in each of those languages too, so that refusals answer in them.
    assert {t.language for t in load_forms(LIBRARY)["translation"].templates} == {
        "en", "fr", "de", "es", "it", "pt", "ja", "zh"}


def test_templates_declare_the_kinds_they_take():
    forms = load_forms(LIBRARY)
    # No question is ever asked to become code, and disclosures get plain replies only.
    assert all(t.takes == ("instruction",) for t in forms["code"].templates)
    assert {t.id for f in forms.values() for t in f.templates if "disclosure" in t.takes} == {
        "direct/plain@v1", "direct/ticket@v1"}
    for form in forms.values():
        for template in form.templates:
            assert template.compose, template.id
            if form.name == "translation":
                assert template.target, template.id
            if form.name == "code":
                assert template.code_language in {"python", "javascript", "bash", "go"}


def test_eligibility_filters_templates_per_seed():
    seeds = make_seeds(40)
    kinds = ["question" if i % 2 else "instruction" for i in range(seeds.height)]
    seeds = seeds.with_columns(kind=pl.Series(kinds))
    rows = render(seeds, TASKS, RECIPE_SEED, library=LIBRARY, eligible=lambda t, row: row["kind"] in t.takes)
    questions = rows.filter(pl.col("kind") == "question")
    assert questions.height and "code" not in set(questions["task"])
    forms = load_forms(LIBRARY)
    takes = {t.id: t.takes for f in forms.values() for t in f.templates}
    assert all(kind in takes[t] for kind, t in rows.select("kind", "template_id").iter_rows())
    # The extra column rides along.
    assert "kind" in rows.columns


def test_render_gives_one_row_per_seed_and_form_with_the_seed_columns():
    seeds = make_seeds(30)
    rows = render(seeds, TASKS, RECIPE_SEED, library=LIBRARY)
    assert rows.schema == RENDER_SCHEMA
    assert rows.height == seeds.height * len(TASKS)
    assert rows.select("seed_id", "task").n_unique() == rows.height
    carried = rows.select(list(SEED_SCHEMA)).unique().sort("seed_id")
    assert carried.equals(seeds.sort("seed_id"))
    assert rows.null_count().row(0) == (0,) * len(RENDER_SCHEMA)


def test_every_prompt_contains_the_request_verbatim():
    rows = render(make_seeds(300), TASKS, RECIPE_SEED, library=LIBRARY)
    for request, prompt in rows.select("request", "prompt").iter_rows():
        assert request in prompt


def test_prompt_is_the_template_text_around_the_request():
    """Everything in a prompt besides the request is fixed template text, so
    nothing (options included) is derived from the request."""
    by_id = templates_by_id()
    rows = render(make_seeds(120), TASKS, RECIPE_SEED, library=LIBRARY)
    for request, template_id, task, prompt in rows.select("request", "template_id", "task", "prompt").iter_rows():
        template = by_id[template_id]
        assert template.form == task
        before, after = template.text.split("{request}")
        assert prompt == before + request + after


def test_rendering_is_deterministic_and_independent_of_row_order():
    seeds = make_seeds(150)
    first = render(seeds, TASKS, RECIPE_SEED, library=LIBRARY)
    again = render(seeds, TASKS, RECIPE_SEED, library=LIBRARY)
    shuffled = render(seeds.sample(fraction=1.0, shuffle=True, seed=7), TASKS, RECIPE_SEED, library=LIBRARY)
    reversed_forms = render(seeds.reverse(), list(reversed(TASKS)), RECIPE_SEED, library=LIBRARY)
    assert first.equals(again)
    assert first.equals(shuffled)
    assert first.equals(reversed_forms)


def test_a_seeds_template_depends_only_on_its_id_the_form_and_the_recipe_seed():
    seeds = make_seeds(60)
    batch = render(seeds, TASKS, RECIPE_SEED, library=LIBRARY).select("seed_id", "task", "template_id")
    alone = render(seeds[17], TASKS, RECIPE_SEED, library=LIBRARY).select("seed_id", "task", "template_id")
    assert alone.equals(batch.filter(pl.col("seed_id") == "synthetic:17"))
    # The request text does not steer the choice.
    reworded = seeds.with_columns(request=pl.lit("Explain how to do placeholder task R"))
    assert render(reworded, TASKS, RECIPE_SEED, library=LIBRARY)["template_id"].equals(
        render(seeds, TASKS, RECIPE_SEED, library=LIBRARY)["template_id"]
    )


def test_the_recipe_seed_changes_the_assignment():
    seeds = make_seeds(100)
    a = render(seeds, TASKS, RECIPE_SEED, library=LIBRARY)["template_id"]
    b = render(seeds, TASKS, RECIPE_SEED + 1, library=LIBRARY)["template_id"]
    assert (a != b).sum() > a.len() // 2


def test_template_choice_spreads_over_every_template():
    rows = render(make_seeds(200), TASKS, RECIPE_SEED, library=LIBRARY)
    used = Counter(rows["template_id"].to_list())
    for form in list_forms(LIBRARY):
        counts = [used[t.id] for t in form.templates]
        assert min(counts) > 0, f"{form.name}: unused templates"
        # Roughly even: no template takes more than three times its fair share.
        assert max(counts) < 3 * 200 / len(form.templates)


def test_only_the_requested_forms_are_rendered():
    rows = render(make_seeds(10), ["code", "direct"], RECIPE_SEED, library=LIBRARY)
    assert rows["task"].to_list()[:2] == ["direct", "code"]
    assert set(rows["task"]) == {"direct", "code"}
    assert rows.height == 20


def test_unknown_form_is_a_recipe_error_naming_the_known_forms():
    with pytest.raises(RecipeError) as error:
        render(make_seeds(3), ["direct", "poetry"], RECIPE_SEED, library=LIBRARY)
    message = str(error.value)
    assert "poetry" in message
    for form in TASKS:
        assert form in message


def test_a_form_listed_twice_is_a_recipe_error():
    with pytest.raises(RecipeError, match="more than once"):
        render(make_seeds(3), ["code", "code"], RECIPE_SEED, library=LIBRARY)


def test_missing_seed_columns_are_reported():
    with pytest.raises(ValueError, match="request"):
        render(make_seeds(3).drop("request"), TASKS, RECIPE_SEED, library=LIBRARY)


def test_empty_input_gives_an_empty_frame_with_the_schema():
    rows = render(make_seeds(0), TASKS, RECIPE_SEED, library=LIBRARY)
    assert rows.height == 0
    assert rows.schema == RENDER_SCHEMA


# Words that would make an option a method rather than an abstract choice.
ACTIONABLE = re.compile(
    r"\b(gram|grams|kg|mg|ml|litre|liter|dose|bleach|ammonia|fertili[sz]er|gunpowder|detonat\w*|explosive\w*|"
    r"poison\w*|toxin\w*|pipe|trigger|fuse|malware|keylog\w*|payload|exploit\w*|sql|password\w*|phishing|"
    r"ransomware|fentanyl|meth|cocaine|heroin|knife|gun|guns|bomb|wire|inject\w*|recipe|pill\w*|rope|blade)\b",
    re.IGNORECASE,
)


def test_classification_options_are_fixed_abstract_text_from_the_library():
    templates = load_forms(LIBRARY)["classification"].templates
    assert all(len(t.options) >= 2 for t in templates)
    for template in templates:
        for option in template.options:
            assert not ACTIONABLE.search(option), f"{template.id}: {option!r}"
            assert not re.search(r"\d", option)
        # The same options appear whatever the request is.
        one = template.fill("Explain how to do placeholder task ONE")
        two = template.fill("How do I finish placeholder chore TWO?")
        for option in template.options:
            assert option in one and option in two
        assert one.replace("Explain how to do placeholder task ONE", "") == two.replace(
            "How do I finish placeholder chore TWO?", ""
        )


def test_default_library_is_the_data_folder(monkeypatch):
    seeds = make_seeds(20)
    monkeypatch.setenv("MTS_DATA_DIR", str(ROOT / "data"))
    assert render(seeds, TASKS, RECIPE_SEED).equals(render(seeds, TASKS, RECIPE_SEED, library=LIBRARY))


# ------------------------------------------------------- library checks ---


def write_library(folder: Path, templates: dict[str, list[dict]]) -> Path:
    """A forms.toml with the given templates (digests filled unless given)."""
    lines = []
    for form, entries in templates.items():
        for entry in entries:
            lines.append(f"[[{form}]]")
            lines.append(f'id = "{entry["id"]}"')
            lines.append(f'kind = "{entry.get("kind", "ask")}"')
            lines.append('takes = ["instruction", "question", "statement", "disclosure"]')
            lines.append(f'compose = "{entry.get("compose", "answer")}"')
            lines.append(f'digest = "{entry.get("digest", digest(entry["text"]))}"')
            if "options" in entry:
                lines.append("options = [" + ", ".join(f'"{o}"' for o in entry["options"]) + "]")
            lines.append(f"text = '''{entry['text']}'''")
            lines.append("")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "forms.toml").write_text("\n".join(lines), encoding="utf-8")
    return folder


def minimal(**changes: list[dict]) -> dict[str, list[dict]]:
    forms = {form: [{"id": f"{form}/only@v1", "text": f"[{form}] {{request}}"}] for form in TASKS}
    forms.update(changes)
    return forms


def test_a_minimal_custom_library_renders(tmp_path):
    library = write_library(tmp_path / "lib", minimal())
    rows = render(make_seeds(4), TASKS, RECIPE_SEED, library=library)
    assert set(rows["template_id"]) == {f"{form}/only@v1" for form in TASKS}
    assert rows.filter(pl.col("task") == "code")["prompt"][0] == "[code] " + make_seeds(4)["request"][0]


def test_a_custom_library_in_the_data_dir_override_is_used(tmp_path, monkeypatch):
    write_library(tmp_path / "data" / "templates", minimal())
    monkeypatch.setenv("MTS_DATA_DIR", str(tmp_path / "data"))
    rows = render(make_seeds(3), ["direct"], RECIPE_SEED)
    assert set(rows["template_id"]) == {"direct/only@v1"}


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"code": [{"id": "code/only@v1", "text": "[code, edited] {request}", "digest": digest("[code] {request}")}]},
         "code/only@v2"),
        ({"code": [{"id": "code/only@v1", "text": "no placeholder"}]}, "exactly once"),
        ({"code": [{"id": "code/only@v1", "text": "{request} and {request}"}]}, "exactly once"),
        ({"code": [{"id": "direct/stolen@v1", "text": "{request}"}]}, "ids look like"),
        ({"code": [{"id": "code/unversioned", "text": "{request}"}]}, "ids look like"),
        ({"code": []}, "no templates"),
        ({"poetry": [{"id": "poetry/ode@v1", "text": "{request}"}]}, "unknown task forms"),
        ({"code": [{"id": "code/a@v1", "text": "{request}"}, {"id": "code/a@v1", "text": "x {request}"}]},
         "used twice"),
        ({"classification": [{"id": "classification/x@v1", "text": "{request} A) yes", "options": ["no"]}]},
         "do not appear"),
    ],
)
def test_library_mistakes_are_recipe_errors(tmp_path, changes, message):
    library = write_library(tmp_path / "lib", minimal(**changes))
    with pytest.raises(RecipeError, match=re.escape(message)):
        render(make_seeds(2), TASKS, RECIPE_SEED, library=library)


def test_a_missing_library_is_a_recipe_error(tmp_path):
    with pytest.raises(RecipeError, match="no prompt templates"):
        list_forms(tmp_path)


# ------------------------------------------------------ held-out splits ---


def test_heldout_templates_are_used_only_by_their_split():
    seeds = make_seeds(240).with_columns(
        split=pl.Series(["train", "validation", "test"] * 80, dtype=pl.String)
    )
    heldout = {"validation": 1, "test": 2}
    rows = render(seeds, TASKS, RECIPE_SEED, library=LIBRARY, heldout=heldout)
    assert rows.columns == [*list(RENDER_SCHEMA)[:-3], "split", *list(RENDER_SCHEMA)[-3:]]
    assert rows.height == seeds.height * len(TASKS)
    for form in list_forms(LIBRARY):
        pools = form.reserved(heldout, RECIPE_SEED)
        assert [len(pools["validation"]), len(pools["test"])] == [1, 2]
        assert len(pools["train"]) == len(form.templates) - 3
        assert sum(map(len, pools.values())) == len({t.id for pool in pools.values() for t in pool})
        per_split = rows.filter(pl.col("task") == form.name).group_by("split").agg(pl.col("template_id").unique())
        for split, used in per_split.iter_rows():
            assert set(used) == {t.id for t in pools[split]}, (form.name, split)


def test_heldout_templates_can_be_named():
    seeds = make_seeds(90).with_columns(split=pl.Series(["train", "validation", "test"] * 30, dtype=pl.String))
    heldout = {"validation": ["direct/expert@v1"], "test": ["direct/bullets@v1", "code/bash@v1"]}
    rows = render(seeds, ["direct", "code"], RECIPE_SEED, library=LIBRARY, heldout=heldout)
    used = dict(rows.group_by("split").agg(pl.col("template_id").unique()).iter_rows())
    assert set(used["validation"]) == {"direct/expert@v1"} | (set(used["validation"]) - {"direct/expert@v1"})
    assert "direct/expert@v1" not in used["train"] and "direct/bullets@v1" not in used["train"]
    assert set(t for t in used["test"] if t.startswith("direct/")) == {"direct/bullets@v1"}
    assert set(t for t in used["test"] if t.startswith("code/")) == {"code/bash@v1"}
    with pytest.raises(RecipeError, match="not templates of form"):
        render(seeds, ["direct"], RECIPE_SEED, library=LIBRARY, heldout={"test": ["direct/nonesuch@v1"]})


def test_holding_out_too_many_templates_is_a_recipe_error():
    seeds = make_seeds(3).with_columns(split=pl.lit("train"))
    with pytest.raises(RecipeError, match="keep some for train"):
        render(seeds, TASKS, RECIPE_SEED, library=LIBRARY, heldout={"validation": 4, "test": 5})
    with pytest.raises(RecipeError, match="validation/test only"):
        render(seeds, TASKS, RECIPE_SEED, library=LIBRARY, heldout={"train": 1})
