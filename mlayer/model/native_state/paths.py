"""Where an object sits in the model: ``model.estimators_[3].tree_``, found breadth first.

A refusal names the object by the shortest path from the pickle's top object through
attributes (a BUILD's dict entries), dict keys, list items, object-array cells and, for
states given as tuples or call arguments, their positions.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from mlayer.model.native_state.arrays import object_elements
from mlayer.model.stubs import Stub

_LITERALS = (str, bytes, bytearray, int, float, complex, bool, type(None))


def _children(obj: Any):
    """(label, child) pairs of one object of the replay."""
    if isinstance(obj, Stub):
        cells = object_elements(obj)
        if cells is not None:
            shape, items = cells
            for flat, item in enumerate(items):
                index = np.unravel_index(flat, shape) if shape else ()
                yield f"[{', '.join(str(int(i)) for i in index)}]", item
            return
        merged = getattr(obj, "native_merged", None)
        if isinstance(merged, dict):
            for key, value in merged.items():
                label = f".{key}" if isinstance(key, str) and key.isidentifier() else f"[{key!r}]"
                yield label, value
        elif isinstance(obj.state, (tuple, list)):
            for i, value in enumerate(obj.state):
                yield f".<state {i}>", value
        for i, value in enumerate(obj.args):
            yield f".<argument {i}>", value
        for i, (key, value) in enumerate(obj.items):  # what a dict/list subclass was filled with
            yield (f"[{key!r}]" if key is not None else f"[{i}]"), value
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield f"[{key!r}]", value
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield f"[{i}]", value


def _child_objects(obj: Any) -> list:
    """The children ``_children`` would label, without their labels (the walk every scan
    makes; the labelled one runs only when there is a flaw to name)."""
    if isinstance(obj, Stub):
        cells = object_elements(obj)
        if cells is not None:
            return cells[1]
        out = []
        merged = getattr(obj, "native_merged", None)
        if isinstance(merged, dict):
            out.extend(merged.values())
        elif isinstance(obj.state, (tuple, list)):
            out.extend(obj.state)
        out.extend(obj.args)
        out.extend(value for _, value in obj.items)
        return out
    if isinstance(obj, dict):
        return list(obj.values())
    if isinstance(obj, (list, tuple)):
        return obj
    return []


def reachable(top: Any) -> dict[int, Any]:
    """id -> object, for every object ``top`` reaches (the objects ``object_paths`` names)."""
    found: dict[int, Any] = {id(top): top}
    todo = deque([top])  # breadth first, in object_paths' order
    while todo:
        for child in _child_objects(todo.popleft()):
            if not isinstance(child, _LITERALS) and id(child) not in found:
                found[id(child)] = child
                todo.append(child)
    return found


def object_paths(top: Any, root: str = "model") -> dict[int, tuple[Any, str]]:
    """id -> (object, its shortest path from ``top``), for every object ``top`` reaches."""
    found: dict[int, tuple[Any, str]] = {id(top): (top, root)}
    todo = deque([top])
    while todo:
        obj = todo.popleft()
        path = found[id(obj)][1]
        for label, child in _children(obj):
            if isinstance(child, _LITERALS) or id(child) in found:
                continue
            found[id(child)] = (child, path + label)
            todo.append(child)
    return found
