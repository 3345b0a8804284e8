"""A build killed with SIGKILL while the model answers resumes to the same bytes, paying no answer twice."""

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from openai_server import OpenAIServer, body_digest, scripted_answer
from test_synthesize import _build, _digests, tiny_llm  # noqa: F401 - the fixture is used below

ROOT = Path(__file__).resolve().parent.parent
KILL_DEADLINE = 60.0


def _stored(cache: Path) -> set[str]:
    """Body digests of the answers in the store, read as another process would."""
    if not cache.exists():
        return set()
    try:
        with sqlite3.connect(f"file:{cache}?mode=ro", uri=True, timeout=5) as db:
            rows = db.execute("SELECT request FROM responses").fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet
        return set()
    return {body_digest(json.loads(request)) for (request,) in rows}


def _command(args, out: Path, server, cache: Path) -> list[str]:
    return [sys.executable, "-m", "builders", "build-dataset", "--version", "tiny", "--out", str(out), "--quiet",
            *args, "--responses", "llm", "--base-url", server.url, "--model", "test-model",
            "--llm-cache", str(cache), "--concurrency", "4"]


def _kill_after(command: list[str], cache: Path, answers: int) -> None:
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + KILL_DEADLINE
    try:
        while len(_stored(cache)) < answers:
            assert process.poll() is None, "the build ended before it could be killed"
            assert time.monotonic() < deadline, "the build stored too few answers in time"
            time.sleep(0.005)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL


@pytest.mark.parametrize("kill_points", [(1,), (30, 60)])
def test_a_killed_build_resumes_to_identical_bytes_without_repeating_an_answer(tmp_path, tiny_llm, kill_points):
    with OpenAIServer(scripted_answer, latency=0.03) as server:
        _build(tiny_llm, tmp_path / "reference", server, tmp_path / "reference.sqlite", "--responses", "llm")
        total = server.requests
        cache, out = tmp_path / "llm.sqlite", tmp_path / "out"
        command = _command(tiny_llm, out, server, cache)
        for answers in kill_points:
            before = _stored(cache)
            server.reset_counts()
            _kill_after(command, cache, answers)
            repeated = {body_digest(b) for b in server.bodies} & before
            assert not repeated, f"{len(repeated)} answered requests were sent again"
        assert not out.exists()
        before = _stored(cache)
        assert 0 < len(before) < total
        server.reset_counts()
        finished = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert finished.returncode == 0, finished.stderr
        assert not {body_digest(b) for b in server.bodies} & before
        assert server.requests == total - len(before)
    assert _digests(out) == _digests(tmp_path / "reference")
