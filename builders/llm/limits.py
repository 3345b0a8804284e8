"""How many requests may be in flight, and when the next one may leave.

``Limiter`` combines three gates, all awaited before a request is sent:

* an adaptive concurrency limit (AIMD): halved on a 429, at most once per
  cooldown so that one burst of 429s from requests already in flight counts
  once, and raised by one after a full window of successes, up to the
  configured concurrency;
* a pause that every sender honours after a server answered 429 with
  ``Retry-After``: the server asked all of us to wait, not just that request;
* hard ``rpm``/``tpm`` caps over a sliding 60-second window.  Tokens are
  reserved at the request's estimate and corrected when the usage is known.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from contextlib import asynccontextmanager

WINDOW = 60.0
DECREASE = 0.5
COOLDOWN = 1.0  # seconds between two decreases


class Limiter:
    def __init__(self, concurrency: int, rpm: int | None = None, tpm: int | None = None):
        self.ceiling = max(int(concurrency), 1)
        self.limit = float(self.ceiling)
        self.rpm, self.tpm = rpm, tpm
        self.in_flight = 0
        self.paused_until = 0.0
        self.last_decrease = -COOLDOWN
        self.successes = 0
        self.lowest = self.limit
        self._sent: deque[float] = deque()
        self._tokens: deque[list] = deque()  # [time, tokens] entries, corrected in place
        self._changed = asyncio.Condition()

    @asynccontextmanager
    async def slot(self, estimated_tokens: int = 0):
        """Hold one in-flight place; yields the token entry to correct with ``settle``."""
        entry = await self._acquire(estimated_tokens)
        try:
            yield entry
        finally:
            async with self._changed:
                self.in_flight -= 1
                self._changed.notify_all()

    async def _acquire(self, tokens: int) -> list:
        async with self._changed:
            while True:
                now = time.monotonic()
                wait = self._wait(now, tokens)
                if wait <= 0 and self.in_flight < int(self.limit):
                    break
                if wait > 0:
                    try:
                        await asyncio.wait_for(self._changed.wait(), timeout=wait)
                    except TimeoutError:
                        pass
                else:
                    await self._changed.wait()
            self.in_flight += 1
            self._sent.append(now)
            entry = [now, tokens]
            self._tokens.append(entry)
            return entry

    def _wait(self, now: float, tokens: int) -> float:
        """Seconds until a pause or a cap lets one more request leave; 0 when it may go now."""
        wait = self.paused_until - now
        while self._sent and self._sent[0] <= now - WINDOW:
            self._sent.popleft()
        while self._tokens and self._tokens[0][0] <= now - WINDOW:
            self._tokens.popleft()
        if self.rpm and len(self._sent) >= self.rpm:
            wait = max(wait, self._sent[0] + WINDOW - now)
        if self.tpm and self._tokens:
            used = sum(t for _, t in self._tokens)
            if used + tokens > self.tpm:
                # Wait until enough old reservations leave the window; one oversized request
                # still goes alone, on an empty window.
                freed, until = used + tokens - self.tpm, self._tokens[-1][0]
                for stamp, t in self._tokens:
                    freed -= t
                    if freed <= 0:
                        until = stamp
                        break
                wait = max(wait, until + WINDOW - now)
        return wait

    def settle(self, entry: list, actual_tokens: int) -> None:
        """Replace a reservation by the tokens the server reported."""
        if actual_tokens:
            entry[1] = actual_tokens

    async def on_success(self) -> None:
        async with self._changed:
            self.successes += 1
            if self.limit < self.ceiling and self.successes >= int(self.limit):
                self.successes = 0
                self.limit = min(self.limit + 1.0, float(self.ceiling))
                self._changed.notify_all()

    async def on_rate_limit(self, retry_after: float | None) -> None:
        async with self._changed:
            now = time.monotonic()
            if now - self.last_decrease >= COOLDOWN:
                self.limit = max(1.0, self.limit * DECREASE)
                self.lowest = min(self.lowest, self.limit)
                self.last_decrease = now
                self.successes = 0
            if retry_after:
                self.paused_until = max(self.paused_until, now + retry_after)
            self._changed.notify_all()
