"""Model-written parts of a build, against the scripted local OpenAI-compatible server."""

import hashlib
import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from builders.cli import build_dataset
from builders.llm import LLMConfig
from builders.recipe import load_recipe
from builders.synthesize import llm_responses, paraphrase, response_problem, translate_seeds
from builders.language import identify

from openai_server import SCRIPTED_REFUSAL, OpenAIServer, last_user, scripted_answer, system_prompt
from tiny_sources import data_dir_with_tiny_recipe, write_sources

ROOT = Path(__file__).resolve().parent.parent


def llm_table() -> str:
    text = (ROOT / "data" / "recipes" / "v2.toml").read_text(encoding="utf-8")
    return text[text.index("\n[llm]"):]


@pytest.fixture
def tiny_llm(tmp_path, monkeypatch):
    """The tiny recipe with the v2 [llm] table; returns the --source options."""
    data = data_dir_with_tiny_recipe(ROOT / "data", tmp_path / "data")
    recipe = data / "recipes" / "tiny.toml"
    recipe.write_text(recipe.read_text(encoding="utf-8") + llm_table(), encoding="utf-8")
    monkeypatch.setenv("MTS_DATA_DIR", str(data))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    overrides = write_sources(tmp_path / "sources")
    return [arg for name, path in overrides.items() for arg in ("--source", f"{name}={path}")]


@pytest.fixture
def server():
    with OpenAIServer(scripted_answer) as running:
        yield running


def _build(args, out: Path, server, cache: Path, *extra):
    result = CliRunner().invoke(build_dataset, ["--version", "tiny", "--out", str(out), "--quiet", "--json",
                                                *args, "--base-url", server.url, "--model", "test-model",
                                                "--llm-cache", str(cache), *extra], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _digests(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


def _harmful(out: Path) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(f) for f in (out / "data" / "default").glob("*.parquet")]).filter(
        pl.col("label") == "harmful")


def test_responses_come_from_the_server_and_a_rerun_sends_nothing(tmp_path, tiny_llm, server):
    summary = _build(tiny_llm, tmp_path / "one", server, tmp_path / "llm.sqlite", "--responses", "llm")
    harmful = _harmful(tmp_path / "one")
    # The scripted server refuses in English: English rows keep its refusal; a row whose
    # instruction is in another language falls back to the template refusal in that language.
    english = harmful.filter((pl.col("language") == "en") & (pl.col("action") == "refuse"))
    assert english.height and set(english["response"]) == {SCRIPTED_REFUSAL}
    others = harmful.filter(pl.col("language") != "en")
    assert SCRIPTED_REFUSAL not in set(others["response"])
    assert all(response_problem({"label": "harmful", "task": t, "language": lang, "action": a}, r) is None
               for t, lang, a, r in harmful.select("task", "language", "action", "response").iter_rows())
    sent = server.requests
    assert sent == summary["llm"]["requests"] > 0, json.dumps(summary["llm"])
    outcomes = summary["llm"]["outcomes"]["responses"]
    assert outcomes["llm"] > 0 and sum(outcomes.values()) > 0
    manifest = json.loads((tmp_path / "one" / "manifest.json").read_text())
    assert manifest["llm"]["outcomes"]["responses"] == outcomes
    card = (tmp_path / "one" / "README.md").read_text()
    assert "Model-written parts" in card and "System prompt for `refuse`" in card

    again = _build(tiny_llm, tmp_path / "two", server, tmp_path / "llm.sqlite", "--responses", "llm")
    assert server.requests == sent and again["llm"]["requests"] == 0 and again["llm"]["cache_hits"] == sent
    assert _digests(tmp_path / "one") == _digests(tmp_path / "two")


