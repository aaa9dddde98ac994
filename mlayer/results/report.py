"""Pure rendering of results as human text or JSON-ready data. Never prints."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import enum
import re
from pathlib import Path
from typing import Any


def to_jsonable(value: Any) -> Any:
    """Dataclasses, paths, enums and dates -> plain JSON types, recursively."""
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return to_jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    return value


_SHA = re.compile(r"[0-9a-f]{64}")


def short(name: str) -> str:
    """An object key with its sha256 cut to 12 hex digits, for the text (--json keeps it whole)."""
    return _SHA.sub(lambda m: m.group(0)[:12] + "…", name)


def human_bytes(n: int | float | None) -> str:
    """Sizes in Lambda's own units: its "250 MB" limit is 262,144,000 bytes, so 1 MB = 1024² B."""
    if n is None:
        return "-"
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render(result: Any) -> str:
    """Default human rendering: a result's own ``render()`` when it has one, else key: value."""
    if hasattr(result, "render") and callable(result.render):
        rendered: str = result.render()
        return rendered
    data = to_jsonable(result)
    if isinstance(data, dict):
        return "\n".join(f"{k}: {v}" for k, v in data.items())
    return str(data)
