"""``Client``: many chat requests through one OpenAI-compatible server, each paid for once.

``run`` looks every request up in the store first; only the rest go out,
through the official ``openai`` package (its own retries off: this module
retries by failure class), gated by ``Limiter``.  Each answer is stored the
moment it arrives.  A request that keeps failing ends as a ``Result`` with
``ok=False`` and its failure class, never as an exception and never as a
missing entry, and goes to the failure ledger.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai

from ..errors import LLMError
from .failures import Failure, answer_of, backoff_seconds, classify
from .limits import Limiter
from .progress import Progress, Stats
from .store import Store
from .types import LLMConfig, Request, Result

Check = Callable[[Request, str], "str | None"]
CHARS_PER_TOKEN = 4  # rough prompt-size estimate for the tpm cap, corrected by the reported usage


class Client:
    def __init__(self, config: LLMConfig, *, progress: bool = True, desc: str = "llm"):
        if not config.model:
            raise LLMError("no model named: pass --model NAME (the name the server knows the model by).")
        if config.concurrency < 1 or config.max_attempts < 1:
            raise LLMError("--concurrency and the retry budget must be at least 1.")
        self.config = config
        self.desc = desc
        self.show_progress = progress
        self._stats = Stats()
        self._ledger: dict[str, dict] = {}
        self._store = Store(config.store_path()) if config.use_cache else None
        self._limiter: Limiter | None = None

    # -- public ------------------------------------------------------------------------
    def run(self, requests: Sequence[Request], check: Check | None = None) -> list[Result]:
        """Results in the order of ``requests``; see ``arun``."""
        coroutine = self.arun(requests, check)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coroutine)
        with ThreadPoolExecutor(max_workers=1) as pool:  # called from async code: use a loop of our own
            return pool.submit(asyncio.run, coroutine).result()

    async def arun(self, requests: Sequence[Request], check: Check | None = None) -> list[Result]:
        """Never raises for a per-request failure.  ``check(request, text)`` returns None for
        an acceptable answer, else a reason: the answer is then regenerated once (its own
        key, a retry salt), and reported as ``check_failed`` if that fails the check too."""
        keys = [r.key(self.config) for r in requests]
        unique: dict[str, Request] = {}
        for key, request in zip(keys, requests):
            unique.setdefault(key, request)
        self._limiter = Limiter(self.config.concurrency, self.config.rpm, self.config.tpm)
        progress = Progress(self._stats, len(unique), self.desc, self.show_progress)
        api = self._api() if self._needs_api(unique) else None
        try:
            results = await self._resolve(api, unique, progress)
            if check is not None:
                results = await self._check(api, unique, results, check, progress)
        finally:
            progress.close()
            if api is not None:
                await api.close()
        for result in results.values():
            if not result.ok:
                self._ledger[result.key] = {
                    "key": result.key, "failure": result.failure, "error": result.error,
                    "attempts": result.attempts, "prompt_version": unique[result.key].prompt_version}
        return [results[key] for key in keys]

    def stats(self) -> dict:
        data = self._stats.to_dict()
        if self._limiter is not None:
            data["concurrency_limit"] = int(self._limiter.limit)
            data["lowest_concurrency_limit"] = int(self._limiter.lowest)
        return data

    def failures(self) -> list[dict]:
        return [self._ledger[key] for key in sorted(self._ledger)]

    def write_ledger(self, path: Path) -> None:
        """One JSON line per failed request (key, failure class, last error, attempts), by key."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps(entry, sort_keys=True, ensure_ascii=False) for entry in self.failures()]
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    # -- plumbing ----------------------------------------------------------------------
    def _api(self) -> openai.AsyncOpenAI:
        key = os.environ.get(self.config.api_key_env)
        base_url = self.config.resolved_base_url()
        if not key and not base_url:
            raise LLMError(f"no API key: set {self.config.api_key_env}, or pass --base-url for a server "
                           "that needs none (OPENAI_BASE_URL works too).")
        # A local server without authentication still needs a non-empty key in the client.
        return openai.AsyncOpenAI(api_key=key or "unused", base_url=base_url, max_retries=0,
                                  timeout=self.config.timeout)

    def _needs_api(self, unique: dict[str, Request]) -> bool:
        if self._store is None:
            return bool(unique)
        keys = list(unique)
        known = set(self._store.answers(keys))
        if not self.config.retry_failed:
            known |= set(self._store.exhausted(keys))
        # A regeneration may still be needed after a check; the API is opened lazily then.
        return len(known) < len(keys)

    def body(self, request: Request) -> dict:
        """The chat-completions body for ``request`` (no key, no address)."""
        params = request.params(self.config)
        body = {"model": self.config.model, "messages": [dict(m) for m in request.messages],
                "temperature": params["temperature"], "max_tokens": params["max_tokens"]}
        if params["seed"] is not None:
            body["seed"] = params["seed"]
        return body

    def estimate_tokens(self, request: Request) -> int:
        chars = sum(len(str(m.get("content", ""))) for m in request.messages)
        return chars // CHARS_PER_TOKEN + self.config.max_tokens

    async def _resolve(self, api, unique: dict[str, Request], progress: Progress) -> dict[str, Result]:
        """A result for every key: from the store, else from the server."""
        results: dict[str, Result] = {}
        pending = dict(unique)
        if self._store is not None:
            for key, stored in self._store.answers(list(pending)).items():
                results[key] = Result(key, True, stored.text, None, None, True, 0,
                                      stored.prompt_tokens, stored.completion_tokens)
            self._stats.cache_hits += len(results)
            if not self.config.retry_failed:
                for key, gone in self._store.exhausted([k for k in pending if k not in results]).items():
                    results[key] = Result(key, False, None, gone.failure, gone.error, True, gone.attempts)
                    self._stats.final_failures[gone.failure] += 1
            pending = {k: r for k, r in pending.items() if k not in results}
            progress.advance(len(results))
        if pending:
            api = api or self._api()
            if self.config.batch:
                from .batch import resolve_batch

                results.update(await resolve_batch(self, api, pending, progress))
            else:
                results.update(await self._realtime(api, pending, progress))
        return results

    async def _realtime(self, api, pending: dict[str, Request], progress: Progress) -> dict[str, Result]:
        results: dict[str, Result] = {}
        todo = iter(pending.items())

        async def worker() -> None:
            for key, request in todo:  # one shared iterator: each request is taken once
                results[key] = await self._send(api, key, request)
                progress.advance()

        workers = min(self.config.concurrency, len(pending))
        await asyncio.gather(*(worker() for _ in range(workers)))
        return results

    async def _send(self, api, key: str, request: Request) -> Result:
        cfg, limiter = self.config, self._limiter
        body, estimate = self.body(request), self.estimate_tokens(request)
        attempts = tries = rate_limited = 0
        while True:
            attempts += 1
            failure = None
            async with limiter.slot(estimate) as reservation:
                self._stats.requests += 1
                try:
                    completion = await api.chat.completions.create(**body, timeout=cfg.timeout)
                    text, prompt_tokens, completion_tokens = answer_of(completion)
                except (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError) as exc:
                    raise self._fatal(exc) from None
                except Exception as exc:  # noqa: BLE001 - every other error has a failure class
                    failure = classify(exc)
                else:
                    limiter.settle(reservation, prompt_tokens + completion_tokens)
            if failure is None:
                self.record_answer(key, request, text, prompt_tokens, completion_tokens)
                await limiter.on_success()
                return Result(key, True, text, None, None, False, attempts, prompt_tokens, completion_tokens)
            self.record_attempt(key, attempts, failure)
            if failure.failure == "rate_limit":
                rate_limited += 1
                await limiter.on_rate_limit(failure.retry_after)
                exhausted = rate_limited > cfg.max_rate_limit_retries
            else:
                tries += 1
                exhausted = not failure.retryable or tries >= cfg.max_attempts
            if exhausted:
                return self.record_exhausted(key, failure, attempts)
            await asyncio.sleep(backoff_seconds(max(tries, rate_limited), cfg.backoff_base, cfg.backoff_cap,
                                                failure.retry_after))

    def _fatal(self, exc: openai.APIStatusError) -> LLMError:
        where = self.config.resolved_base_url() or "the OpenAI API"
        if exc.status_code == 404:
            return LLMError(f"{where} answered 404 for model '{self.config.model}': check --model (the name "
                            "the server lists under /v1/models) and --base-url (it usually ends in /v1).")
        return LLMError(f"{where} rejected the API key (HTTP {exc.status_code}). Set {self.config.api_key_env} "
                        "to a valid key.")

    # -- bookkeeping shared with the batch flow ------------------------------------------
    def record_answer(self, key: str, request: Request, text: str, prompt_tokens: int, completion_tokens: int):
        if self._store is not None:
            self._store.put_answer(key, text, prompt_tokens, completion_tokens,
                                   {**self.body(request), "prompt_version": request.prompt_version})
        self._stats.answered += 1
        self._stats.prompt_tokens += prompt_tokens
        self._stats.completion_tokens += completion_tokens

    def record_attempt(self, key: str, attempt: int, failure: Failure) -> None:
        self._stats.failures[failure.failure] += 1
        if self._store is not None:
            self._store.add_attempt(key, attempt, failure.failure, failure.error)

    def record_exhausted(self, key: str, failure: Failure, attempts: int) -> Result:
        if self._store is not None:
            self._store.mark_exhausted(key, failure.failure, failure.error, attempts)
        self._stats.final_failures[failure.failure] += 1
        return Result(key, False, None, failure.failure, failure.error, False, attempts)

    @property
    def store(self) -> Store | None:
        return self._store

    @property
    def counters(self) -> Stats:
        return self._stats

    # -- checks ------------------------------------------------------------------------
    async def _check(self, api, unique: dict[str, Request], results: dict[str, Result], check: Check,
                     progress: Progress) -> dict[str, Result]:
        rejected: dict[str, str] = {}
        for key, result in results.items():
            if result.ok:
                reason = check(unique[key], result.text)
                if reason:
                    rejected[key] = reason
        if not rejected:
            return results
        again = {unique[key].regenerated().key(self.config): key for key in rejected}
        retries = {regen_key: unique[key].regenerated() for regen_key, key in again.items()}
        for key, reason in rejected.items():
            self._stats.failures["check_failed"] += 1
            if self._store is not None and not results[key].cached:
                self._store.add_attempt(key, results[key].attempts, "check_failed", reason)
        progress.bar.total += len(retries)
        second = await self._resolve(api, retries, progress)
        checked = dict(results)
        for regen_key, key in again.items():
            first, retry = results[key], second[regen_key]
            attempts = first.attempts + retry.attempts
            cached = first.cached and retry.cached
            reason = check(unique[key], retry.text) if retry.ok else None
            if retry.ok and reason is None:
                checked[key] = Result(key, True, retry.text, None, None, cached, attempts,
                                      first.prompt_tokens + retry.prompt_tokens,
                                      first.completion_tokens + retry.completion_tokens, regenerated=True)
            elif retry.ok:
                self._stats.failures["check_failed"] += 1
                self._stats.final_failures["check_failed"] += 1
                checked[key] = Result(key, False, None, "check_failed", reason, cached, attempts)
            else:
                checked[key] = Result(key, False, None, retry.failure, retry.error, cached, attempts)
        return checked
