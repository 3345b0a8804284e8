"""The shared LLM client, driven through the real ``openai`` package against tests/openai_server.py."""

import json
import time

import pytest

from builders.errors import LLMError
from builders.llm import FAILURE_CLASSES, Client, LLMConfig, Request

from openai_server import OpenAIServer, body_digest, last_user


@pytest.fixture
def server():
    with OpenAIServer() as running:
        yield running


def _config(server, tmp_path, **changes) -> LLMConfig:
    options = dict(model="test-model", base_url=server.url, cache_path=tmp_path / "llm.sqlite", concurrency=8,
                   timeout=2.0, backoff_base=0.01, backoff_cap=0.05, max_attempts=3)
    return LLMConfig(**{**options, **changes})


def _requests(n: int, version: str = "test/echo@v1") -> list[Request]:
    return [Request(({"role": "user", "content": f"Name a colour, please ({i})."},), version, {"row": i})
            for i in range(n)]


def test_results_come_back_in_order_and_a_rerun_sends_nothing(server, tmp_path):
    requests = _requests(20)
    first = Client(_config(server, tmp_path), progress=False).run(requests)
    assert [r.ok for r in first] == [True] * 20
    assert [r.text.split(": ", 1)[1] for r in first] == [r.messages[0]["content"] for r in requests]
    assert server.requests == 20 and not any(r.cached for r in first)

    server.reset_counts()
    again = Client(_config(server, tmp_path), progress=False)
    second = again.run(requests)
    assert server.requests == 0
    assert [r.text for r in second] == [r.text for r in first]
    assert all(r.cached for r in second) and again.stats()["cache_hits"] == 20


def test_the_key_covers_what_decides_the_answer_and_nothing_else(server, tmp_path, monkeypatch):
    base = _config(server, tmp_path)
    request = _requests(1)[0]
    key = request.key(base)
    assert len(key) == 64
    assert Request(request.messages, request.prompt_version, {"row": "other"}).key(base) == key
    for changed in (dict(model="other"), dict(temperature=0.5), dict(max_tokens=9), dict(seed=3)):
        assert request.key(_config(server, tmp_path, **changed)) != key
    assert Request(request.messages, "test/echo@v2").key(base) != key
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    assert request.key(_config(server, tmp_path, base_url="http://elsewhere/v1")) == key


def test_identical_requests_in_one_run_are_sent_once(server, tmp_path):
    requests = _requests(3) * 4
    results = Client(_config(server, tmp_path), progress=False).run(requests)
    assert server.requests == 3 and len(results) == 12 and all(r.ok for r in results)


@pytest.mark.parametrize("fault", ["rate_limit", "server", "timeout", "transport", "malformed", "empty"])
def test_a_passing_fault_is_retried_and_counted_by_class(server, tmp_path, fault):
    server.stall_seconds = 0.6
    server.fail(fault, times=2, retry_after=0.05)
    client = Client(_config(server, tmp_path, timeout=0.3), progress=False)
    [result] = client.run(_requests(1))
    assert result.ok and result.attempts == 3
    expected = {"malformed": "unparseable"}.get(fault, fault)
    assert client.stats()["failures"] == {expected: 2}
    assert client.stats()["requests"] == 3


@pytest.mark.parametrize("fault, failure", [("server", "server"), ("content_filter", "content_filter"),
                                            ("bad_request", "client"), ("empty", "empty")])
def test_a_request_that_keeps_failing_ends_in_the_ledger(server, tmp_path, fault, failure):
    server.fail(fault, match="(1)", times=None)
    client = Client(_config(server, tmp_path), progress=False)
    results = client.run(_requests(3))
    assert [r.ok for r in results] == [True, False, True]
    bad = results[1]
    assert bad.failure == failure and bad.text is None and bad.error
    assert bad.attempts == (3 if failure in ("server", "empty") else 1)  # a filter or a 4xx never passes
    ledger = tmp_path / "failures.jsonl"
    client.write_ledger(ledger)
    [entry] = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert entry["key"] == bad.key and entry["failure"] == failure and entry["attempts"] == bad.attempts
    assert failure in FAILURE_CLASSES

    # A rerun reports the failure again without sending it; --retry-failed sends it again.
    server.reset_counts()
    assert Client(_config(server, tmp_path), progress=False).run(_requests(3))[1].failure == failure
    assert server.requests == 0
    server.clear()
    retried = Client(_config(server, tmp_path, retry_failed=True), progress=False).run(_requests(3))
    assert server.requests == 1 and all(r.ok for r in retried)


