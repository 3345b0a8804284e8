"""Rates with 95 % Wilson score intervals.

The Wilson interval is used instead of the normal ("Wald") one because the
rates here are often 0 % or 100 % on a few dozen rows, where the normal
interval has zero width and claims a certainty the counts do not give; the
Wilson interval stays inside [0, 1] and keeps a width of about z^2 / (n + z^2)
at the ends.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

Z95 = 1.959963984540054  # two-sided 95 % quantile of the standard normal


@dataclass(frozen=True)
class Rate:
    """``hits`` out of ``n`` rows, with its interval; ``rate`` and bounds are None when ``n`` is 0."""

    hits: int
    n: int
    rate: float | None
    low: float | None
    high: float | None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Rate":
        return cls(**{k: data[k] for k in ("hits", "n", "rate", "low", "high")})


def wilson(hits: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for ``hits`` successes in ``n`` trials (n > 0)."""
    if n <= 0:
        raise ValueError("the Wilson interval needs at least one trial")
    if not 0 <= hits <= n:
        raise ValueError(f"hits={hits} is outside 0..{n}")
    p = hits / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    # At p = 0 and p = 1 the formula meets the bound exactly; clamp away rounding noise.
    low = 0.0 if hits == 0 else max(0.0, centre - half)
    high = 1.0 if hits == n else min(1.0, centre + half)
    return low, high


def rate(hits: int, n: int) -> Rate:
    if n == 0:
        return Rate(hits=0, n=0, rate=None, low=None, high=None)
    low, high = wilson(hits, n)
    return Rate(hits=hits, n=n, rate=hits / n, low=low, high=high)


def overlap(a: Rate, b: Rate) -> bool | None:
    """Whether two intervals share a point; None when either has no rows."""
    if a.n == 0 or b.n == 0:
        return None
    return a.low <= b.high and b.low <= a.high
