"""``--batch``: the Batch API flow against the local server's Files and Batches endpoints."""

import pytest

from builders.llm import Client, LLMConfig, Request

from openai_server import OpenAIServer


@pytest.fixture
def server():
    with OpenAIServer() as running:
        yield running


def _config(server, tmp_path, **changes) -> LLMConfig:
    options = dict(model="test-model", base_url=server.url, cache_path=tmp_path / "llm.sqlite", batch=True,
                   batch_poll_seconds=0.02, backoff_base=0.01, max_attempts=3)
    return LLMConfig(**{**options, **changes})


def _requests(n: int) -> list[Request]:
    return [Request(({"role": "user", "content": f"Spell the number {i} in words."},), "test/batch@v1")
            for i in range(n)]


def test_a_batch_answers_every_request_under_its_cache_key(server, tmp_path):
    client = Client(_config(server, tmp_path), progress=False)
    requests = _requests(10)
    results = client.run(requests)
    assert all(r.ok for r in results)
    assert [r.key for r in results] == [r.key(client.config) for r in requests]
    [batch] = server.batches.values()
    sent = [line for line in batch["lines"] if line]
    assert sorted(__import__("json").loads(line)["custom_id"] for line in sent) == sorted(r.key for r in results)
    assert client.stats()["batches_submitted"] == 1

    server.reset_counts()
    again = Client(_config(server, tmp_path), progress=False).run(requests)
    assert [r.text for r in again] == [r.text for r in results] and server.requests == 0
    assert len(server.batches) == 1


def test_an_expired_batch_is_followed_by_one_with_only_the_missing_requests(server, tmp_path):
    server.batch_outcomes = ["expired"]
    client = Client(_config(server, tmp_path), progress=False)
    results = client.run(_requests(10))
    assert all(r.ok for r in results)
    first, second = server.batches.values()
    assert first["meta"]["status"] == "expired"
    assert len([l for l in second["lines"] if l]) == 5
    assert client.stats()["failures"] == {"timeout": 5}


def test_failed_lines_are_resubmitted_alone_and_a_lost_cause_is_ledgered(server, tmp_path):
    server.fail("server", match="number 3 ", times=1)
    server.fail("bad_request", match="number 7 ", times=None)
    client = Client(_config(server, tmp_path), progress=False)
    results = client.run(_requests(10))
    assert [r.ok for r in results] == [i != 7 for i in range(10)]
    assert results[7].failure == "client" and results[3].attempts == 2
    assert [len([l for l in b["lines"] if l]) for b in server.batches.values()] == [10, 1]
    assert [e["failure"] for e in client.failures()] == ["client"]


def test_a_failed_batch_is_submitted_again(server, tmp_path):
    server.batch_outcomes = ["failed"]
    results = Client(_config(server, tmp_path), progress=False).run(_requests(4))
    assert all(r.ok for r in results) and len(server.batches) == 2


def test_a_rerun_resumes_the_recorded_batch_instead_of_submitting_again(server, tmp_path):
    server.batch_seconds = 60  # the first run gives up waiting long before the batch ends
    import asyncio

    client = Client(_config(server, tmp_path), progress=False)

    async def start_then_abandon():
        task = asyncio.ensure_future(client.arun(_requests(6)))
        while not server.batches:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(start_then_abandon())
    client.close()
    assert len(server.batches) == 1
    for entry in server.batches.values():
        entry["due"] = 0  # the batch finishes while nobody watches
    resumed = Client(_config(server, tmp_path), progress=False)
    results = resumed.run(_requests(6))
    assert all(r.ok for r in results)
    assert len(server.batches) == 1 and resumed.stats()["batches_resumed"] == 1


def test_a_batch_the_store_missed_is_adopted_by_its_digest(server, tmp_path):
    from builders.llm.batch import submission_digest

    first = Client(_config(server, tmp_path / "one"), progress=False)
    first.run(_requests(4))
    # Another store (as after a kill between submitting and recording) finds it on the server.
    other = Client(_config(server, tmp_path / "two"), progress=False)
    results = other.run(_requests(4))
    assert all(r.ok for r in results) and len(server.batches) == 1
    assert other.stats()["batches_resumed"] == 1
    [batch] = server.batches.values()
    assert batch["meta"]["metadata"]["mts_submission"] == submission_digest([r.key for r in results])
