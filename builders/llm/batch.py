"""The Batch API flow: upload a JSONL of requests, poll, download, store.

Each line's ``custom_id`` is the request's cache key, so an answer is stored
under the same key whichever way it came.  A batch is recorded in the store
(with the keys it carries) as soon as the server accepts it, and carries a
digest of its keys in its metadata: a rerun waits for the recorded batches,
or adopts one the server knows but the store missed (killed between the two),
instead of paying for the same requests again.  An expired, failed or partly
failed batch is followed by a new one holding only the requests still
without an answer.
"""

from __future__ import annotations

import asyncio
import hashlib
import json

from openai.types.chat import ChatCompletion

from .failures import Failure, answer_of, classify, short
from .types import Request, Result

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
ENDPOINT = "/v1/chat/completions"
METADATA_KEY = "mts_submission"
ADOPT_SCAN = 1000  # most recent server-side batches looked through for a lost submission


def submission_digest(keys: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:32]


def request_lines(client, requests: dict[str, Request]) -> bytes:
    lines = [json.dumps({"custom_id": key, "method": "POST", "url": ENDPOINT, "body": client.body(request)},
                        sort_keys=True, ensure_ascii=False) for key, request in requests.items()]
    return "".join(line + "\n" for line in lines).encode("utf-8")


class BatchRun:
    def __init__(self, client, api, pending: dict[str, Request], progress):
        self.client, self.api, self.progress = client, api, progress
        self.config, self.store, self.stats = client.config, client.store, client.counters
        self.pending = dict(pending)  # key -> request, still without an answer or a final failure
        self.results: dict[str, Result] = {}
        self.attempts: dict[str, int] = dict.fromkeys(pending, 0)
        self.last: dict[str, Failure] = {}
        self.carried: dict[str, set[str]] = {}  # batch id -> the keys it was sent with

    async def run(self) -> dict[str, Result]:
        if self.store is not None:
            for batch_id, keys in self.store.open_batches(self.pending).items():
                self.carried[batch_id] = set(keys)
                self.stats.batches_resumed += 1
                await self._follow(batch_id)
        for _ in range(self.config.batch_max_rounds):
            if not self.pending:
                break
            keys = sorted(self.pending)
            chunks = [keys[i:i + self.config.batch_size] for i in range(0, len(keys), self.config.batch_size)]
            batch_ids = [await self._submit(chunk) for chunk in chunks]
            await asyncio.gather(*(self._follow(b) for b in batch_ids))
        for key in list(self.pending):
            failure = self.last.get(key) or Failure("timeout", "no batch answered this request")
            self._finish(key, self.client.record_exhausted(key, failure, self.attempts[key]))
        return self.results

    async def _submit(self, keys: list[str]) -> str:
        digest = submission_digest(keys)
        adopted = await self._adopt(digest)
        if adopted:
            self.carried[adopted] = set(keys)
            self.stats.batches_resumed += 1
            return adopted
        content = request_lines(self.client, {k: self.pending[k] for k in keys})
        upload = await self.api.files.create(file=("requests.jsonl", content), purpose="batch")
        batch = await self.api.batches.create(input_file_id=upload.id, endpoint=ENDPOINT, completion_window="24h",
                                              metadata={METADATA_KEY: digest})
        self.stats.batches_submitted += 1
        self.stats.requests += len(keys)
        self.carried[batch.id] = set(keys)
        if self.store is not None:
            self.store.add_batch(batch.id, digest, upload.id, batch.status, keys)
        return batch.id

    async def _adopt(self, digest: str) -> str | None:
        """A live batch of this very submission that the store does not know."""
        if self.store is None:
            return None
        known, seen = set(self.store.batch_ids()), 0
        async for batch in self.api.batches.list(limit=100):
            seen += 1
            if (batch.id not in known and (batch.metadata or {}).get(METADATA_KEY) == digest
                    and batch.status not in ("failed", "cancelled")):
                content = await self.api.files.content(batch.input_file_id)
                keys = [json.loads(line)["custom_id"] for line in content.content.decode().splitlines() if line]
                self.store.add_batch(batch.id, digest, batch.input_file_id, batch.status, keys)
                return batch.id
            if seen >= ADOPT_SCAN:
                break
        return None

    async def _follow(self, batch_id: str) -> None:
        batch = await self.api.batches.retrieve(batch_id)
        while batch.status not in TERMINAL:
            await asyncio.sleep(self.config.batch_poll_seconds)
            batch = await self.api.batches.retrieve(batch_id)
        carried = self.carried.get(batch_id, set())
        seen: set[str] = set()
        for file_id in (batch.output_file_id, batch.error_file_id):
            if file_id:
                content = await self.api.files.content(file_id)
                for line in content.content.decode("utf-8").splitlines():
                    if line.strip():
                        record = json.loads(line)
                        seen.add(record.get("custom_id"))
                        self._line(record)
        why = _batch_failure(batch)
        for key in sorted((carried - seen) & set(self.pending)):
            # Requests the batch never ran: counted as one attempt, sent again in the next round.
            self._failed(key, why)
        if self.store is not None:
            self.store.set_batch_status(batch_id, batch.status, collected=True)

    def _line(self, record: dict) -> None:
        key = record.get("custom_id")
        if key not in self.pending:
            return  # answered already (a line repeated across batches), or not ours
        response = record.get("response") or {}
        status = int(response.get("status_code") or 0)
        body = response.get("body") or {}
        try:
            if record.get("error"):
                raise Failure("server", short(f"batch line error: {record['error']}"))
            if status != 200:
                raise _status_failure(status, body)
            text, prompt_tokens, completion_tokens = answer_of(ChatCompletion.model_validate(body))
        except Exception as exc:  # noqa: BLE001 - classified below
            self._failed(key, classify(exc) if not isinstance(exc, Failure) else exc)
            return
        self.client.record_answer(key, self.pending[key], text, prompt_tokens, completion_tokens)
        self.attempts[key] += 1
        self._finish(key, Result(key, True, text, None, None, False, self.attempts[key], prompt_tokens,
                                 completion_tokens))

    def _failed(self, key: str, failure: Failure) -> None:
        self.attempts[key] += 1
        self.last[key] = failure
        self.client.record_attempt(key, self.attempts[key], failure)
        if not failure.retryable or self.attempts[key] >= self.config.max_attempts:
            self._finish(key, self.client.record_exhausted(key, failure, self.attempts[key]))

    def _finish(self, key: str, result: Result) -> None:
        self.results[key] = result
        self.pending.pop(key, None)
        self.progress.advance()


def _status_failure(status: int, body: dict) -> Failure:
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    message = short(f"HTTP {status}: {error.get('message') or body}")
    if status == 429:
        return Failure("rate_limit", message)
    if status >= 500 or status in (0, 409):
        return Failure("server", message)
    if status == 408:
        return Failure("timeout", message)
    if error.get("code") == "content_filter":
        return Failure("content_filter", message)
    return Failure("client", message)


def _batch_failure(batch) -> Failure:
    if batch.status == "expired":
        return Failure("timeout", "the batch expired before this request ran")
    if batch.status == "failed":
        errors = getattr(batch.errors, "data", None) or []
        detail = "; ".join(f"{e.code}: {e.message}" for e in errors) or "no reason given"
        return Failure("server", short(f"the batch failed ({detail})"))
    if batch.status == "cancelled":
        return Failure("server", "the batch was cancelled")
    return Failure("server", "the batch finished without an answer for this request")


async def resolve_batch(client, api, pending: dict[str, Request], progress) -> dict[str, Result]:
    return await BatchRun(client, api, pending, progress).run()
