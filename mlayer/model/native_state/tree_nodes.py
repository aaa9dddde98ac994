"""The node arrays of many Trees checked at once: one numpy pass over all of a forest's nodes.

A forest holds hundreds of small trees; checking each with a dozen numpy calls costs more than
loading it. So ``Tree`` states queue their node fields (cut to ``node_count``) here and are
checked together, in batches of at most ``BATCH_NODES`` nodes (memory stays bounded: a batch is
checked and dropped as soon as it is full). Each tree is reported at its first flaw, in the
order of ``trees.py``'s docstring: both children -1 or neither; children later nodes of the
same tree; each node but the root the child of exactly one split; a split's feature within its
``n_features``; thresholds not NaN nor -inf; ``n_node_samples >= 1``; weighted samples finite
and >= 0; impurity finite; ``missing_go_to_left`` 0/1; ``max_depth`` the deepest node's depth.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

TREE_LEAF = -1
BATCH_NODES = 1 << 20


@dataclass(frozen=True)
class Queued:
    inst: Any  # the Tree stub
    nodes: np.ndarray  # in trees.NODE_FIELDS' aligned layout, cut to node_count
    n_features: int
    max_depth: int


class NodeBatch:
    """Trees waiting for their node check; ``flush`` returns (tree, "field: why") flaws."""

    def __init__(self) -> None:
        self.queued: list[Queued] = []
        self.nodes = 0
        self.flaws: list[tuple[Any, str]] = []

    def add(self, item: Queued) -> None:
        self.queued.append(item)
        self.nodes += len(item.nodes)
        if self.nodes >= BATCH_NODES:
            self.flush()

    def flush(self) -> list[tuple[Any, str]]:
        if self.queued:
            self.flaws.extend(_check(self.queued))
        self.queued, self.nodes = [], 0
        return self.flaws


class Report:
    """Per-tree first flaw over concatenated nodes (``tree_of[g]``: the tree of node g)."""

    def __init__(self, queued: list[Queued], tree_of: np.ndarray, local: np.ndarray) -> None:
        self.queued, self.tree_of, self.local = queued, tree_of, local
        self.failed = np.zeros(len(queued), dtype=bool)
        self.out: list[tuple[Any, str]] = []
        self._ok: np.ndarray | None = None  # nodes of trees not failed yet

    def ok(self) -> np.ndarray:
        if self._ok is None:
            self._ok = ~self.failed[self.tree_of]
        return self._ok

    def __call__(self, bad: np.ndarray, field: str, why: Callable[[int], str]) -> None:
        where = np.flatnonzero(bad & self.ok())
        if not len(where):
            return
        trees, first = np.unique(self.tree_of[where], return_index=True)
        for tree, g in zip(trees.tolist(), where[first].tolist(), strict=True):
            at = f"nodes['{field}'][{int(self.local[g])}]" if field else f"nodes[{self.local[g]}]"
            self.out.append((self.queued[tree].inst, f"{at}: {why(g)}"))
        self.failed[trees] = True
        self._ok = None


def _check(queued: list[Queued]) -> list[tuple[Any, str]]:
    counts = np.array([len(q.nodes) for q in queued], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    tree_of = np.repeat(np.arange(len(queued)), counts)
    g = np.arange(int(counts.sum()))  # each node's index in the batch
    offset = starts[tree_of]
    local = g - offset
    f = _fields(queued, counts, starts)
    end = offset + counts[tree_of]  # one past each node's tree, in batch indices
    report = Report(queued, tree_of, local)
    left, right = f["left_child"], f["right_child"]
    leaf = left == TREE_LEAF
    report(leaf != (right == TREE_LEAF), "right_child", lambda g: "one child is -1, not both")
    split = ~leaf
    at = {"left_child": left + offset, "right_child": right + offset}  # children in the batch
    for name, child in at.items():
        bad = split & ((child <= g) | (child >= end))  # not a later node of the same tree
        report(
            bad,
            name,
            lambda g, c=child: (
                f"{int(c[g] - offset[g])} is not a later node of {int(end[g] - offset[g])}"
            ),
        )
    checked = split & report.ok()
    parents = _parents(at["left_child"], at["right_child"], checked)
    root = np.zeros(len(g), dtype=bool)
    root[starts] = True
    report(parents != ~root, "", lambda g: f"the child of {parents[g]} nodes, not one")
    n_features = np.array([q.n_features for q in queued], dtype=np.int64)[tree_of]
    feature = f["feature"]
    bad = split & ((feature < 0) | (feature >= n_features))
    report(bad, "feature", lambda g: f"{int(feature[g])} is not one of {n_features[g]} features")
    threshold = f["threshold"]
    report(split & ~(threshold > -np.inf), "threshold", lambda g: "NaN or -inf")
    report(f["n_node_samples"] < 1, "n_node_samples", lambda g: "below 1")
    weighted = f["weighted_n_node_samples"]
    report(~(np.isfinite(weighted) & (weighted >= 0)), "weighted_n_node_samples", _nonneg)
    report(~np.isfinite(f["impurity"]), "impurity", lambda g: "not finite")
    report(f["missing_go_to_left"] > 1, "missing_go_to_left", lambda g: "not 0 or 1")
    _check_depths(queued, report, at["left_child"], at["right_child"], split & report.ok(), starts)
    return report.out


def _fields(queued: list[Queued], counts: np.ndarray, starts: np.ndarray) -> dict:
    """The batch's node fields, each one contiguous array (strided record fields are slow).
    sklearn's Node is eight 8-byte slots (the last holds the 1-byte missing_go_to_left), so
    on a little-endian machine the trees' records are joined as raw bytes into one (n, 8)
    int64 matrix, then transposed a block of rows at a time (a block stays in the CPU cache;
    numpy's whole-matrix transpose, or concatenating the records as records, is 3-8x slower)."""
    layout = queued[0].nodes.dtype
    slots = [layout.fields[name][1] for name in layout.names]
    if sys.byteorder != "little" or layout.itemsize != 64 or slots != list(range(0, 64, 8)):
        nodes = np.concatenate([q.nodes for q in queued])
        return {name: np.ascontiguousarray(nodes[name]) for name in layout.names}
    raw = np.concatenate([np.ascontiguousarray(q.nodes).view(np.uint8) for q in queued])
    matrix = raw.view(np.int64).reshape(-1, 8)
    columns = np.empty((8, len(matrix)), dtype=np.int64)
    for start in range(0, len(matrix), _BLOCK):
        np.copyto(columns[:, start : start + _BLOCK], matrix[start : start + _BLOCK].T)
    fields = {}
    for i, name in enumerate(layout.names):
        kind = layout.fields[name][0]
        fields[name] = columns[i].view(np.float64) if kind.kind == "f" else columns[i]
    fields["missing_go_to_left"] = columns[7] & 0xFF
    return fields


_BLOCK = 4096  # rows transposed at once: 256 KB in, 256 KB out


def _nonneg(_: int) -> str:
    return "not finite and >= 0"


def _parents(left, right, split) -> np.ndarray:
    """How many splits name each node as a child (batch indices; checked trees only)."""
    return np.bincount(np.concatenate([left[split], right[split]]), minlength=len(left))


def _check_depths(queued, report: Report, left, right, split, starts) -> None:
    """Every tree's deepest node, level by level from all roots at once (checked trees only:
    their children are later nodes of the same tree, so the levels end). ``left``/``right``
    are batch indices; a node's depth is recorded, then each tree's maximum taken at once."""
    depth_of = np.zeros(len(left), dtype=np.int64)
    level, depth = starts[~report.failed], 0
    while len(level):
        depth_of[level] = depth
        inner = level[split[level]]
        level = np.concatenate([left[inner], right[inner]])
        depth += 1
    deepest = np.maximum.reduceat(depth_of, starts)
    claimed = np.array([q.max_depth for q in queued], dtype=np.int64)
    wrong = (deepest != claimed) & ~report.failed
    for tree in np.flatnonzero(wrong).tolist():
        why = f"{claimed[tree]}, but its deepest leaf is at depth {deepest[tree]}"
        report.out.append((queued[tree].inst, f"max_depth: {why}"))
    report.failed |= wrong
