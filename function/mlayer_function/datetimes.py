"""ISO-8601 text -> the integer a ``datetime64[unit]`` column holds, for table ``datetime`` columns.

One strict pattern, then the C ``datetime.fromisoformat`` (python3.11+) or integer arithmetic
(``parse_pure``: python3.10, and every value fromisoformat refuses, to say why), so a record is
checked (and a bad one dead-lettered with its column named) without pandas, at 1-3 µs each, and
the ONNX predictor needs no pandas either. The pattern is the part of ISO-8601 ``pd.to_datetime(...,
format="ISO8601")`` reads the same way (the tests hold the two equal): ``YYYY-MM-DD``, then
optionally ``THH:MM[:SS[.fraction]]`` (``T`` or a space; up to 9 fraction digits) and an offset
(``Z``, ``±HH``, ``±HHMM``, ``±HH:MM``). Fractions finer than the unit are floored, as
``as_unit`` does.
"""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta, timezone

UNITS = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}  # per second
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # INT64_MIN is NaT: never a value
_ISO = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
    r"(Z|[+-][0-9]{2}(?::?[0-9]{2})?)?)?"
)
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_KNOWN_DAYS: dict[str, int] = {}  # "YYYY-MM-DD" -> days since 1970: a stream repeats its dates
_KNOWN_LIMIT = 1 << 16  # then the cache starts over: hostile dates cannot grow it
SHAPE = "YYYY-MM-DD[THH:MM[:SS[.fff]]][Z|±HH:MM]"
_EPOCH, _EPOCH_UTC = datetime(1970, 1, 1), datetime(1970, 1, 1, tzinfo=timezone.utc)
_STEP = {unit: timedelta(seconds=1) / per_second for unit, per_second in UNITS.items()}
_STEP["ns"] = _STEP["us"]  # timedelta stops at µs: the last 3 digits come from the text
_FAST = sys.version_info >= (3, 11)  # fromisoformat reads Z, ±HH, ±HHMM and 9 digits since 3.11


class DateError(ValueError):
    """Why a value is not a date-time this column takes (the reason's detail)."""


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def _days_of(year: str, month: str, day: str) -> int:
    """Days since 1970-01-01 of a valid date (remembered), or DateError."""
    y, m, d = int(year), int(month), int(day)
    if y < 1 or not 1 <= m <= 12:
        raise DateError("has no such month")
    leap = m == 2 and y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    if not 1 <= d <= _DAYS[m - 1] + leap:
        raise DateError("has no such day")
    if len(_KNOWN_DAYS) >= _KNOWN_LIMIT:
        _KNOWN_DAYS.clear()
    days = _KNOWN_DAYS[f"{year}-{month}-{day}"] = _days_from_civil(y, m, d)
    return days


def _offset_seconds(text: str) -> int:
    if text == "Z":
        return 0
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise DateError(f"UTC offset {text} is out of range")
    return (hours * 3600 + minutes * 60) * (1 if text[0] == "+" else -1)


def parse(value: str, unit: str, utc: bool) -> int:
    """The value as epoch ``unit``s; ``utc``: offsets are converted (a value without one is
    UTC), else the column holds wall-clock times and a value with an offset is refused."""
    match = _ISO.fullmatch(value)
    if match is None:
        raise DateError(f"is not an ISO-8601 date-time ({SHAPE})")
    if not _FAST or match.group(4) is None:  # a date alone: its day is likely remembered
        return _from_groups(match, value, unit, utc)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:  # no such day or time: the pure reading says which
        return _from_groups(match, value, unit, utc)
    if moment.tzinfo is None:
        steps = (moment - _EPOCH) // _STEP[unit]
    elif utc:
        steps = (moment - _EPOCH_UTC) // _STEP[unit]
    else:
        raise DateError("carries a UTC offset; the model was fitted on times without one")
    if unit == "ns":
        fraction = match.group(7)
        steps = steps * 1000 + (int(fraction[6:9].ljust(3, "0")) if fraction else 0)
        if not INT64_MIN < steps <= INT64_MAX:
            raise DateError("is out of the range of datetime64[ns]")
    return steps


def parse_pure(value: str, unit: str, utc: bool) -> int:
    """``parse`` in integer arithmetic alone (what python3.10 runs)."""
    match = _ISO.fullmatch(value)
    if match is None:
        raise DateError(f"is not an ISO-8601 date-time ({SHAPE})")
    return _from_groups(match, value, unit, utc)


def _from_groups(match: re.Match[str], value: str, unit: str, utc: bool) -> int:
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    days = _KNOWN_DAYS.get(value[:10])
    if days is None:
        days = _days_of(year, month, day)
    seconds = days * 86400
    if hour is not None:
        h, mi, s = int(hour), int(minute), int(second or 0)
        if h > 23 or mi > 59 or s > 59:
            raise DateError("has no such time of day")
        seconds += h * 3600 + mi * 60 + s
    if offset is not None:
        if not utc:
            raise DateError("carries a UTC offset; the model was fitted on times without one")
        seconds -= _offset_seconds(offset)
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    per_second = UNITS[unit]
    value_in_unit = seconds * per_second + nanos // (1_000_000_000 // per_second)
    if not INT64_MIN < value_in_unit <= INT64_MAX:
        raise DateError(f"is out of the range of datetime64[{unit}]")
    return value_in_unit
