"""Turn one incoming payload into one model row, or say exactly why it cannot be one.

Every check here is about the record alone, so a bad record never costs the rest of its batch:
the reason travels with the record to the dead-letter sink, where a person can read it.
"""

from __future__ import annotations

import binascii
import functools
import json
import math
import sys
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

INPUT_KINDS = ("text", "features", "record", "table")


class BadRecord(Exception):
    """The record can never be predicted as sent; ``reason`` says why, for the dead letter."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TableRows(Protocol):
    """What RowRules needs of tabular.TableSchema (not imported: tabular imports this module)."""

    names: list[str]

    def row(self, obj: dict[str, Any]) -> tuple[Any, ...]: ...


class RowRules(NamedTuple):
    """What a row must look like for this model (from the manifest and the environment)."""

    input_kind: str
    n_features: int | None = None
    max_text_chars: int = 10_000
    # table models: their schema (tabular.TableSchema) checks each record
    table: TableRows | None = None


def _reject_constant(name: str) -> float:
    raise BadRecord(f"non-finite value: {name} is not a number JSON allows")


# Built once: json.loads with any keyword builds a new decoder per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


# scan_once: set by JSONDecoder.__init__, absent from typeshed's stub
_SCAN = _DECODER.scan_once  # type: ignore[attr-defined]  # its C scanner: what decode() calls, without decode()'s two regexes


def parse_json(text: str) -> object:
    """Strict JSON: NaN and Infinity literals, which Python accepts by default, are refused."""
    try:
        try:
            value, end = _SCAN(text, 0)
        except StopIteration:  # whitespace first, or no value at all: decode() says which
            return _DECODER.decode(text)
        return value if end == len(text) else _DECODER.decode(text)  # whitespace or data after
    except json.JSONDecodeError as exc:
        raise BadRecord(f"not JSON: {exc.msg} at {exc.lineno}:{exc.colno}") from None
    except RecursionError:
        raise BadRecord("not JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer over Python's 4300-digit int-string limit
        raise BadRecord(f"not JSON: {str(exc)[:200]}") from None


if sys.version_info >= (3, 11):
    _b64decode = functools.partial(binascii.a2b_base64, strict_mode=True)

else:  # pragma: no cover - python3.10 runtime
    import base64

    def _b64decode(data: str) -> bytes:
        return base64.b64decode(data, validate=True)


def _fast_loads() -> Callable[[bytes | str], object] | None:
    """orjson's parser when the deps layer has it (a record in a fifth of the stdlib's time),
    used only where its answer is the stdlib's: whatever it refuses (a lone surrogate, a number
    beyond a double, invalid UTF-8, nesting over 1,024) goes to the stdlib, which then gives the
    verdict and its reason; an integer beyond 64 bits, which orjson reads as a float, is caught
    by ``_exact`` and read again by the stdlib as the integer it is."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - every layer recipe ships orjson
        return None
    return orjson.loads


_LOADS = _fast_loads()
_BEYOND_INT64 = 2.0**63  # orjson reads integers in [-2**63, 2**64) as ints, others as floats


def _exact(value: Any) -> bool:
    """False where orjson may have read an integer over 64 bits as a float (any integral float
    that large: a real one like 1e19 is only read twice). A record's fields in one loop."""
    items = value.values() if type(value) is dict else (value,)
    for item in items:
        kind = type(item)
        if kind is float:
            if not -_BEYOND_INT64 < item < _BEYOND_INT64 and item.is_integer():
                return False
        elif kind is dict:
            if not _exact(item):
                return False
        elif kind is list and not all(map(_exact, item)):
            return False
    return True


_STDLIB = object()  # _fast_value's answer when the stdlib must read the payload


def _fast_value(payload: bytes | str) -> object:
    """orjson's value where it is the stdlib's, else _STDLIB (the stdlib then says why)."""
    if _LOADS is None:
        return _STDLIB
    try:
        value = _LOADS(payload)
        return value if _exact(value) else _STDLIB
    except (ValueError, RecursionError):  # orjson.JSONDecodeError is a ValueError
        return _STDLIB


def decode_payload(data: object, encoding: str) -> object:
    """The JSON value inside a record's data: ``base64`` (Kinesis) or ``text`` (SQS bodies)."""
    if not isinstance(data, str):
        raise BadRecord(f"wrong type: data must be a string, got {type(data).__name__}")
    if encoding == "base64":
        try:
            raw = _b64decode(data)
        except (binascii.Error, ValueError) as exc:
            raise BadRecord(f"bad base64: {exc}") from None
        value = _fast_value(raw)
        if value is not _STDLIB:
            return value
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRecord(f"not UTF-8: byte {exc.start} ({exc.reason})") from None
    else:
        text = data
        value = _fast_value(text)
        if value is not _STDLIB:
            return value
    return parse_json(text)


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def record_id(obj: dict[str, Any]) -> str | int:
    if "id" not in obj:
        raise BadRecord("no id")
    value = obj["id"]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise BadRecord(f"wrong type: id must be a string or an integer, got {_type_name(value)}")
    return value


def _check_text(value: object, field: str, limit: int) -> str:
    if not isinstance(value, str):
        raise BadRecord(f"wrong type: {field} must be a string, got {_type_name(value)}")
    if len(value) > limit:
        raise BadRecord(f"text too long: {field} has {len(value)} characters, limit {limit}")
    return value


def _check_features(value: object, n_features: int | None) -> list[float]:
    if not isinstance(value, list):
        raise BadRecord(f"wrong type: features must be a list, got {_type_name(value)}")
    if n_features is not None and len(value) != n_features:
        raise BadRecord(f"wrong number of features: got {len(value)}, expected {n_features}")
    if not value:
        raise BadRecord("wrong number of features: got 0")
    for i, x in enumerate(value):
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise BadRecord(f"wrong type: features[{i}] must be a number, got {_type_name(x)}")
        if isinstance(x, float) and not math.isfinite(x):
            raise BadRecord(f"non-finite value: features[{i}] is {x}")
        if isinstance(x, int) and abs(x) >= 2**1024:
            raise BadRecord(f"non-finite value: features[{i}] is too large for a float")
    return value


def to_row(obj: object, rules: RowRules) -> tuple[str | int, object]:
    """(caller's id, the row the first pipeline step takes) or BadRecord."""
    if not isinstance(obj, dict):
        raise BadRecord(f"not a JSON object: got {_type_name(obj)}")
    rid = record_id(obj)
    if rules.input_kind == "text":
        if "text" not in obj:
            raise BadRecord("no text")
        return rid, _check_text(obj["text"], "text", rules.max_text_chars)
    if rules.input_kind == "features":
        if "features" not in obj:
            raise BadRecord("no features")
        return rid, _check_features(obj["features"], rules.n_features)
    if rules.input_kind == "table":
        return rid, rules.table.row(obj)  # type: ignore[union-attr]  # set for table models
    for key, value in obj.items():
        if isinstance(value, str):
            _check_text(value, key, rules.max_text_chars)
    return rid, obj
