"""Counters of one client and the progress bar that shows them."""

from __future__ import annotations

import time
from collections import Counter

from tqdm import tqdm

REFRESH_SECONDS = 0.5


class Stats:
    def __init__(self):
        self.started = time.perf_counter()
        self.requests = 0  # HTTP requests sent (retries included)
        self.cache_hits = 0
        self.answered = 0  # requests answered by the server in this run
        self.failures: Counter[str] = Counter()  # per attempt, by class
        self.final_failures: Counter[str] = Counter()  # per request, after the budget
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.batches_submitted = 0
        self.batches_resumed = 0

    def to_dict(self) -> dict:
        return {
            "requests": self.requests, "cache_hits": self.cache_hits, "answered": self.answered,
            "failures": dict(sorted(self.failures.items())),
            "final_failures": dict(sorted(self.final_failures.items())),
            "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
            "batches_submitted": self.batches_submitted, "batches_resumed": self.batches_resumed,
            "seconds": round(time.perf_counter() - self.started, 3),
        }


class Progress:
    """done/total, cache hits, failures by class, requests/s and tokens, on stderr."""

    def __init__(self, stats: Stats, total: int, desc: str, enabled: bool):
        self.stats = stats
        self.bar = tqdm(total=total, desc=desc, unit="req", disable=not enabled, leave=False)
        self.last = 0.0

    def advance(self, n: int = 1) -> None:
        self.bar.update(n)
        now = time.perf_counter()
        if now - self.last >= REFRESH_SECONDS:
            self.last = now
            self.bar.set_postfix_str(self.summary(), refresh=False)

    def summary(self) -> str:
        s = self.stats
        elapsed = max(time.perf_counter() - s.started, 1e-9)
        failed = " ".join(f"{k}:{v}" for k, v in sorted(s.failures.items())) or "0"
        return (f"hits={s.cache_hits} failed={failed} {s.requests / elapsed:.1f} req/s "
                f"tokens={s.prompt_tokens + s.completion_tokens}")

    def close(self) -> None:
        self.bar.set_postfix_str(self.summary(), refresh=False)
        self.bar.close()