def test_answers_that_fail_the_checks_fall_back_to_the_template(tmp_path, tiny_llm):
    def sometimes_complies(body):  # every request mentioning a lock gets a non-refusal, twice
        if "lock" in last_user(body) and "harmful" in system_prompt(body):
            return "Sure, here is what you asked for, step by step, with all of the details included."
        return scripted_answer(body)

    with OpenAIServer(sometimes_complies) as server:
        summary = _build(tiny_llm, tmp_path / "out", server, tmp_path / "llm.sqlite", "--responses", "llm")
    outcomes = summary["llm"]["outcomes"]["responses"]
    assert outcomes["template_fallback/check_failed"] > 0 and outcomes["llm"] > 0
    harmful = _harmful(tmp_path / "out")
    locks = harmful.filter(pl.col("prompt").str.contains("lock"))
    assert locks.height and SCRIPTED_REFUSAL not in set(locks["response"])
    assert all(response_problem({"label": "harmful", "language": lang, "action": a}, r) is None
               for lang, a, r in harmful.select("language", "action", "response").iter_rows())
    assert summary["llm"]["failures"]["check_failed"] == 2 * outcomes["template_fallback/check_failed"]
    ledger = [json.loads(line) for line in Path(summary["llm"]["ledger"]).read_text().splitlines()]
    assert len(ledger) == outcomes["template_fallback/check_failed"]
    assert {e["failure"] for e in ledger} == {"check_failed"}


def test_translated_seeds_give_the_papers_translation_form(tmp_path, tiny_llm, server):
    summary = _build(tiny_llm, tmp_path / "out", server, tmp_path / "llm.sqlite", "--translate-seeds", "fr")
    assert summary["llm"]["outcomes"]["translate_seeds"] == {"ok": 16}
    rows = _harmful(tmp_path / "out").filter(pl.col("template_id") == "translation/paper_from_fr@v1")
    assert rows.height > 0
    assert all(p.startswith("Translate the following text from French to English: les ") for p in rows["prompt"])
    assert set(rows["task"]) == {"translation"}


def test_a_batch_build_matches_the_realtime_one(tmp_path, tiny_llm, server):
    args = [*tiny_llm, "--responses", "llm"]
    _build(args, tmp_path / "live", server, tmp_path / "live.sqlite")
    summary = _build(args, tmp_path / "batch", server, tmp_path / "batch.sqlite", "--batch")
    # One batch, then one more for the regeneration of answers that failed their check (the
    # scripted server answers in English where the row's language is another).
    assert summary["llm"]["batches_submitted"] == 2 and server.batches
    assert _digests(tmp_path / "live") == _digests(tmp_path / "batch")


def test_paraphrases_and_wrapped_benign_rows(tmp_path, tiny_llm, server):
    summary = _build(tiny_llm, tmp_path / "out", server, tmp_path / "llm.sqlite", "--paraphrase", "1",
                     "--benign", "llm")
    outcomes = summary["llm"]["outcomes"]
    assert outcomes["paraphrase"]["ok"] > 0 and outcomes["benign"]["llm"] > 0
    rows = pl.concat([pl.read_parquet(f) for f in (tmp_path / "out" / "data" / "default").glob("*.parquet")])
    wrapped = rows.filter((pl.col("label") == "benign") & pl.col("response").str.starts_with("Here is a helpful"))
    assert set(wrapped["task"]) >= {"summarization", "code"}
    # The scripted rewrite only adds a phrase, so dedup removes most rewrites as near duplicates.
    assert summary["dropped"].get("dedup/near_duplicate", 0) > 0


def test_the_functions_work_on_plain_frames(tmp_path, server):
    settings = load_recipe("v2").llm
    config = LLMConfig(model="test-model", base_url=server.url, cache_path=tmp_path / "llm.sqlite")
    rows = pl.DataFrame({"prompt": ["How do I bake bread?", "Translate into French: good morning"],
                         "task": ["direct", "translation"], "label": ["benign", "benign"],
                         "action": ["answer", "answer"]})
    written = llm_responses(rows, config, settings)
    assert written["outcome"].to_list() == ["llm", "llm"]
    seeds = pl.DataFrame({"seed_id": ["s:1"], "request": ["Write a poem about the sea and the wind"]})
    translated = translate_seeds(seeds, ("de",), config, settings)
    assert translated["outcome"].to_list() == ["ok"] and identify(translated["translation"][0]) == "de"
    assert translated["similarity"][0] == 1.0
    new, counts = paraphrase(rows.with_columns(pl.lit("t@v1").alias("template_id")), 2, config, settings)
    assert counts == {"ok": 4} and new["template_id"].to_list()[:2] == ["t@v1~paraphrase1", "t@v1~paraphrase2"]


