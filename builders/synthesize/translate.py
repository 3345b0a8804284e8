"""Seeds translated by the model, for the paper's own translation form.

Multitask-Bench asks "Translate the following text from French to English:
<French text>".  Each harmful seed is translated into each requested
language; the translation must be identified as that language, and its
translation back into English must stay close to the seed (character-trigram
Jaccard above the recipe's floor), or the seed gets no such row.
"""

from __future__ import annotations

import polars as pl

from ..llm import Client, LLMConfig, Request
from ..render import PAPER_PROMPT
from .checks import clean_model_text, trigram_similarity
from ..language import identify
from .responses import LANGUAGE_NAMES
from .settings import LLMSettings



def template_id(language: str) -> str:
    return f"translation/paper_from_{language}@v1"


# A translation too short to identify still counts if it is no longer the source text.
UNTRANSLATED_SIMILARITY = 0.6


def _in_language(language: str):
    """Check: the answer is in ``language``, or at least in no other language and not the source."""
    def check(request: Request, text: str) -> str | None:
        text, source = clean_model_text(text), request.messages[-1]["content"]
        found = identify(text)
        if found == language or (found is None and language == "en"):
            return None  # English back-translations are compared with the seed afterwards
        if found is None and trigram_similarity(text, source) < UNTRANSLATED_SIMILARITY:
            return None
        return f"identified as {found or 'the source text'}, expected {language}"
    return check


def translate_seeds(seeds: pl.DataFrame, languages: tuple[str, ...], config: LLMConfig, settings: LLMSettings,
                    *, client: Client | None = None) -> pl.DataFrame:
    """One row per seed and language: ``seed_id``, ``language``, ``translation``,
    ``back_translation``, ``similarity`` and ``outcome`` ("ok" or why not)."""
    unknown = sorted(set(languages) - set(LANGUAGE_NAMES) - {"en"})
    if unknown:
        from ..errors import RecipeError

        raise RecipeError(f"--translate-seeds: unknown languages {unknown}; known: {sorted(set(LANGUAGE_NAMES) - {'en'})}")
    own = client is None
    client = client or Client(config, desc="llm translate")
    records = []
    try:
        ids, texts = seeds["seed_id"].to_list(), seeds["request"].to_list()
        for language in languages:
            name = LANGUAGE_NAMES[language]
            forward = [Request(({"role": "system", "content": settings.translate.format(language=name)},
                                {"role": "user", "content": text}), settings.version(f"translate/{language}"))
                       for text in texts]
            there = client.run(forward, check=_in_language(language))
            translations = [clean_model_text(r.text) if r.ok else None for r in there]
            backward = [Request(({"role": "system", "content": settings.back_translate.format(language=name)},
                                 {"role": "user", "content": t}), settings.version(f"back_translate/{language}"))
                        for t in translations if t is not None]
            back = iter(client.run(backward, check=_in_language("en")))
            for seed_id, text, result, translation in zip(ids, texts, there, translations):
                record = {"seed_id": seed_id, "language": language, "translation": translation,
                          "back_translation": None, "similarity": None}
                if translation is None:
                    record["outcome"] = f"translation_{result.failure}"
                else:
                    returned = next(back)
                    if not returned.ok:
                        record["outcome"] = f"back_translation_{returned.failure}"
                    else:
                        record["back_translation"] = clean_model_text(returned.text)
                        record["similarity"] = round(trigram_similarity(text, record["back_translation"]), 4)
                        low = record["similarity"] < settings.similarity_floor
                        record["outcome"] = "below_similarity_floor" if low else "ok"
                records.append(record)
    finally:
        if own:
            client.close()
    return pl.DataFrame(records, schema={"seed_id": pl.String, "language": pl.String, "translation": pl.String,
                                         "back_translation": pl.String, "similarity": pl.Float64,
                                         "outcome": pl.String})


def translated_rows(harmful: pl.DataFrame, translations: pl.DataFrame) -> pl.DataFrame:
    """Rendered rows in the paper's translation form for the seeds whose translation passed;
    they keep their seed's columns, split and cluster."""
    passed = translations.filter(pl.col("outcome") == "ok")
    rows = harmful.join(passed.select("seed_id", "language", "translation"), on="seed_id")
    names = [LANGUAGE_NAMES[code] for code in rows["language"].to_list()]
    prompts = [PAPER_PROMPT.format(language=name, request=text) for name, text in zip(names, rows["translation"])]
    return rows.with_columns(
        pl.lit("translation").alias("task"),
        pl.Series("template_id", [template_id(code) for code in rows["language"].to_list()], dtype=pl.String),
        pl.Series("prompt", prompts, dtype=pl.String),
    ).drop("language", "translation")
