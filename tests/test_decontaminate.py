import json

import polars as pl
import pytest

from builders.decontaminate import decontaminate, read_eval_texts
from builders.dedup.minhash import MinHashConfig
from builders.errors import BuildError

EVAL = [
    "Describe the water cycle and explain why clouds form over warm oceans in summer.",
    "Give three reasons why regular exercise improves sleep quality for office workers.",
]
UNRELATED = [
    "Write a limerick about a cat who learns to play the trumpet at midnight.",
    "What is the capital of Australia, and when did it become the capital city?",
]
CFG = MinHashConfig(fp_weight=0.02, fn_weight=0.98)


def rows(texts):
    return pl.DataFrame({"id": [f"r{i}" for i in range(len(texts))], "prompt": texts, "task": ["direct"] * len(texts)})


def test_decontaminate_removes_eval_prompts_and_light_paraphrases():
    df = rows(
        [
            UNRELATED[0],
            EVAL[0].upper(),  # exact after normalisation
            EVAL[1].replace("three", "four"),  # light paraphrase
            UNRELATED[1],
            EVAL[0].replace("summer", "the summer months"),
        ]
    )
    kept, removed = decontaminate(df, "prompt", pl.Series(EVAL), CFG)
    assert kept["id"].to_list() == ["r0", "r3"]
    assert kept.columns == df.columns
    assert removed.select("id", "reason", "matched_eval").rows() == [
        ("r1", "contaminated", EVAL[0]),
        ("r2", "contaminated", EVAL[1]),
        ("r4", "contaminated", EVAL[0]),
    ]
    assert removed["jaccard"][0] == 1.0
    assert all(0.8 <= j < 1.0 for j in removed["jaccard"][1:])


def test_decontaminate_picks_the_closest_eval_text():
    evals = pl.Series([EVAL[0].replace("summer", "the summer months"), EVAL[0]])
    _, removed = decontaminate(rows([EVAL[0]]), "prompt", evals, CFG)
    assert removed["matched_eval"].to_list() == [EVAL[0]] and removed["jaccard"].to_list() == [1.0]


def test_decontaminate_with_nothing_to_match():
    df = rows(UNRELATED)
    kept, removed = decontaminate(df, "prompt", pl.Series(EVAL), CFG)
    assert kept.equals(df) and removed.height == 0
    kept, removed = decontaminate(df, "prompt", pl.Series([], dtype=pl.String), CFG)
    assert kept.equals(df) and removed.height == 0 and "matched_eval" in removed.columns


@pytest.fixture
def eval_files(tmp_path):
    frame = pl.DataFrame({"question": EVAL, "prompt": ["p1", "p2"], "score": [1, 2]})
    frame.write_csv(tmp_path / "set.csv")
    frame.write_parquet(tmp_path / "set.parquet")
    frame.write_ndjson(tmp_path / "set.jsonl")
    (tmp_path / "set.json").write_text(json.dumps(frame.to_dicts()))
    pl.DataFrame({"text": EVAL}).write_parquet(tmp_path / "texts.parquet")
    pl.DataFrame({"question": EVAL}).write_csv(tmp_path / "questions.csv")
    return tmp_path


@pytest.mark.parametrize("name", ["set.csv", "set.parquet", "set.jsonl", "set.json"])
def test_read_eval_texts_by_column_and_default(eval_files, name):
    assert read_eval_texts(f"{eval_files / name}:question").to_list() == EVAL
    assert read_eval_texts(str(eval_files / name)).to_list() == ["p1", "p2"]  # "prompt" comes first


def test_read_eval_texts_falls_back_to_text(eval_files):
    assert read_eval_texts(str(eval_files / "texts.parquet")).to_list() == EVAL


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("set.csv:answer", r"no column 'answer' \(columns: question, prompt, score\)"),
        ("questions.csv", r"no 'prompt' or 'text' column; name one as .*questions.csv:COLUMN \(columns: question\)"),
        ("missing.csv", "no such file"),
        ("missing.csv:prompt", "no such file"),
    ],
)
def test_read_eval_texts_errors_name_the_fix(eval_files, spec, message):
    with pytest.raises(BuildError, match=message):
        read_eval_texts(str(eval_files / spec))


def test_read_eval_texts_rejects_unknown_and_broken_files(tmp_path):
    (tmp_path / "set.txt").write_text("hello")
    with pytest.raises(BuildError, match="unsupported file type '.txt'"):
        read_eval_texts(str(tmp_path / "set.txt"))
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(BuildError, match="cannot read it as parquet"):
        read_eval_texts(str(tmp_path / "bad.parquet"))
