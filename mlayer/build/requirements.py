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
    return Requirements(path, text, hashlib.sha256(data).hexdigest(), pins, names)
