"""What every sink shares: one result's wire form, a delivery report, retries with backoff.

A sink works in two steps so that one record can never cost its batch:
- ``prepare(doc)`` turns ONE document into what the service takes (an item, a message, a
  line) and checks it fits the service's per-record limit. It raises ``TooBig`` (or whatever
  encoding raises) for that document alone; batch.py dead-letters it with the reason.
- ``send(items)`` writes the prepared items in as few calls as the service allows and returns a
  ``Delivery``: what may pass when Lambda delivers the batch again (throttled, unprocessed, the
  sink is down) and what the service refused for good, per item, with its reason.

boto3 is never imported here: clients come in from sinks.make_client.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

KIB, MIB = 1024, 1024 * 1024
REASON_CHARS = 500  # a reason a person reads in a dead letter, never a copy of the payload

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

# Errors that say the container, not the record, is broken: never blame (dead-letter) a
# record for them; let the invocation fail so Lambda retries the batch.
SYSTEMIC_ERRORS = (MemoryError, SystemError)


class SinkConfigError(ValueError):
    """An output or dead-letter URL that names no sink this function knows."""


class TooBig(Exception):
    """One document is over what its sink takes per record; ``reason`` says by how much."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def noop(message: str) -> None:
    pass


def cut(text: str, limit: int = REASON_CHARS) -> str:
    """Readable and writable anywhere: at most ``limit`` characters, no lone surrogates."""
    if len(text) > limit:
        text = f"{text[:limit]}… ({len(text)} characters, cut)"
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def describe(exc: BaseException) -> str:
    """``Type: message`` of any exception, cut to a readable length (str() itself may fail)."""
    try:
        message = str(exc)
    except Exception:  # pragma: no cover - a hostile __str__
        message = "<unprintable>"
    return cut(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)


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


@dataclass(frozen=True)
class Retry:
    """Attempts with exponential backoff that stop before the invocation's deadline.

    The function's boto3 clients make one HTTP attempt per call (sinks.make_client): these
    rounds are the only retries, so none of them can run past what ``deadline`` allows.
    """

    attempts: int = 6
    base_delay: float = 0.05
    max_delay: float = 1.0
    sleep: Callable[[float], None] = time.sleep
    deadline: Deadline = field(default_factory=Deadline)
    clock: Callable[[], float] = time.monotonic

    def delay(self, retry: int) -> float:
        """The pause before retry number ``retry`` (0 for the first retry)."""
        return min(self.max_delay, self.base_delay * (2**retry))

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


