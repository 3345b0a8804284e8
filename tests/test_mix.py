"""mix-dataset: what goes in, where it comes from, and what is kept out."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from builders.cli import mix_dataset
from builders.errors import DatasetError, MixError
from builders.mix import MixRequest, mix, safety_counts
from builders.taskdata import read_task_data

from eval_fixtures import write_folder

LONG_TEST_PROMPT = "Placeholder request 7 in direct form "  # a prompt of the fixture's test split


@pytest.fixture
def ours(tmp_path) -> Path:
    return write_folder(tmp_path / "dist", version="v9")


def _task_file(path: Path, n: int = 12) -> Path:
    rows = [{"question": f"Summarize note {i}: the weekly meeting moved to room {i + 3} on Thursday.",
             "answer": f"The meeting is now in room {i + 3}."} for i in range(n)]
    rows.append({"question": LONG_TEST_PROMPT, "answer": "copied from the test split"})
    rows.append({"question": "Translate this sentence 3 [answered] now", "answer": "a near copy"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _read(out: Path) -> list[dict]:
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_per_form_mix_keeps_train_rows_only_in_the_forms_proportion(ours, tmp_path):
    task = read_task_data(str(_task_file(tmp_path / "task.jsonl")), "question", "answer")
    out = tmp_path / "mix.jsonl"
    result = mix(task, str(ours), out, MixRequest(per_form=4, seed=3))

    rows = _read(out)
    safety = [r["provenance"] for r in rows if r["provenance"]["origin"] == "safety"]
    assert result.safety == {f: {"harmful": 3, "benign": 1} for f in
                             ("direct", "summarization", "translation", "classification", "code")}
    assert len(safety) == 20 and all(p["id"].startswith("tr-") for p in safety)  # train split only
    assert {p["version"] for p in safety} == {"v9"} and {p["dataset"] for p in safety} == {str(ours)}
    assert {p["action"] for p in safety} == {"refuse", "answer"}
    theirs = [r["provenance"] for r in rows if r["provenance"]["origin"] == "task"]
    assert sorted(p["row"] for p in theirs) == list(range(12))  # rows 12 and 13 copy test prompts
    assert {p["file"] for p in theirs} == {str(tmp_path / "task.jsonl")}
    assert all([m["role"] for m in r["messages"]] == ["user", "assistant"] for r in rows)
    assert result.total == len(rows) == 32


def test_copies_of_test_prompts_are_removed_and_listed(ours, tmp_path):
    task = read_task_data(str(_task_file(tmp_path / "task.jsonl")), "question", "answer")
    result = mix(task, str(ours), tmp_path / "mix.jsonl", MixRequest(per_form=1))
    assert result.task_removed == {"exact_duplicate": 1, "near_duplicate": 1} and result.task_kept == 12
    removed = [json.loads(line) for line in Path(result.removed_file).read_text().splitlines()]
    assert [(r["row"], r["reason"], r["matched_test_id"]) for r in removed] == [
        (12, "exact_duplicate", "hd07"), (13, "near_duplicate", "bt3")]
    assert 0.8 <= removed[1]["jaccard"] < 1.0


def test_the_seed_decides_the_choice_and_the_order(ours, tmp_path):
    task = read_task_data(str(_task_file(tmp_path / "task.jsonl")), "question", "answer")
    runs = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        mix(task, str(ours), tmp_path / f"{name}.jsonl", MixRequest(per_form=4, seed=seed))
        runs[name] = (tmp_path / f"{name}.jsonl").read_bytes()
    assert runs["a"] == runs["b"] and runs["a"] != runs["c"]


def test_ratio_spreads_safety_rows_over_the_chosen_forms(ours, tmp_path):
    assert safety_counts(MixRequest(ratio=0.5), 14) == {"direct": 2, "summarization": 2, "translation": 1,
                                                        "classification": 1, "code": 1}
    task = read_task_data(str(_task_file(tmp_path / "task.csv.jsonl")), "question", "answer")
    result = mix(task, str(ours), tmp_path / "mix.parquet", MixRequest(ratio=0.5, forms=("code",), fmt="parquet"))
    assert result.safety == {"code": {"harmful": 5, "benign": 1}}  # 0.5 x 12 kept task rows
    frame = pl.read_parquet(tmp_path / "mix.parquet")
    assert frame.columns == ["messages", "provenance"] and frame.height == 18
    assert frame["provenance"].struct.field("task").drop_nulls().unique().to_list() == ["code"]


def test_asking_for_more_rows_than_the_train_split_has_says_how_many_there_are(ours, tmp_path):
    task = read_task_data(str(_task_file(tmp_path / "task.jsonl")), "question", "answer")
    with pytest.raises(MixError, match="only 10; lower --per-form"):
        mix(task, str(ours), tmp_path / "mix.jsonl", MixRequest(per_form=11))


def test_csv_and_parquet_task_files_and_a_missing_column(tmp_path):
    frame = pl.DataFrame({"prompt": ["Name a fruit.", "Name a tree."], "response": ["An apple.", "An oak."]})
    frame.write_csv(tmp_path / "t.csv")
    frame.write_parquet(tmp_path / "t.parquet")
    for name in ("t.csv", "t.parquet"):
        data = read_task_data(str(tmp_path / name))
        assert data.rows["prompt"].to_list() == ["Name a fruit.", "Name a tree."]
        assert data.rows["row"].to_list() == [0, 1]
    with pytest.raises(DatasetError, match="no column 'text'; name the right one with --prompt-column"):
        read_task_data(str(tmp_path / "t.csv"), prompt_column="text")


def test_cli_prints_what_went_in_per_form_and_label(ours, tmp_path):
    task = _task_file(tmp_path / "task.jsonl")
    out = tmp_path / "mix.jsonl"
    result = CliRunner().invoke(mix_dataset, [str(task), "--safety", str(ours), "--per-form", "2",
                                              "--prompt-column", "question", "--response-column", "answer",
                                              "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"wrote 22 rows to {out}"
    assert "2 removed as copies of the test split (1 exact duplicate, 1 near duplicate; listed in" in lines[1]
    assert lines[2].startswith(f"safety rows: 10 from {ours} (v9), train split only, seed 0")
    assert lines[4].split() == ["form", "harmful", "benign", "total"]
    assert lines[-1].split() == ["all", "10", "0", "10"]

    both = CliRunner().invoke(mix_dataset, [str(task), "--safety", str(ours), "--per-form", "2", "--ratio", "1",
                                            "--out", str(out)])
    assert both.exit_code == 2 and "exactly one of --per-form N and --ratio R" in both.output
    bad_column = CliRunner().invoke(mix_dataset, [str(task), "--safety", str(ours), "--per-form", "2",
                                                  "--out", str(out)])
    assert bad_column.exit_code == 1 and "--prompt-column" in bad_column.output
