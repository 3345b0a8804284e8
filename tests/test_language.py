"""The offline language check every response passes."""

import polars as pl

from builders.language import detect, judgeable, match_rate, mismatches, prose

SAMPLES = {
    "en": "I can't help with that, but I'm glad to explain how to stay safe online.",
    "fr": "Je ne peux pas traduire ce texte, mais je peux vous aider autrement.",
    "de": "Ich kann diesen Text nicht übersetzen, aber ich helfe dir gern anders.",
    "es": "No puedo traducir este texto, pero con gusto te ayudo de otra manera.",
    "it": "Non posso tradurre questo testo, ma ti aiuto volentieri in un altro modo.",
    "pt": "Não posso traduzir este texto, mas posso ajudar de outra forma.",
    "ja": "この文章は翻訳できませんが、別の方法でお手伝いできます。",
    "zh": "我不能翻译这段文字，但我很乐意用其他方式帮助你。",
}


def test_each_language_is_recognised():
    for language, text in SAMPLES.items():
        assert detect(text) == language


def test_code_is_not_judged_as_prose():
    assert prose("Here:\n```python\nprint('hi')\n```\nDone `x`.") == "Here:\n \nDone  ."
    assert not judgeable("```python\nfor i in range(10): print(i)\n```", "en")
    assert not judgeable("Enregistrer", "fr")
    assert judgeable(SAMPLES["ja"], "ja")


def test_mismatches_finds_responses_in_the_wrong_language():
    rows = pl.DataFrame({"id": ["a", "b", "c"], "response": [SAMPLES["fr"], SAMPLES["en"], "Oui."],
                         "language": ["fr", "de", "de"]})
    wrong = mismatches(rows)
    assert wrong["id"].to_list() == ["b"] and wrong["detected"].to_list() == ["en"]
    assert match_rate(rows) == (2, 1)
    assert mismatches(rows.head(1)).is_empty()
