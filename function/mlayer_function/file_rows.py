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

    ``quoted`` (CSV): a quote left open continues the record on the next line.
    """

    def __init__(
        self, pieces: Iterable[bytes], *, offset: int = 0, line: int = 1, quoted: bool = False
    ) -> None:
        self._pieces = iter(pieces)
        self._offset, self._line, self._quoted = offset, line, quoted
        self._strip_bom = offset == 0

    def _physical(self) -> Iterator[tuple[bytes, int]]:
        """(line without its newline, its size with it), however the pieces are split."""
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
            for text in lines:
                yield text, len(text) + 1
        if self._strip_bom and rest.startswith(BOM):
            self._offset += len(BOM)
            rest = rest[len(BOM) :]
        if rest:
            yield rest, len(rest)

    def records(self) -> Iterator[tuple[int, bytes, int]]:
        """(line, record without its line end, offset after it), in order."""
        offset, line, quoted = self._offset, self._line, self._quoted
        parts: list[bytes] = []
        open_quotes = 0
        start_line = line
        for text, size in self._physical():
            offset += size
            if quoted and (parts or b'"' in text):
                if not parts:
                    start_line = line
                parts.append(text)
                open_quotes += text.count(b'"')
                line += 1
                if open_quotes % 2:
                    continue  # inside a quoted field: the newline belongs to it
                record = b"\n".join(parts)
                parts, open_quotes = [], 0
            else:
                start_line, record = line, text
                line += 1
            if record.endswith(b"\r"):
                record = record[:-1]
            if record:
                yield start_line, record, offset
        if parts:  # a quote never closed: the rest of the file is one (bad) record
            record = b"\n".join(parts)
            yield start_line, record[:-1] if record.endswith(b"\r") else record, offset

    def batches(self, size: int) -> Iterator[Batch]:
        """The records in lists of ``size``; each batch says where the next one starts."""
        records: list[tuple[int, bytes]] = []
        end, next_line = self._offset, self._line
        for line, record, after in self.records():
            records.append((line, record))
            end, next_line = after, line + 1 + record.count(b"\n")
            if len(records) == size:
                yield Batch(records, end, next_line)
                records = []
        if records:
            yield Batch(records, end, next_line)
