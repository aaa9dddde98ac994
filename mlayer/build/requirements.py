"""Reading a requirements file: its bytes (the cache key), and what it pins (the version check)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from mlayer.errors import UsageError
from mlayer.shipped import shipped_root

# mlayer's checkout, or the data files of an installed wheel: layers/ and docker-build/.
SHIPPED_ROOT = shipped_root()
# ``[deps] requirements`` by default: relative to mlayer.toml, else the recipe mlayer ships.
DEFAULT_RECIPE = "layers/sklearn/requirements.txt"

_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*==\s*([^\s;,#]+)")
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical_name(name: str) -> str:
    """PEP 503: lower case, runs of ``-_.`` become ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Requirements:
    path: Path
    text: str
    sha256: str
    pins: dict[str, str]  # canonical name -> pinned version
    names: tuple[str, ...]  # every requirement named, canonical
    inputs_sha256: str = ""  # this file and every -r/-c file it pulls in (the cache key)


def parse_requirements(text: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """Pins (``name==version``) and names of a requirements text; options lines are ignored."""
    pins: dict[str, str] = {}
    names: list[str] = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        pin = _PIN.match(line)
        if pin:
            pins[canonical_name(pin.group(1))] = pin.group(2)
        name = _NAME.match(line)
        if name:
            names.append(canonical_name(name.group(1)))
    return pins, tuple(names)


def requirements_path(configured: str, resolved: Path) -> Path:
    """The file to install: ``resolved`` (the configured value against mlayer.toml's folder),
    or mlayer's own default recipe when the default names no file in the project (a fresh
    ``mlayer init`` folder)."""
    shipped = SHIPPED_ROOT / DEFAULT_RECIPE
    if Path(configured) == Path(DEFAULT_RECIPE) and not resolved.exists() and shipped.is_file():
        return shipped
    return resolved


def read_requirements(path: str | Path) -> Requirements:
    """Read and parse the file, or a UsageError saying why it cannot be read."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(
            f"Requirements file {path} does not exist.",
            "Pass --requirements FILE or set [deps] requirements in mlayer.toml.",
        ) from None
    except IsADirectoryError:
        raise UsageError(
            f"Requirements file {path} is a directory.", "Name the file itself."
        ) from None
    except OSError as exc:
        raise UsageError(
            f"Cannot read requirements file {path}: {exc.strerror or exc}.",
            "Check its permissions, or pass another file with --requirements.",
        ) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(
            f"Requirements file {path} is not UTF-8 text.", "Save it as UTF-8."
        ) from None
    pins, names = parse_requirements(text)
    if not names:
        raise UsageError(
            f"Requirements file {path} names no package.", "Add e.g. scikit-learn==1.7.2."
        )
    sha = hashlib.sha256(data).hexdigest()
    return Requirements(path, text, sha, pins, names, inputs_sha256(path, data))


_INCLUDE = re.compile(r"^\s*(?:--requirement|--constraint|-r|-c)(?:\s*=\s*|\s*)(\S+)")


def included_files(path: Path, text: str) -> list[Path]:
    """The files a requirements text pulls in with -r/-c (pip reads them relative to it)."""
    found = []
    for raw in text.splitlines():
        match = _INCLUDE.match(raw.split(" #", 1)[0])
        if match and "://" not in match.group(1):
            found.append(path.parent / match.group(1))
    return found


def inputs_sha256(path: Path, data: bytes) -> str:
    """One sha256 over the file and, recursively, every -r/-c include: an edit to a
    constraints file must miss the build cache as an edit to the file itself does. A missing
    include is hashed as missing (pip then fails the build and says which)."""
    if not included_files(path, data.decode("utf-8", "replace")):
        return hashlib.sha256(data).hexdigest()  # the key of a file that includes nothing
    digest = hashlib.sha256()
    seen: set[Path] = set()
    pending = [(path, data)]
    while pending:
        current, content = pending.pop(0)
        digest.update(f"{len(content)}\0".encode() + content)
        for child in included_files(current, content.decode("utf-8", "replace")):
            resolved = child.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            try:
                pending.append((child, child.read_bytes()))
            except OSError:
                digest.update(f"missing {child}\0".encode())
    return digest.hexdigest()
