"""What a caller hands the client and what it gets back.

A request's cache key is the sha256 of everything that decides the answer:
model, messages, sampling parameters and the prompt version.  The API key and
the server address are deliberately left out (the same model behind another
URL gives the same answer; a key must never reach disk).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

FAILURE_CLASSES = ("transport", "rate_limit", "server", "timeout", "unparseable", "empty",
                   "content_filter", "check_failed", "client")

# A regenerated answer must be allowed to differ from the first one, which a
# temperature of 0 would forbid on a deterministic server.
REGENERATE_MIN_TEMPERATURE = 0.7


def default_cache_path() -> Path:
    from ..sources import default_cache_dir

    return default_cache_dir() / "llm.sqlite"


@dataclass(frozen=True)
class LLMConfig:
    model: str
    base_url: str | None = None  # default: env OPENAI_BASE_URL
    api_key_env: str = "OPENAI_API_KEY"  # the key is read at call time, never stored, logged or hashed
    concurrency: int = 16  # upper bound; AIMD adapts below it on 429
    rpm: int | None = None  # hard caps over any 60-second window
    tpm: int | None = None
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int | None = None  # passed to the server as OpenAI's `seed`
    timeout: float = 60.0
    max_attempts: int = 6  # retry budget per request, rate limits apart
    cache_path: Path | None = None  # default <user cache>/multitask-safety/llm.sqlite
    use_cache: bool = True
    retry_failed: bool = False
    batch: bool = False
    # A 429 means "wait", not "broken": it has its own, larger budget.
    max_rate_limit_retries: int = 30
    backoff_base: float = 0.5  # seconds before the first retry (doubled each time, jittered)
    backoff_cap: float = 30.0
    batch_poll_seconds: float = 10.0
    batch_size: int = 50_000  # requests per submitted batch (the OpenAI limit)
    batch_max_rounds: int = 4  # submissions of what is still missing before giving up

    def resolved_base_url(self) -> str | None:
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or None

    def store_path(self) -> Path:
        return Path(self.cache_path) if self.cache_path else default_cache_path()


@dataclass(frozen=True)
class Request:
    messages: tuple[dict, ...]
    prompt_version: str
    meta: dict = field(default_factory=dict, compare=False, hash=False)  # caller's bookkeeping, not keyed
    salt: int = 0  # > 0 for a regenerated answer after a failed check

    def params(self, config: LLMConfig) -> dict:
        """The generation parameters this request is sent with."""
        temperature = config.temperature
        seed = config.seed
        if self.salt:
            temperature = max(temperature, REGENERATE_MIN_TEMPERATURE)
            seed = (seed or 0) + self.salt
        return {"temperature": temperature, "max_tokens": config.max_tokens, "seed": seed}

    def key(self, config: LLMConfig) -> str:
        body = {"model": config.model, "messages": [dict(m) for m in self.messages],
                "prompt_version": self.prompt_version, **self.params(config)}
        if self.salt:
            body["salt"] = self.salt
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def regenerated(self) -> "Request":
        return Request(self.messages, self.prompt_version, self.meta, self.salt + 1)


@dataclass(frozen=True)
class Result:
    key: str
    ok: bool
    text: str | None
    failure: str | None
    error: str | None
    cached: bool
    attempts: int
    prompt_tokens: int = 0
    completion_tokens: int = 0
    regenerated: bool = False  # the answer is the regeneration after a failed check
