"""evaluate-dataset and mix-dataset read a Hub repo at a revision: the real huggingface_hub client
against the local Hub double, in subprocesses so that HF_ENDPOINT is set before it is imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from eval_fixtures import held_out_rows, scripted_model, write_folder
from hubserver import HubServer
from openai_server import OpenAIServer

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "hf_test_eval_token"
REPO = "acme/safety"

PUSH = textwrap.dedent("""
    import sys
    from huggingface_hub import HfApi
    repo, first, second = sys.argv[1:]
    api = HfApi()
    api.create_repo(repo, repo_type="dataset")
    api.upload_folder(folder_path=first, repo_id=repo, repo_type="dataset", commit_message="v9")
    api.create_tag(repo, tag="v9", repo_type="dataset")
    api.upload_folder(folder_path=second, repo_id=repo, repo_type="dataset", commit_message="v10")
    api.create_repo("acme/tasks", repo_type="dataset")
    rows = "".join('{"q": "Name river %d.", "a": "River %d."}\\n' % (i, i) for i in range(4))
    api.upload_file(path_or_fileobj=rows.encode(), path_in_repo="data/train.jsonl", repo_id="acme/tasks",
                    repo_type="dataset")
""")


def _env(tmp_path: Path, hub: HubServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING"))}
    env.update(HF_ENDPOINT=hub.url, HF_HUB_DISABLE_XET="1", HF_HOME=str(tmp_path / "hf"), HF_TOKEN=TOKEN,
               HF_HUB_DISABLE_TELEMETRY="1", PYTHONPATH=str(ROOT), OPENAI_API_KEY="test",
               MTS_CACHE_DIR=str(tmp_path / "cache"))
    return env


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    base = tmp_path_factory.mktemp("hubdata")
    first = write_folder(base / "v9", version="v9")
    # The newer version on main has one more test row, so the revision visibly decides what is read.
    extra = held_out_rows() + [{**held_out_rows()[-1], "id": "bl9", "prompt": "One more look-alike prompt"}]
    second = write_folder(base / "v10", version="v10", test=extra)
    with HubServer(tokens={TOKEN: "tester"}) as server:
        subprocess.run([sys.executable, "-c", PUSH, REPO, str(first), str(second)], check=True, timeout=120,
                       env=_env(base, server), capture_output=True)
        yield server


def test_evaluate_reads_the_repo_at_the_revision_asked_for(hub, tmp_path):
    with OpenAIServer(scripted_model) as model:
        args = [sys.executable, "-m", "builders", "evaluate-dataset", REPO, "--revision", "v9", "--base-url",
                model.url, "--model", "scripted", "--out", str(tmp_path / "out"), "--no-calibration", "--quiet",
                "--json"]
        proc = subprocess.run(args, env=_env(tmp_path, hub), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["dataset"]["version"] == "v9" and report["dataset"]["revision"] == "v9"
    assert report["dataset"]["commit"] == hub.state.repo(REPO).tags["v9"]
    assert report["rows"] == 45 and report["attack_success"]["all"]["hits"] == 12


def test_mix_takes_safety_rows_from_the_repo_and_an_unknown_revision_is_one_clear_error(hub, tmp_path):
    task = tmp_path / "task.jsonl"
    task.write_text(json.dumps({"prompt": "Name a river.", "response": "The Danube."}) + "\n")
    base = [sys.executable, "-m", "builders", "mix-dataset", str(task), "--safety", REPO, "--per-form", "1",
            "--out", str(tmp_path / "mix.jsonl")]
    proc = subprocess.run([*base, "--revision", "v9", "--json"], env=_env(tmp_path, hub), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["safety_source"]["version"] == "v9" and summary["total"] == 6
    rows = [json.loads(line)["provenance"] for line in (tmp_path / "mix.jsonl").read_text().splitlines()]
    assert {p["dataset"] for p in rows if p["origin"] == "safety"} == {f"hf:{REPO}@v9"}
    assert {p["version"] for p in rows if p["origin"] == "safety"} == {"v9"}

    missing = subprocess.run([*base, "--revision", "v404"], env=_env(tmp_path, hub), cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "has no revision 'v404'" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_task_data_can_be_a_hub_dataset(hub, tmp_path):
    args = [sys.executable, "-m", "builders", "mix-dataset", "acme/tasks", "--prompt-column", "q",
            "--response-column", "a", "--safety", REPO, "--revision", "v9", "--per-form", "1", "--forms", "code",
            "--out", str(tmp_path / "mix.jsonl"), "--json"]
    proc = subprocess.run(args, env=_env(tmp_path, hub), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["task_origin"] == "hf:acme/tasks@main:train" and summary["task_kept"] == 4
    rows = [json.loads(line) for line in (tmp_path / "mix.jsonl").read_text().splitlines()]
    assert sorted(r["provenance"]["row"] for r in rows if r["provenance"]["origin"] == "task") == [0, 1, 2, 3]
