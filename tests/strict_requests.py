"""Requests checked against botocore's service model as AWS checks them, not as moto does.

botocore's own validation checks types, required members and minimum lengths only; AWS also
refuses a string over its ``max``, one that does not match its ``pattern``, a value outside its
``enum`` and a number outside its range (moto accepts all of these). ``install(events)`` hooks
that check on every request of a client or session, so a test against the embedded AWS fails
on a request AWS would refuse.
"""

from __future__ import annotations

import re
from typing import Any


class RefusedByAws(AssertionError):
    """A request AWS would refuse (raised before it is sent)."""


def problems(shape: Any, value: Any, where: str) -> list[str]:
    """Every constraint of ``shape`` that ``value`` breaks, with the member path."""
    meta = shape.metadata
    kind = shape.type_name
    out: list[str] = []
    if kind == "structure":
        for name, member in shape.members.items():
            if isinstance(value, dict) and name in value:
                out += problems(member, value[name], f"{where}.{name}")
        return out
    if kind == "list":
        if "max" in meta and len(value) > meta["max"]:
            out.append(f"{where}: {len(value)} items, at most {meta['max']}")
        for i, item in enumerate(value):
            out += problems(shape.member, item, f"{where}[{i}]")
        return out
    if kind == "map":
        for key, item in value.items():
            out += problems(shape.key, key, f"{where} key")
            out += problems(shape.value, item, f"{where}[{key}]")
        return out
    if kind == "string":
        if "max" in meta and len(value) > meta["max"]:
            out.append(f"{where}: {len(value)} characters, at most {meta['max']}")
        pattern = meta.get("pattern")
        if pattern and not re.fullmatch(pattern, value):
            out.append(f"{where}: {value!r} does not match {pattern}")
        if shape.enum and value not in shape.enum:
            out.append(f"{where}: {value!r} is not one of {shape.enum}")
        return out
    if kind in ("integer", "long"):
        if "min" in meta and value < meta["min"]:
            out.append(f"{where}: {value} is under {meta['min']}")
        if "max" in meta and value > meta["max"]:
            out.append(f"{where}: {value} is over {meta['max']}")
    return out


def check(params: dict, model: Any, **_: Any) -> None:
    """A ``before-parameter-build`` handler: raise RefusedByAws for what AWS would refuse."""
    found = problems(model.input_shape, params, model.name) if model.input_shape else []
    if found:
        raise RefusedByAws("; ".join(found))


def install(events: Any) -> None:
    """Check every request of the session or client whose event emitter this is."""
    events.register_first("before-parameter-build.*.*", check)
