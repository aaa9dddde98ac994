"""Records with named fields -> one pandas DataFrame per batch, for pipelines fitted on DataFrames.

The manifest's ``input_schema`` (written by mlayer at publish, docs/FORMATS.md) says which
columns the pipeline takes, in order, their kind, whether a missing value is acceptable and
which categories an encoder that raises on unknown ones knows. Every record is checked against
it alone, before any predict, so a bad record is dead-lettered with the column named instead of
failing the batch's single vectorized call. pandas is imported only when a table model loads.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from .decoding import BadRecord

KINDS = ("number", "string", "boolean", "datetime")
TIMEZONES = (None, "UTC")  # a datetime column's: wall-clock times, or instants in UTC
NAN = float("nan")
MAX_FLOAT_INT = 2**1024  # the first integer a float64 cannot hold
_SHOWN = 5  # categories quoted in a reason
_QUOTED = 40  # characters of a bad date-time quoted in a reason
NAT = -(2**63)  # what datetime64 holds for a missing value


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


class Column(NamedTuple):
    name: str
    kind: str
    nullable: bool
    categories: frozenset[str] | None  # only when the encoder raises on an unknown category
    unit: str = "ns"  # datetime columns: the datetime64 unit the pipeline was fitted on
    timezone: str | None = None  # datetime columns: None (wall-clock) or "UTC"

    def check(self, value: object) -> object:
        """The value as the DataFrame takes it (null -> NaN), or BadRecord naming the column."""
        if value is None:
            if not self.nullable:
                raise BadRecord(
                    f"missing value: column {self.name!r} is null and the model takes none"
                )
            return NAN
        if self.kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise BadRecord(
                    f"wrong type: column {self.name!r} must be a number, got {_type_name(value)}"
                )
            if isinstance(value, float) and not math.isfinite(value):
                raise BadRecord(f"non-finite value: column {self.name!r} is {value}")
            if isinstance(value, int) and abs(value) >= MAX_FLOAT_INT:
                raise BadRecord(f"non-finite value: column {self.name!r} is too large for a float")
        elif self.kind == "string":
            if not isinstance(value, str):
                raise BadRecord(
                    f"wrong type: column {self.name!r} must be a string, got {_type_name(value)}"
                )
        elif self.kind == "boolean":
            if not isinstance(value, bool):
                raise BadRecord(
                    f"wrong type: column {self.name!r} must be true or false, "
                    f"got {_type_name(value)}"
                )
        else:
            return self._datetime(value)
        if self.categories is not None and value not in self.categories:
            known = sorted(map(str, self.categories))
            shown = ", ".join(known[:_SHOWN]) + (", …" if len(known) > _SHOWN else "")
            raise BadRecord(
                f"unknown category: column {self.name!r} is {value!r}, which the model's encoder "
                f"does not know ({len(known)} known: {shown})"
            )
        return value

    def _datetime(self, value: object) -> int:
        """An ISO-8601 string as the integer its datetime64[unit] column holds."""
        if not isinstance(value, str):
            raise BadRecord(
                f"wrong type: column {self.name!r} must be an ISO-8601 date-time string, "
                f"got {_type_name(value)}"
            )
        from .datetimes import DateError, parse  # datetime columns only: not a cold start's

        try:
            return parse(value, self.unit, self.timezone == "UTC")
        except DateError as exc:
            shown = value if len(value) <= _QUOTED else value[:_QUOTED] + "…"
            raise BadRecord(f"bad date-time: column {self.name!r}: {shown!r} {exc}") from None


class TableSchema:
    """The columns a table model takes; checks records and builds the batch's DataFrame."""

    def __init__(self, columns: list[Column], frames: bool = True) -> None:
        """``frames=False`` for a model fed row tuples (ONNX): no pandas needed, none imported."""
        if frames:
            import numpy
            import pandas

            self._np, self._pd = numpy, pandas
        self.columns = tuple(columns)
        self.names = [c.name for c in columns]
        # per column: what row() accepts without Column.check (a plain value of its kind)
        self._plan = tuple((c.kind, c.categories) for c in columns)
        self._known = frozenset(self.names) | {"id"}
        self._extra: dict[str, int] = {}

    @classmethod
    def from_manifest(cls, schema: object, frames: bool = True) -> TableSchema:
        """Parse the manifest's ``input_schema``; ValueError says what is wrong with it."""
        if not isinstance(schema, dict) or not isinstance(schema.get("columns"), list):
            raise ValueError("input_schema must be an object with a list of columns")
        columns = []
        for raw in schema["columns"]:
            name, kind = raw.get("name"), raw.get("kind")
            if not isinstance(name, str) or kind not in KINDS:
                raise ValueError(f"input_schema column {raw!r}: needs a name and a kind in {KINDS}")
            categories = raw.get("categories")
            raises = raw.get("handle_unknown") == "error" and categories is not None
            unit, timezone = raw.get("unit", "ns"), raw.get("timezone")
            if kind == "datetime":
                from .datetimes import UNITS

                if unit not in UNITS or timezone not in TIMEZONES:
                    raise ValueError(
                        f"input_schema column {name!r}: a datetime needs a unit in "
                        f"{tuple(UNITS)} and a timezone in {TIMEZONES}"
                    )
            columns.append(
                Column(
                    name,
                    kind,
                    bool(raw.get("nullable")),
                    frozenset(categories) if raises else None,
                    unit,
                    timezone,
                )
            )
        if not columns or len({c.name for c in columns}) != len(columns):
            raise ValueError("input_schema must name each column once")
        return cls(columns, frames)

    def row(self, obj: dict[str, Any]) -> tuple[Any, ...]:
        """The record's values in column order (decoding.to_row calls this), or BadRecord.

        A value JSON gives in its column's kind (a finite number, a known string, a boolean)
        is taken as it is; any other (null, a datetime, a wrong one) goes to Column.check,
        which converts it or raises naming the column, in column order as ``_checked`` does."""
        try:
            values = [obj[name] for name in self.names]
        except KeyError:  # which column is missing, or an earlier one that is wrong
            return self._checked(obj)
        for i, (kind, categories) in enumerate(self._plan):
            value = values[i]
            vtype = type(value)
            if kind == "string":
                if vtype is str and (categories is None or value in categories):
                    continue
            elif categories is not None:  # a number or boolean category list: check() tests it
                pass
            elif kind == "number":
                if vtype is float:
                    if value - value == 0.0:  # finite (inf - inf and nan are nan)
                        continue
                elif vtype is int and -MAX_FLOAT_INT < value < MAX_FLOAT_INT:
                    continue
            elif kind == "boolean" and vtype is bool:
                continue
            values[i] = self.columns[i].check(value)
        if len(obj) > len(self._known):  # every column and the id are there: the rest is extra
            for key in obj.keys() - self._known:
                self._extra[key] = self._extra.get(key, 0) + 1
        return tuple(values)

    def _checked(self, obj: dict[str, Any]) -> tuple[Any, ...]:
        """row() one column at a time: the first missing or wrong column raises."""
        values = []
        for column in self.columns:
            try:
                value = obj[column.name]
            except KeyError:
                raise BadRecord(f"missing column: {column.name!r}") from None
            values.append(column.check(value))
        if len(obj) > len(self._known):  # every column and the id are there: the rest is extra
            for key in obj.keys() - self._known:
                self._extra[key] = self._extra.get(key, 0) + 1
        return tuple(values)

    def take_extra_fields(self) -> dict[str, int]:
        """Fields that are not columns, with how many records carried each, since the last call."""
        extra, self._extra = self._extra, {}
        return extra

    def frame(self, rows: list[tuple[Any, ...]]) -> Any:  # a pandas DataFrame (untyped)
        """One DataFrame: columns in the model's order, float64 numbers, object strings,
        datetime64 in the unit the model was fitted on."""
        np = self._np
        data = {}
        transposed = list(zip(*rows, strict=True)) if rows else [() for _ in self.columns]
        for column, values in zip(self.columns, transposed, strict=True):
            if column.kind == "number":
                data[column.name] = np.array(values, dtype=np.float64)
            elif column.kind == "boolean" and NAN not in values:
                data[column.name] = np.array(values, dtype=bool)
            elif column.kind == "datetime":
                data[column.name] = self._datetimes(column, values)
            else:
                array = np.empty(len(values), dtype=object)
                array[:] = values
                data[column.name] = array
        return self._pd.DataFrame(data, columns=self.names, copy=False)

    def _datetimes(self, column: Column, values: tuple[Any, ...]) -> Any:  # numpy/pandas array
        """datetime64[unit] (NaT for a null), tz-aware in UTC when the column is."""
        np = self._np
        ints = np.array([NAT if v is NAN else v for v in values], dtype=np.int64)
        array = ints.view(f"datetime64[{column.unit}]")
        if column.timezone is None:
            return array
        return self._pd.DatetimeIndex(array).tz_localize(column.timezone)
