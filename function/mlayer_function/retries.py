"""Retries that stop before the invocation's deadline, and what is worth retrying.

Every sink writes in rounds (``for attempt in retry.rounds()``): exponential backoff between
them, and no round started that the Lambda context's remaining time cannot hold with a reserve
left to report (batchItemFailures and the accounting line), instead of Lambda's "Task timed
out". The function's boto3 clients make one HTTP attempt per call (sinks.make_client), so these
rounds are the only retries.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "Throttling",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "SlowDown",
        "RequestThrottled",
        "InternalError",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "RequestTimeout",
        "KMSThrottlingException",
    }
)
CONNECTION_ERRORS = frozenset(
    {"EndpointConnectionError", "ConnectionClosedError", "ReadTimeoutError", "ConnectTimeoutError"}
)


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def http_status(exc: BaseException) -> int:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return status if isinstance(status, int) else 0
    return 0


def is_retryable(exc: BaseException) -> bool:
    """Throttling, a 5xx or a dropped connection may pass; anything else will not."""
    if error_code(exc) in RETRYABLE_CODES or type(exc).__name__ in CONNECTION_ERRORS:
        return True
    status = http_status(exc)
    return status == 429 or status >= 500


class Deadline:
    """When the invocation ends, read from the Lambda context: retries stop early enough to
    report (batchItemFailures and the accounting line) instead of being cut by Lambda's timeout.

    ``arm(context)`` once per invocation; unarmed (no context, a local call) it never stops
    anything. The reserve is max(2 s, 5% of the time the invocation had when armed): room for
    a call in flight to end and for the handler to return.
    """

    MIN_RESERVE_MS = 2000.0
    RESERVE_SHARE = 0.05

    def __init__(self) -> None:
        self._remaining: Callable[[], float] | None = None
        self.reserve_ms = 0.0

    def arm(self, context: object) -> None:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        self._remaining = remaining if callable(remaining) else None
        if self._remaining is not None:
            self.reserve_ms = max(self.MIN_RESERVE_MS, self.RESERVE_SHARE * self._remaining())

    def left_ms(self) -> float:
        return math.inf if self._remaining is None else float(self._remaining())


class Retry:
    """Attempts with exponential backoff that stop before the invocation's deadline.

    The function's boto3 clients make one HTTP attempt per call (sinks.make_client): these
    rounds are the only retries, so none of them can run past what ``deadline`` allows. Set
    once, never changed (a plain class, not a dataclass: dataclasses and the inspect module it
    imports cost a cold start; tests/functional/test_onnx_cold_start.py keeps them out).
    """

    __slots__ = ("attempts", "base_delay", "max_delay", "sleep", "deadline", "clock")

    def __init__(
        self,
        attempts: int = 6,
        base_delay: float = 0.05,
        max_delay: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        deadline: Deadline | None = None,  # None: a Deadline of its own, never armed
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.attempts, self.base_delay, self.max_delay = attempts, base_delay, max_delay
        self.sleep, self.clock = sleep, clock
        self.deadline = Deadline() if deadline is None else deadline

    def __repr__(self) -> str:
        return (
            f"Retry(attempts={self.attempts!r}, base_delay={self.base_delay!r}, "
            f"max_delay={self.max_delay!r}, sleep={self.sleep!r}, deadline={self.deadline!r}, "
            f"clock={self.clock!r})"
        )

    def delay(self, retry: int) -> float:
        """The pause before retry number ``retry`` (0 for the first retry)."""
        delay: float = min(self.max_delay, self.base_delay * (2**retry))
        return delay

    def rounds(self) -> Rounds:
        return Rounds(self)


class Rounds:
    """The attempt numbers of one write: ``for attempt in retry.rounds()``.

    The first attempt is always made (a function always short of time for one call would never
    progress; Lambda's timeout still bounds it). A retry starts only if, after its pause and as
    long again as the last round took, the deadline's reserve is still left; otherwise ``note``
    says why the rounds stopped. One clock read and one context read per round, none per record.
    """

    def __init__(self, retry: Retry) -> None:
        self._retry = retry
        self.made = 0
        self.note = ""

    def __iter__(self) -> Iterator[int]:
        retry, deadline, clock = self._retry, self._retry.deadline, self._retry.clock
        started = clock()
        for attempt in range(retry.attempts):
            if attempt:
                pause = retry.delay(attempt - 1)
                left = deadline.left_ms()
                if left - (pause + clock() - started) * 1000 < deadline.reserve_ms:
                    self.note = (
                        f"; stopped retrying with {left:.0f} ms of the invocation left"
                        f" (keeping {deadline.reserve_ms:.0f} ms to report)"
                    )
                    return
                retry.sleep(pause)
                started = clock()
            self.made += 1
            yield attempt