def test_retry_after_is_honoured(server, tmp_path):
    server.fail("rate_limit", times=1, retry_after=0.4)
    client = Client(_config(server, tmp_path), progress=False)
    started = time.perf_counter()
    [result] = client.run(_requests(1))
    assert result.ok and time.perf_counter() - started >= 0.4


def test_concurrency_halves_on_429_and_recovers(server, tmp_path):
    server.fail("rate_limit", times=4, retry_after=0.05)
    client = Client(_config(server, tmp_path, concurrency=16), progress=False)
    results = client.run(_requests(200))
    stats = client.stats()
    assert all(r.ok for r in results)
    assert stats["lowest_concurrency_limit"] <= 8
    assert stats["concurrency_limit"] > stats["lowest_concurrency_limit"]


def test_rpm_is_a_hard_cap(server, tmp_path):
    import builders.llm.limits as limits

    original = limits.WINDOW
    limits.WINDOW = 0.5  # the same sliding-window rule over half a second instead of a minute
    try:
        client = Client(_config(server, tmp_path, rpm=5), progress=False)
        started = time.perf_counter()
        results = client.run(_requests(12))
        elapsed = time.perf_counter() - started
    finally:
        limits.WINDOW = original
    assert all(r.ok for r in results)
    assert elapsed >= 1.0  # 12 requests at 5 per window need at least three windows


def test_check_regenerates_once_then_reports_check_failed(tmp_path):
    def answer(body):  # the first answer to every request is too short; a regeneration is fine,
        # except for the request that mentions (2), which never gets better
        good = body.get("seed") and "(2)" not in last_user(body)
        return "A long and complete answer about colours." if good else "Short."

    def check(request, text):
        return "too short" if len(text.split()) < 3 else None

    with OpenAIServer(answer) as server:
        client = Client(_config(server, tmp_path), progress=False)
        results = client.run(_requests(3), check=check)
        assert [r.ok for r in results] == [True, True, False]
        assert results[0].text.startswith("A long") and results[2].failure == "check_failed"
        assert results[2].error == "too short"
        assert client.stats()["failures"]["check_failed"] == 4
        assert server.requests == 6
        server.reset_counts()
        assert [r.ok for r in Client(_config(server, tmp_path), progress=False).run(_requests(3), check=check)] == \
            [True, True, False]
        assert server.requests == 0


def test_no_cache_neither_reads_nor_writes(server, tmp_path):
    Client(_config(server, tmp_path, use_cache=False), progress=False).run(_requests(2))
    Client(_config(server, tmp_path, use_cache=False), progress=False).run(_requests(2))
    assert server.requests == 4 and not (tmp_path / "llm.sqlite").exists()


def test_the_api_key_never_reaches_the_store(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-do-not-store-me")
    client = Client(_config(server, tmp_path), progress=False)
    client.run(_requests(2))
    client.write_ledger(tmp_path / "ledger.jsonl")
    client.close()
    for path in tmp_path.iterdir():
        assert b"sk-do-not-store-me" not in path.read_bytes(), path
    assert "sk-do-not-store-me" not in json.dumps(client.stats())


def test_a_rejected_key_stops_the_run_with_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    with OpenAIServer(api_key="sk-right") as server:
        with pytest.raises(LLMError, match="OPENAI_API_KEY"):
            Client(_config(server, tmp_path), progress=False).run(_requests(1))


def test_the_server_counts_answers_by_body(server, tmp_path):
    client = Client(_config(server, tmp_path), progress=False)
    request = _requests(1)[0]
    client.run([request])
    assert server.answered[body_digest(client.body(request))] == 1