# Built once: json.dumps with any keyword builds a new encoder per call.
JSON_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _line_encoder() -> Callable[[object], str]:
    """JSON_ENCODER's own C encoder, built once: ``encode`` builds a new one per call, a third
    of what encoding one result costs. No cycle check: documents are built here, never cyclic
    (a nesting too deep still raises RecursionError)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - a Python without the _json accelerator
        return JSON_ENCODER.encode
    e = JSON_ENCODER  # its settings, so the two can never write different lines
    chunks = make(
        None,
        e.default,
        json.encoder.encode_basestring_ascii if e.ensure_ascii else json.encoder.encode_basestring,
        e.indent,
        e.key_separator,
        e.item_separator,
        e.sort_keys,
        e.skipkeys,
        e.allow_nan,
    )
    join = "".join

    def encode(doc: object) -> str:
        return join(chunks(doc, 0))

    return encode


_stdlib_line = _line_encoder()


def _fast_line_encoder(fallback: Callable[[object], str]) -> Callable[[object], str] | None:
    """orjson when the deps layer has it (layers/*/requirements.txt ship it): a result line in
    a tenth of the stdlib's time. Anything orjson writes differently goes to ``fallback``, so
    the verdict (a line, or the error that dead-letters the record) is always the stdlib's:
    - what orjson refuses (ints over 64 bits, lone surrogates, non-string keys, nesting over
      255, subclasses, dataclasses, datetimes) raises its TypeError (Enum and UUID values,
      which the stdlib refuses, orjson writes: by value, as text);
    - NaN and the infinities, which orjson writes as ``null``: a line holding ``null`` is
      written again by the stdlib (results rarely hold a null; a dead letter's data may).
    Only number text differs: shortest round-trip form either way, ``0.00001`` for ``1e-05``.
    """
    try:
        import orjson
    except ImportError:
        return None
    dumps = orjson.dumps
    option = (
        orjson.OPT_PASSTHROUGH_SUBCLASS
        | orjson.OPT_PASSTHROUGH_DATACLASS
        | orjson.OPT_PASSTHROUGH_DATETIME
    )

    def encode(doc: object) -> str:
        try:
            raw = dumps(doc, option=option)
        except TypeError:  # orjson.JSONEncodeError is one
            return fallback(doc)
        return fallback(doc) if b"null" in raw else raw.decode()

    return encode


to_json_line = _fast_line_encoder(_stdlib_line) or _stdlib_line


def utf8(text: str) -> bytes:
    """UTF-8 bytes; a lone surrogate raises UnicodeEncodeError (this record cannot be sent)."""
    return text.encode("utf-8")


def split_event_id(event_id: str) -> tuple[str, int] | None:
    """``shardId-…:sequence`` -> (shard, sequence as int); None for other ids (SQS)."""
    shard, sep, seq = event_id.rpartition(":")
    if not sep or not shard or not seq.isdigit():
        return None
    return shard, int(seq)


# A NamedTuple built as ``new_tuple(Type, (fields...))``: without the Python-level __new__ that
# NamedTuple adds, for the per-record hot paths (records in, results, prepared items)
new_tuple = tuple.__new__


class Prepared(NamedTuple):
    """One document in its sink's wire form; ``size`` is what counts against request limits."""

    event_id: str
    wire: object
    size: int = 0


@dataclass
class Delivery:
    """What a write did not achieve; everything else it was given is stored."""

    retry: set[str] = field(default_factory=set)  # may pass when Lambda delivers it again
    refused: dict[str, str] = field(default_factory=dict)  # never: event_id -> reason

    @property
    def undelivered(self) -> set[str]:
        return self.retry | set(self.refused)


def chunks(items: Sequence[Prepared], max_count: int, max_bytes: int) -> list[list[Prepared]]:
    """Consecutive groups within a request's count and size limits (an item alone always fits)."""
    out: list[list[Prepared]] = []
    current: list[Prepared] = []
    size = 0
    for item in items:
        if current and (len(current) == max_count or size + item.size > max_bytes):
            out.append(current)
            current, size = [], 0
        current.append(item)
        size += item.size
    if current:
        out.append(current)
    return out


class BaseSink:
    """prepare/send as above, and ``write(docs)`` doing both for callers that hold documents."""

    name = "sink"

    def prepare(self, doc: dict) -> Prepared:
        raise NotImplementedError

    def send(self, items: Sequence[Prepared]) -> Delivery:
        raise NotImplementedError

    def write(self, docs: Sequence[dict]) -> Delivery:
        items: list[Prepared] = []
        refused: dict[str, str] = {}
        for doc in docs:
            try:
                items.append(self.prepare(doc))
            except SYSTEMIC_ERRORS:
                raise
            except TooBig as exc:
                refused[doc["event_id"]] = exc.reason
            except Exception as exc:
                refused[doc["event_id"]] = describe(exc)
        delivery = self.send(items) if items else Delivery()
        delivery.refused.update(refused)
        return delivery


class ChunkedSink(BaseSink):
    """Send in chunks; resend, with backoff, only what the service reports as not taken.

    ``_send(chunk)`` returns (items worth resending, {event_id: reason} refused for good) or
    raises: a retryable error resends the chunk, any other means the sink is down or
    misconfigured (the records are not to blame) and the chunk is left for Lambda to retry.
    """

    max_count = 25
    max_bytes = 16 * MIB

    def __init__(self, retry: Retry, warn=noop) -> None:
        self._retry, self._warn = retry, warn

    def _send(self, chunk: list[Prepared]) -> tuple[list[Prepared], dict[str, str]]:
        raise NotImplementedError

    def send(self, items: Sequence[Prepared]) -> Delivery:
        delivery = Delivery()
        pending = list(items)
        last_error = "throttled"
        rounds = self._retry.rounds()
        for _ in rounds:
            left: list[Prepared] = []
            for chunk in chunks(pending, self.max_count, self.max_bytes):
                try:
                    again, refused = self._send(chunk)
                except SYSTEMIC_ERRORS:
                    raise
                except Exception as exc:
                    last_error = describe(exc)
                    if not is_retryable(exc):
                        self._warn(f"{self.name}: {last_error}")
                        delivery.retry.update(item.event_id for item in chunk)
                        continue
                    again, refused = chunk, {}
                left.extend(again)
                delivery.refused.update(refused)
            pending = left
            if not pending:
                break
        if pending:
            self._warn(
                f"{self.name}: {len(pending)} not written after retries"
                f" ({rounds.made} attempts, {last_error}){rounds.note}"
            )
            delivery.retry.update(item.event_id for item in pending)
        if delivery.refused:
            first = next(iter(delivery.refused.values()))
            self._warn(f"{self.name}: refused {len(delivery.refused)} for good, e.g. {first}")
        return delivery
