"""mlayer/build/elf.py: DT_NEEDED and friends, read as the loader reads them.

Real files: every shared object in this venv, against binutils' ``readelf -d`` when the machine
has it (and numpy's _multiarray_umath, whose needs are known, when it does not). Crafted files:
32- and 64-bit, little- and big-endian, built here byte by byte. Hostile files: any bytes, and
any damage to a valid file, give a result or an ElfError, never another exception, and the
layer check refuses such a file by name.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlayer.build.checks import check_native_libs
from mlayer.build.elf import DynamicInfo, ElfError, parse_dynamic, read_dynamic
from mlayer.errors import BuildError
from mlayer.runtimes import RUNTIMES

SITE = Path(next(p for p in sys.path if p.endswith("site-packages")))


def readelf_dynamic(path: Path) -> DynamicInfo:
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True).stdout

    def values(kind: str) -> list[str]:
        return re.findall(rf"\({kind}\)\s+[^\[]*\[(.*?)\]", out)

    def paths(kind: str) -> tuple[str, ...]:
        return tuple(p for value in values(kind) for p in value.split(":") if p)

    soname = values("SONAME")
    return DynamicInfo(
        machine=0,
        bits=0,
        needed=tuple(values("NEEDED")),
        soname=soname[0] if soname else None,
        rpath=paths("RPATH"),
        runpath=paths("RUNPATH"),
    )


def shared_objects() -> list[Path]:
    found = []
    for top in ("numpy", "scipy", "sklearn", "numpy.libs", "scipy.libs", "scikit_learn.libs"):
        found.extend(p for p in (SITE / top).rglob("*.so*") if p.is_file())
    return sorted(found)


@pytest.mark.skipif(shutil.which("readelf") is None, reason="binutils' readelf is not installed")
def test_the_reader_agrees_with_readelf_on_every_shared_object_in_the_venv():
    files = shared_objects()
    assert len(files) > 50
    for path in files:
        ours = read_dynamic(path)
        theirs = readelf_dynamic(path)
        assert (ours.needed, ours.soname, ours.rpath, ours.runpath) == (
            theirs.needed,
            theirs.soname,
            theirs.rpath,
            theirs.runpath,
        ), path
        assert ours.bits == 64 and ours.machine in (62, 183)


def test_numpys_core_module_needs_what_its_wheel_is_known_to_need():
    (path,) = (SITE / "numpy").rglob("_multiarray_umath.cpython-*.so")
    info = read_dynamic(path)
    assert "libc.so.6" in info.needed and "libm.so.6" in info.needed
    blas = [n for n in info.needed if "openblas" in n]
    assert len(blas) == 1 and (SITE / "numpy.libs" / blas[0]).is_file()
    assert info.rpath == ("$ORIGIN/../../numpy.libs",) or "$ORIGIN" in "".join(info.runpath)


# ---------------------------------------------------------------- crafted files


def craft(
    bits: int,
    big: bool,
    needed=("libgomp.so.1", "libc.so.6"),
    soname="libx.so",
    runpath="$ORIGIN/../x.libs",
    machine: int = 62,
) -> bytes:
    """A minimal shared object: ELF header, two program headers (PT_LOAD mapping the whole file
    at 0x1000, PT_DYNAMIC), a string table and a dynamic section."""
    order = ">" if big else "<"
    strings = b"\0"
    offsets = {}
    for name in (*needed, soname, runpath):
        offsets[name] = len(strings)
        strings += name.encode() + b"\0"
    header_size, ph_size = (64, 56) if bits == 64 else (52, 32)
    strtab_off = header_size + 2 * ph_size
    dyn_off = strtab_off + len(strings) + (-len(strings)) % 8
    base = 0x1000
    entries = [(1, offsets[n]) for n in needed] + [
        (14, offsets[soname]),
        (29, offsets[runpath]),
        (5, base + strtab_off),
        (10, len(strings)),
        (0, 0),
    ]
    dyn_fmt = order + ("qQ" if bits == 64 else "iI")
    dynamic = b"".join(struct.pack(dyn_fmt, tag, value) for tag, value in entries)
    total = dyn_off + len(dynamic)
    ident = b"\x7fELF" + bytes([2 if bits == 64 else 1, 2 if big else 1, 1]) + b"\0" * 9
    if bits == 64:
        head = struct.pack(order + "HHIQQQIHHHHHH", 3, machine, 1, 0, header_size, 0, 0,
                           header_size, ph_size, 2, 0, 0, 0)  # fmt: skip
        ph = struct.pack(order + "IIQQQQQQ", 1, 5, 0, base, base, total, total, 0x1000)
        ph += struct.pack(order + "IIQQQQQQ", 2, 6, dyn_off, base + dyn_off, base + dyn_off,
                          len(dynamic), len(dynamic), 8)  # fmt: skip
    else:
        head = struct.pack(order + "HHIIIIIHHHHHH", 3, machine, 1, 0, header_size, 0, 0,
                           header_size, ph_size, 2, 0, 0, 0)  # fmt: skip
        ph = struct.pack(order + "IIIIIIII", 1, 0, base, base, total, total, 5, 0x1000)
        ph += struct.pack(order + "IIIIIIII", 2, dyn_off, base + dyn_off, base + dyn_off,
                          len(dynamic), len(dynamic), 6, 4)  # fmt: skip
    body = ident + head + ph + strings
    body += b"\0" * (dyn_off - len(body))
    return body + dynamic


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("big", [False, True], ids=["little", "big"])
def test_crafted_files_of_every_class_and_byte_order_are_read(bits, big):
    info = parse_dynamic(craft(bits, big, machine=21 if big else 62))
    assert info.needed == ("libgomp.so.1", "libc.so.6")
    assert info.soname == "libx.so" and info.runpath == ("$ORIGIN/../x.libs",)
    assert info.rpath == () and info.bits == bits and info.machine == (21 if big else 62)


@pytest.mark.skipif(shutil.which("readelf") is None, reason="binutils' readelf is not installed")
@pytest.mark.parametrize(("bits", "big"), [(32, False), (32, True), (64, True)])
def test_crafted_files_read_the_same_with_readelf(tmp_path, bits, big):
    path = tmp_path / "libx.so"
    path.write_bytes(craft(bits, big))
    theirs = readelf_dynamic(path)
    assert theirs.needed == ("libgomp.so.1", "libc.so.6") and theirs.soname == "libx.so"


VALID = [craft(bits, big) for bits in (32, 64) for big in (False, True)]


def damaged() -> st.SearchStrategy[bytes]:
    """A valid file with bytes overwritten, then possibly cut short."""

    @st.composite
    def build(draw) -> bytes:
        data = bytearray(draw(st.sampled_from(VALID)))
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] = draw(st.integers(0, 255))
        return bytes(data[: draw(st.integers(0, len(data)))])

    return build()


hostile = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=300).map(lambda b: b"\x7fELF" + b),
    damaged(),
)


@settings(max_examples=300, deadline=None)
@given(data=hostile)
def test_any_bytes_give_a_reading_or_an_elf_error_never_a_crash(data):
    try:
        info = parse_dynamic(data)
    except ElfError as exc:
        assert exc.reason
    else:
        assert all(isinstance(name, str) for name in info.needed)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=hostile)
def test_a_layer_holding_a_malformed_shared_object_is_refused_by_name(tmp_path, data):
    tree = tmp_path / "python"
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "pkg").mkdir(parents=True)
    (tree / "pkg" / "_native.so").write_bytes(data)
    runtime = RUNTIMES["python3.12"]
    try:
        check_native_libs(tree, runtime, "x86_64")
    except BuildError as exc:
        assert exc.message.startswith("pkg/_native.so ")
        assert "not a readable ELF file" in exc.message or "needs" in exc.message
    else:  # damage that left a valid file whose needs Lambda meets
        info = parse_dynamic(data)
        assert set(info.needed) <= {"libc.so.6"}
