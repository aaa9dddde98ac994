"""What every sink shares: one result's wire form, a delivery report, chunked sends retried in
rounds (retries.py: backoff that stops before the invocation's deadline).

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
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from .retries import Retry, is_retryable

KIB, MIB = 1024, 1024 * 1024
REASON_CHARS = 500  # a reason a person reads in a dead letter, never a copy of the payload

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


Warn = Callable[[str], None]  # how a sink tells the log what it retried or gave up on


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
    wire: Any  # each sink's own form (a JSON line, a request entry, an item)
    size: int = 0


class Delivery:
    """What a write did not achieve; everything else it was given is stored.

    ``retry``: event_ids that may pass when Lambda delivers them again; ``refused``: never,
    event_id -> reason. (Not a dataclass: dataclasses and inspect cost a cold start.)"""

    __slots__ = ("retry", "refused")

    def __init__(
        self, retry: set[str] | None = None, refused: dict[str, str] | None = None
    ) -> None:
        self.retry: set[str] = set() if retry is None else retry
        self.refused: dict[str, str] = {} if refused is None else refused

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Delivery) or other.__class__ is not self.__class__:
            return NotImplemented
        return self.retry == other.retry and self.refused == other.refused

    __hash__ = None  # type: ignore[assignment]  # mutable, as a dataclass with eq is

    def __repr__(self) -> str:
        return f"Delivery(retry={self.retry!r}, refused={self.refused!r})"

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

    def prepare(self, doc: dict[str, Any]) -> Prepared:
        raise NotImplementedError

    def send(self, items: Sequence[Prepared]) -> Delivery:
        raise NotImplementedError

    def write(self, docs: Sequence[dict[str, Any]]) -> Delivery:
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

    def __init__(self, retry: Retry, warn: Warn = noop) -> None:
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
