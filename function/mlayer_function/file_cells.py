"""A file's raw records -> the JSON objects a stream's records would be, or why one cannot be.

JSON lines: each line is the object a Kinesis record carries (docs/FORMATS.md). CSV: the first
record is the header; each row becomes an object keyed by it, its cells typed by what the
model takes, so the rest of the way (decoding.to_row, the table schema's checks) is the
stream's own:
- table models: a column's cells as its kind (number: a decimal, boolean: true/false/1/0,
  string and datetime: the text); an empty cell is null;
- text models: the ``text`` column;
- features models: every column but ``id``, in the header's order, as numbers;
- record models: every column as text (an empty cell is null).
An ``id`` column, when there is one, is the row's id (text, as written).
"""

from __future__ import annotations

import csv
import math

from .decoding import BadRecord, parse_json

BOOLEANS = {"true": True, "false": False, "1": True, "0": False, "True": True, "False": False}


def parse_csv(texts: list[str]) -> list[list[str] | str]:
    """Each record's cells, or the csv module's complaint about it (a str)."""
    try:
        return list(csv.reader(texts, strict=True))
    except csv.Error:
        out: list[list[str] | str] = []
        for text in texts:
            try:
                out.extend(csv.reader([text], strict=True))
            except csv.Error as exc:
                out.append(f"not CSV: {exc}")
        return out


def header_of(raw: bytes) -> list[str]:
    """The header's column names; ValueError when it cannot name columns."""
    cells = parse_csv([raw.decode("utf-8")])[0]
    if isinstance(cells, str) or not cells or len(set(cells)) != len(cells):
        raise ValueError(f"the CSV header {raw[:200]!r} must name each column once")
    return cells


class CsvRows:
    """Rows of one CSV file as objects for ``input_kind`` (and its table schema, if any)."""

    def __init__(self, header: list[str], input_kind: str, table: object = None) -> None:
        self.header, self.width = header, len(header)
        self._kind = input_kind
        kinds = {c.name: c.kind for c in getattr(table, "columns", ())}
        self._convert = [_converter(kinds.get(name), input_kind, name) for name in header]
        self._features = [i for i, name in enumerate(header) if name != "id"]
        self._id = header.index("id") if "id" in header else None

    def objects(self, texts: list[str]) -> list[dict | BadRecord]:
        """One object per record text, or the BadRecord saying why it is not one."""
        out: list[dict | BadRecord] = []
        for cells in parse_csv(texts):
            if isinstance(cells, str):
                out.append(BadRecord(cells))
            elif len(cells) != self.width:
                out.append(
                    BadRecord(
                        f"wrong number of fields: got {len(cells)}, the header has {self.width}"
                    )
                )
            else:
                try:
                    out.append(self._object(cells))
                except BadRecord as exc:
                    out.append(exc)
        return out

    def feature_block(self, texts: list[str], n_features: int | None):
        """A features model's rows as one float64 array, with their ids (or None): the fast
        path, taken only when every row is well-formed; otherwise None, and ``objects`` says
        which rows are not and why."""
        if self._kind != "features" or not texts:
            return None
        import numpy as np

        if n_features is not None and len(self._features) != n_features:
            return None
        try:
            cells = list(csv.reader(texts, strict=True))
        except csv.Error:
            return None
        n = len(cells)
        try:
            columns = list(zip(*cells, strict=True))  # transposed in C; a short row raises
            if len(columns) != self.width:
                return None
            block = np.empty((n, len(self._features)), dtype=np.float64)
            for j, i in enumerate(self._features):
                block[:, j] = np.fromiter(map(float, columns[i]), dtype=np.float64, count=n)
        except ValueError:
            return None
        if not np.isfinite(block).all():
            return None
        ids = list(columns[self._id]) if self._id is not None else None
        return block, ids

    def _object(self, cells: list[str]) -> dict:
        if self._kind == "features":
            obj: dict = {"features": [_number(cells[i], self.header[i]) for i in self._features]}
        else:
            obj = {
                name: convert(cell)
                for name, convert, cell in zip(self.header, self._convert, cells, strict=True)
            }
        if self._id is not None:
            obj["id"] = cells[self._id]
        return obj


def _converter(kind: str | None, input_kind: str, name: str):
    if input_kind == "text":
        return str
    if kind == "number":
        return lambda cell: None if cell == "" else _number(cell, name)
    if kind == "boolean":
        return lambda cell: None if cell == "" else _boolean(cell, name)
    return lambda cell: None if cell == "" and input_kind != "text" else cell


def _number(cell: str, name: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise BadRecord(
            f"wrong type: column {name!r} must be a number, got {cell[:40]!r}"
        ) from None
    if not math.isfinite(value):
        raise BadRecord(f"non-finite value: column {name!r} is {cell[:40]}")
    return value


def _boolean(cell: str, name: str) -> bool:
    try:
        return BOOLEANS[cell]
    except KeyError:
        raise BadRecord(
            f"wrong type: column {name!r} must be true or false, got {cell[:40]!r}"
        ) from None


def json_objects(texts: list[str]) -> list[object]:
    """Each JSON line's value, or the BadRecord saying why it is not JSON."""
    out: list[object] = []
    for text in texts:
        try:
            out.append(parse_json(text))
        except BadRecord as exc:
            out.append(exc)
    return out
