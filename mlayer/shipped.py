"""Where the files mlayer ships beside its code live: the function's package, the layer
recipes and the docker build script.

A source checkout (or `pip install -e .`) has them beside `mlayer/`; a wheel installs them as
data files under `<prefix>/share/mlayer/` (setup.cfg's data_files). One place decides, so the
rest of mlayer asks for a path and never guesses.
"""

from __future__ import annotations

import site
import sys
import sysconfig
from pathlib import Path

SOURCE_ROOT = Path(__file__).resolve().parent.parent
# A file every complete copy holds, to tell a real root from a stray folder.
_MARKER = Path("function") / "mlayer_function" / "handler.py"


def _candidates() -> list[Path]:
    roots = [SOURCE_ROOT]
    for base in (sysconfig.get_path("data"), sys.prefix, getattr(site, "USER_BASE", None)):
        if base:
            roots.append(Path(base) / "share" / "mlayer")
    return roots


def shipped_root() -> Path:
    """The folder holding function/, layers/ and docker-build/ (the source tree if complete)."""
    for root in _candidates():
        if (root / _MARKER).is_file():
            return root
    return SOURCE_ROOT


def shipped_path(*parts: str) -> Path:
    return shipped_root().joinpath(*parts)
