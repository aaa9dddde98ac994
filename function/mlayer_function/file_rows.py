"""A file's byte stream -> its records, each with the line number it starts on and where it ends.

The stream comes in arbitrary pieces (an S3 body read 1 MiB at a time, from any byte offset
at a row boundary); the records and their line numbers never depend on where the pieces split.
A record ends at a newline, except inside a quoted CSV field (RFC 4180: a field in double
quotes may hold newlines; a doubled quote is a quote): a physical line that leaves an odd count
of ``"`` open continues on the next one. Blank lines are no records but count as lines, so
``line`` is what an editor shows. The offset after each batch is a row boundary, where a
continuation may start reading again.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Batch:
    """Up to n records: (line number, raw bytes without the newline); where the next starts."""

    records: list[tuple[int, bytes]]
    end_offset: int  # byte offset just after the last record (a row boundary)
    next_line: int  # line number of the first line after it


class RecordReader:
    """Records from ``pieces`` read from byte ``offset``, the first on line ``line``.

    ``quoted`` (CSV): a quote left open continues the record on the next line. Lines without a
    quote are taken a window at a time (the common case, at C speed per piece); a line with a
    quote, and every line of a record a quote left open, one at a time.
    """

    def __init__(
        self, pieces: Iterable[bytes], *, offset: int = 0, line: int = 1, quoted: bool = False
    ) -> None:
        self._pieces = iter(pieces)
        self._offset, self._line, self._quoted = offset, line, quoted
        self._strip_bom = offset == 0
        self._parts: list[bytes] = []  # the lines of a record a quote left open
        self._open = 0  # quotes in them
        self._start = line  # the line that record starts on
        self._records: list[tuple[int, bytes]] = []

    def _lists(self) -> Iterator[tuple[list[bytes], bool]]:
        """Each piece's complete lines (without their newline); the last line, if it has none."""
        rest = b""
        for piece in self._pieces:
            if not piece:
                continue
            if self._strip_bom:
                if len(rest) + len(piece) < len(BOM) and BOM.startswith(rest + piece):
                    rest += piece
                    continue
                piece, rest, self._strip_bom = rest + piece, b"", False
                if piece.startswith(BOM):
                    self._offset += len(BOM)
                    piece = piece[len(BOM) :]
            lines = (rest + piece).split(b"\n") if rest else piece.split(b"\n")
            rest = lines.pop()
            if lines:
                yield lines, True
        if self._strip_bom and rest.startswith(BOM):
            self._offset += len(BOM)
            rest = rest[len(BOM) :]
        if rest:
            yield [rest], False

    def _one(self, text: bytes, newline: bool) -> None:
        """One line through the quote rule."""
        self._offset += len(text) + newline
        if self._quoted and (self._parts or b'"' in text):
            if not self._parts:
                self._start = self._line
            self._parts.append(text)
            self._open += text.count(b'"')
            self._line += 1
            if self._open % 2:
                return  # inside a quoted field: the newline belongs to it
            record, start = b"\n".join(self._parts), self._start
            self._parts, self._open = [], 0
        else:
            record, start = text, self._line
            self._line += 1
        if record.endswith(b"\r"):
            record = record[:-1]
        if record:
            self._records.append((start, record))

    def _window(self, lines: list[bytes], newline: bool) -> None:
        """Lines with no quote and no record left open: each non-blank one is a record."""
        line = self._line
        self._records.extend(
            [
                (line + k, t[:-1] if t.endswith(b"\r") else t)
                for k, t in enumerate(lines)
                if t and t != b"\r"
            ]
        )
        self._line += len(lines)
        self._offset += sum(map(len, lines)) + (len(lines) if newline else 0)

    def batches(self, size: int) -> Iterator[Batch]:
        """The records in lists of ``size``; each batch says where the next one starts."""
        for lines, newline in self._lists():
            quotes = [k for k, t in enumerate(lines) if b'"' in t] if self._quoted else []
            quotes.append(len(lines))  # the lines that go one at a time, and the end
            i, n, q = 0, len(lines), 0
            while i < n:
                while quotes[q] < i:
                    q += 1
                if self._parts or quotes[q] == i:
                    self._one(lines[i], newline)
                    i += 1
                else:
                    window = lines[i : min(quotes[q], i + size - len(self._records))]
                    self._window(window, newline)
                    i += len(window)
                if len(self._records) >= size:
                    yield Batch(self._records, self._offset, self._line)
                    self._records = []
        if self._parts:  # a quote never closed: the rest of the file is one (bad) record
            record = b"\n".join(self._parts)
            self._records.append((self._start, record[:-1] if record.endswith(b"\r") else record))
            self._parts = []
        if self._records:
            yield Batch(self._records, self._offset, self._line)
            self._records = []

    def records(self) -> Iterator[tuple[int, bytes, int]]:
        """(line, record without its line end, offset after it), one at a time."""
        for batch in self.batches(1):
            ((line, record),) = batch.records
            yield line, record, batch.end_offset
