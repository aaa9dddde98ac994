"""A small ELF reader: what a shared object needs from the dynamic loader, in pure Python.

Reads the dynamic section the way the loader does (through the program headers: PT_DYNAMIC,
and PT_LOAD to map DT_STRTAB's address to a file offset) for 32- and 64-bit, little- and
big-endian files: DT_NEEDED, DT_SONAME, DT_RPATH and DT_RUNPATH. Every offset is checked
against the file before it is read, so a truncated or hostile file raises ``ElfError`` with
a reason, never anything else.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ELF_MAGIC = b"\x7fELF"
PT_LOAD, PT_DYNAMIC = 1, 2
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ = 0, 1, 5, 10
DT_SONAME, DT_RPATH, DT_RUNPATH = 14, 15, 29
MAX_HEADERS = 4096  # program headers or dynamic entries: real files have tens
MAX_NAME = 4096

# Per EI_CLASS (1: 32-bit, 2: 64-bit): the header after e_ident, a program header, a
# dynamic entry (d_tag signed, d_val).
_HEADER = {1: "HHIIIIIHHHHHH", 2: "HHIQQQIHHHHHH"}
_PHDR = {1: "IIIIIIII", 2: "IIQQQQQQ"}
_DYN = {1: "iI", 2: "qQ"}


class ElfError(ValueError):
    """The file is not a readable ELF file; ``reason`` says what is wrong with it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DynamicInfo:
    """What the loader reads from one ELF file."""

    machine: int
    bits: int
    needed: tuple[str, ...] = ()
    soname: str | None = None
    rpath: tuple[str, ...] = ()
    runpath: tuple[str, ...] = ()


class _Reader:
    """Bounds-checked struct reads over the file's bytes."""

    def __init__(self, data: bytes | mmap.mmap, order: str) -> None:
        self.data, self.order = data, order

    def unpack(self, fmt: str, offset: int) -> tuple[Any, ...]:
        size = struct.calcsize(self.order + fmt)
        if offset < 0 or offset + size > len(self.data):
            raise ElfError(f"truncated: {size} bytes at offset {offset} are past its end")
        return struct.unpack_from(self.order + fmt, self.data, offset)

    def string(self, start: int, end: int) -> str:
        if start < 0 or start >= end or end > len(self.data):
            raise ElfError(f"a name at offset {start} is outside its string table")
        stop = self.data.find(b"\0", start, min(end, start + MAX_NAME))
        if stop < 0:
            raise ElfError(f"the name at offset {start} does not end")
        return bytes(self.data[start:stop]).decode("utf-8", "backslashreplace")


def parse_dynamic(data: bytes | mmap.mmap) -> DynamicInfo:
    """The dynamic section of the ELF file ``data``; ElfError for anything malformed."""
    if len(data) < 16 or data[:4] != ELF_MAGIC:
        raise ElfError("not an ELF file (no \\x7fELF magic)")
    bits_class, endian = data[4], data[5]
    if bits_class not in _HEADER or endian not in (1, 2):
        raise ElfError(f"unknown ELF class {bits_class} or byte order {endian}")
    reader = _Reader(data, "<" if endian == 1 else ">")
    header = reader.unpack(_HEADER[bits_class], 16)
    machine, phoff, phentsize, phnum = header[1], header[4], header[8], header[9]
    bits = 32 if bits_class == 1 else 64
    if phnum > MAX_HEADERS:
        raise ElfError(f"{phnum} program headers")
    if phnum and phentsize < struct.calcsize(_PHDR[bits_class]):
        raise ElfError(f"program headers of {phentsize} bytes are too small")
    loads, dynamic = [], None
    for i in range(phnum):
        ph = _program_header(reader, bits_class, phoff + i * phentsize)
        if ph["type"] == PT_LOAD:
            loads.append(ph)
        elif ph["type"] == PT_DYNAMIC and dynamic is None:
            dynamic = ph
    if dynamic is None:
        return DynamicInfo(machine, bits)  # statically linked: needs nothing
    return _read_dynamic(reader, bits_class, machine, dynamic, loads)


def _program_header(reader: _Reader, bits_class: int, offset: int) -> dict[str, int]:
    raw = reader.unpack(_PHDR[bits_class], offset)
    if bits_class == 1:  # type, offset, vaddr, paddr, filesz, memsz, flags, align
        return {"type": raw[0], "offset": raw[1], "vaddr": raw[2], "filesz": raw[4]}
    return {"type": raw[0], "offset": raw[2], "vaddr": raw[3], "filesz": raw[5]}


def _read_dynamic(
    reader: _Reader,
    bits_class: int,
    machine: int,
    dynamic: dict[str, int],
    loads: list[dict[str, int]],
) -> DynamicInfo:
    fmt = _DYN[bits_class]
    size = struct.calcsize(reader.order + fmt)
    entries: list[tuple[int, int]] = []
    count = min(dynamic["filesz"] // size, MAX_HEADERS)
    for i in range(count):
        tag, value = reader.unpack(fmt, dynamic["offset"] + i * size)
        if tag == DT_NULL:
            break
        entries.append((tag, value))
    tags = dict(reversed(entries))  # the first of each tag, as the loader takes it
    if DT_STRTAB not in tags:
        raise ElfError("a dynamic section without DT_STRTAB")
    start = _file_offset(tags[DT_STRTAB], loads)
    end = start + tags.get(DT_STRSZ, len(reader.data) - start)

    def names(tag: int) -> list[str]:
        return [reader.string(start + value, end) for t, value in entries if t == tag]

    soname = names(DT_SONAME)
    return DynamicInfo(
        machine=machine,
        bits=32 if bits_class == 1 else 64,
        needed=tuple(names(DT_NEEDED)),
        soname=soname[0] if soname else None,
        rpath=tuple(p for value in names(DT_RPATH) for p in value.split(":") if p),
        runpath=tuple(p for value in names(DT_RUNPATH) for p in value.split(":") if p),
    )


def _file_offset(address: int, loads: list[dict[str, int]]) -> int:
    """The file offset of a virtual address, through the PT_LOAD segment that maps it."""
    for load in loads:
        if load["vaddr"] <= address < load["vaddr"] + load["filesz"]:
            return load["offset"] + address - load["vaddr"]
    raise ElfError(f"DT_STRTAB address {address:#x} is in no loaded segment")


def is_elf(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == ELF_MAGIC
    except OSError:
        return False


def read_dynamic(path: Path) -> DynamicInfo:
    """``parse_dynamic`` of a file, mapped rather than read (libraries run to tens of MB)."""
    with open(path, "rb") as fh:
        if fh.seek(0, 2) < 16:
            raise ElfError("shorter than an ELF header")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return parse_dynamic(data)
