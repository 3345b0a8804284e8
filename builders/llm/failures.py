"""What went wrong with one attempt, and how long to wait before the next.

Every attempt ends in an answer or in exactly one failure class.  The class
decides whether a retry can help: a transport error, a 429, a 5xx, a timeout
or a garbled or empty body usually pass; a 4xx other than 408/409/429 and a
content filter come back the same way every time.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

import openai

RETRYABLE = frozenset({"transport", "rate_limit", "server", "timeout", "unparseable", "empty"})
ERROR_CHARS = 300


@dataclass(frozen=True)
class Failure(Exception):
    failure: str  # one of FAILURE_CLASSES
    error: str
    retry_after: float | None = None  # seconds the server asked us to wait

    @property
    def retryable(self) -> bool:
        return self.failure in RETRYABLE


def short(message: object) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= ERROR_CHARS else text[:ERROR_CHARS - 3] + "..."


def retry_after_seconds(headers) -> float | None:
    """The wait a response asks for: ``retry-after-ms``, or ``Retry-After`` in seconds or as a date."""
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(float(millis) / 1000.0, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(parsed.timestamp() - time.time(), 0.0) if parsed else None


def classify(exc: BaseException) -> Failure:
    """The failure class of an exception raised by one ``openai`` call."""
    if isinstance(exc, Failure):
        return exc
    # APITimeoutError is an APIConnectionError: ask about it first.
    if isinstance(exc, openai.APITimeoutError):
        return Failure("timeout", "no answer within the timeout")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return Failure("transport", short(f"{type(cause).__name__}: {cause}"))
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message = short(f"HTTP {status}: {_status_message(exc)}")
        if status == 429:
            return Failure("rate_limit", message, retry_after_seconds(exc.response.headers))
        if status >= 500:
            return Failure("server", message, retry_after_seconds(exc.response.headers))
        if status == 408:
            return Failure("timeout", message)
        if status == 409:
            return Failure("server", message)
        if _code(exc) == "content_filter":
            return Failure("content_filter", message)
        return Failure("client", message)
    if isinstance(exc, (openai.APIResponseValidationError, ValueError, TypeError, KeyError, AttributeError)):
        return Failure("unparseable", short(f"{type(exc).__name__}: {exc}"))
    if isinstance(exc, TimeoutError):
        return Failure("timeout", "no answer within the timeout")
    if isinstance(exc, OSError):
        return Failure("transport", short(f"{type(exc).__name__}: {exc}"))
    raise exc


def _code(exc: openai.APIStatusError) -> str | None:
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error", body) if isinstance(body.get("error", body), dict) else body
    return inner.get("code") if isinstance(inner, dict) else None


def _status_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return exc.message


def answer_of(completion) -> tuple[str, int, int]:
    """(text, prompt tokens, completion tokens) of a chat completion, or a Failure."""
    choices = getattr(completion, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise Failure("unparseable", short(f"no choices in the answer: {completion!r}"))
    choice = choices[0]
    text = getattr(getattr(choice, "message", None), "content", None)
    if getattr(choice, "finish_reason", None) == "content_filter":
        raise Failure("content_filter", "the server's content filter stopped the answer")
    if text is None or not str(text).strip():
        raise Failure("empty", "the answer has no text")
    usage = getattr(completion, "usage", None)
    return str(text), int(getattr(usage, "prompt_tokens", 0) or 0), int(getattr(usage, "completion_tokens", 0) or 0)


def backoff_seconds(attempt: int, base: float, cap: float, retry_after: float | None = None) -> float:
    """Wait before attempt ``attempt + 1``: the server's Retry-After when it gave one
    (plus a little jitter so that waiting clients do not return in step), else
    exponential backoff with jitter over the upper half of the interval."""
    if retry_after is not None:
        return retry_after + random.uniform(0.0, min(0.1 * retry_after + 0.05, 1.0))
    ceiling = min(cap, base * (2 ** max(attempt - 1, 0)))
    return random.uniform(ceiling / 2, ceiling)