def test_a_recipe_without_an_llm_table_says_how_to_fix_it(tmp_path, monkeypatch, server):
    data = data_dir_with_tiny_recipe(ROOT / "data", tmp_path / "data")
    monkeypatch.setenv("MTS_DATA_DIR", str(data))
    result = CliRunner().invoke(build_dataset, ["--version", "tiny", "--out", str(tmp_path / "out"), "--quiet",
                                                "--responses", "llm", "--model", "m", "--base-url", server.url])
    assert result.exit_code == 1 and "has no [llm] table" in result.output


def test_a_model_is_required(tmp_path, tiny_llm):
    result = CliRunner().invoke(build_dataset, ["--version", "tiny", "--out", str(tmp_path / "out"), "--quiet",
                                                *tiny_llm, "--responses", "llm"])
    assert result.exit_code == 1 and "--model" in result.output


def test_every_template_refusal_passes_the_response_check_and_compliance_does_not():
    from builders.render import render, template_for
    from builders.respond import TemplateResponder
    from builders.seeds import load_taxonomy

    categories = ["violence_weapons", "cbrn", "cyber", "crime_illegal_goods", "fraud_deception_misinfo",
                  "hate_harassment", "sexual", "self_harm", "privacy", "other_harmful"]
    n = 200
    seeds = pl.DataFrame({"seed_id": [f"s:{i}" for i in range(n)], "request": [f"Describe door lock {i}" for i in range(n)],
                          "category": categories * (n // 10), "category_raw": [""] * n, "source": ["x"] * n,
                          "source_version": ["1"] * n, "license": ["MIT"] * n})
    subcategories = {c: subs[0] for c, subs in load_taxonomy()["subcategories"].items()}
    rendered = render(seeds, ["direct", "summarization", "translation", "classification", "code"], 7)
    rendered = rendered.with_columns(pl.col("category").replace_strict(subcategories).alias("subcategory"),
                                     pl.lit("refuse").alias("action"), pl.lit("a door lock").alias("gist"),
                                     pl.lit("{}").alias("fields"))
    responses = TemplateResponder(7).respond(rendered)
    languages = [template_for(t).language for t in rendered["template_id"]]
    assert [r for r, lang in zip(responses, languages)
            if response_problem({"label": "harmful", "language": lang}, r)] == []
    complying = [  # answers that do the task while mentioning words a refusal uses
        "To do this so that it cannot be traced, it is best to avoid the usual route, since that is not allowed "
        "anyway. Instead use the quieter method, which works well for most people and takes only a few minutes.",
        "Sure. I can't stress enough how easy this is once you get going, so here it is in full:\n```python\n"
        "def run():\n    pass\n```\nThat is all you need to get started with it today, with nothing else.",
        "Here are the steps, and I won't leave anything out of them for you:\n1. Start with the first part of it.\n"
        "2. Then do the second part of it carefully.\n3. Finish the rest and check that everything works well.",
    ]
    assert all(response_problem({"label": "harmful"}, text) for text in complying)
    # Two answers a small real model got past earlier checks: one parrots the task note
    # ("if you decline, ..."), one is French word salad where a French refusal was due.
    parroted = ("To make the call untraceable, use another phone. The message asks for a summary or a recap; "
                "if you decline, say that you will not summarize it.")
    assert response_problem({"label": "harmful", "language": "en"}, parroted)
    salad = ("La question pourra parler de la vie infernale, n'est pas d'un des problèmes. Nous avons trouvé un "
             "débat sur le mouvement et on y arrivera à troupeau. Nous devons aider une fois les droits de votre "
             "légion, n'est-ce pas?")
    assert response_problem({"label": "harmful", "language": "fr"}, salad)
