"""Issue 21's memory-corruption file, and fuzzed states of every native type the scan checks.

GIVEN a real fitted DecisionTreeClassifier whose pickled Tree node array says left_child =
50,000,000 (joblib.dump of the tree with that state), WHEN it is published through the CLI
(dry run, with --sample, and for real), THEN it is refused by file, object path and field,
nothing crashes and nothing is published; loading it in a child Python does crash (control).
Then hypothesis edits one field of each checked type's state: whatever the scan accepts loads
and predicts in a child process without a crash.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from native_state_support import (
    dump,
    edited_binary_tree,
    edited_tree,
    genuine,
    load_and_predict,
)
from publish_support import MODEL, create_function, publish_deps, run_cli

from mlayer.errors import ModelError
from mlayer.model.pickles import scan_file

FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
WORK = Path(tempfile.mkdtemp(prefix="mlayer-hostile-state-"))


def corrupt_tree_file(folder: Path) -> Path:
    model = genuine()["tree"]

    def far_child(state):
        state["nodes"]["left_child"][0] = 50_000_000

    model.tree_ = edited_tree(model.tree_, far_child)
    return dump(model, folder / "tree.joblib")


def test_control_the_file_crashes_whoever_loads_it(tmp_path):
    result = load_and_predict(corrupt_tree_file(tmp_path))
    assert result.returncode < 0, (result.returncode, result.stderr[-500:])


@pytest.mark.parametrize("extra", [["--dry-run"], ["--dry-run", "--sample"], ["--yes"]])
def test_the_cli_refuses_it_by_name_and_publishes_nothing(gw, tmp_path, extra):
    create_function(gw, [publish_deps(gw)])
    path = corrupt_tree_file(tmp_path)
    args = ["publish-model", str(path), "--input", "features", *extra]
    if "--sample" in extra:
        sample = tmp_path / "s.jsonl"
        sample.write_text(json.dumps({"features": [0.5] * 5}) + "\n")
        args.append(str(sample))
    result, doc = run_cli(*args)
    assert result.exit_code == 1, result.output
    assert doc["error"] == "UntrustedPickleError"
    assert str(path) in doc["message"]
    assert "model.tree_: nodes['left_child'][0]: 50000000" in doc["message"]
    assert gw.list_layer_versions(MODEL) == []


def _accepted_loads_safely(obj, name: str) -> None:
    path = dump(obj, WORK / f"{name}.joblib")
    try:
        scan_file(path)
    except ModelError:
        return  # refused: nothing is loaded
    result = load_and_predict(path)
    assert result.returncode >= 0, (name, result.returncode, result.stderr[-500:])


def _wrap(value: int, dtype: np.dtype) -> int:
    if dtype.kind == "u":
        return value % (1 << (8 * dtype.itemsize))
    return max(min(value, np.iinfo(dtype).max), np.iinfo(dtype).min)


INDEXES = st.one_of(st.integers(-3, 64), st.integers(-(2**40), 2**40))
FLOATS = st.sampled_from([np.nan, np.inf, -np.inf, 0.5, -1e300])


@FUZZ
@given(
    field=st.sampled_from(
        [
            "left_child",
            "right_child",
            "feature",
            "n_node_samples",
            "missing_go_to_left",
            "threshold",
            "node_count",
            "max_depth",
        ]
    ),
    at=st.integers(0, 200),
    value=INDEXES,
    number=FLOATS,
)
def test_fuzzed_tree_states(field, at, value, number):
    model = genuine()["tree"]

    def edit(state):
        nodes = state["nodes"]
        if field in ("node_count", "max_depth"):
            state[field] = value
        elif field == "threshold":
            nodes[field][at % state["node_count"]] = number
        else:
            nodes[field][at % state["node_count"]] = _wrap(value, nodes.dtype[field])

    model.tree_ = edited_tree(model.tree_, edit)
    _accepted_loads_safely(model, "tree")


@FUZZ
@given(
    field=st.sampled_from(
        ["left", "right", "feature_idx", "bitset_idx", "is_leaf", "is_categorical"]
    ),
    at=st.integers(0, 200),
    value=INDEXES,
)
def test_fuzzed_hist_gradient_boosting_predictors(field, at, value):
    model = genuine()["hist-gradient-boosting"]
    predictor = model._predictors[at % len(model._predictors)][0]
    nodes = predictor.nodes = predictor.nodes.copy()
    nodes[field][at % len(nodes)] = _wrap(value, nodes.dtype[field])
    _accepted_loads_safely(model, "hgb")


@FUZZ
@given(
    kind=st.sampled_from(["kd-tree", "ball-tree"]),
    field=st.sampled_from(["idx_array", "idx_start", "idx_end", "is_leaf", "n_nodes", "leaf_size"]),
    at=st.integers(0, 200),
    value=INDEXES,
)
def test_fuzzed_binary_trees(kind, field, at, value):
    model = genuine()[kind]

    def edit(state):
        if field == "idx_array":
            state[1][at % len(state[1])] = _wrap(value, state[1].dtype)
        elif field in ("n_nodes", "leaf_size"):
            state[6 if field == "n_nodes" else 4] = value
        else:
            state[2][field][at % len(state[2])] = _wrap(value, state[2].dtype[field])

    model._tree = edited_binary_tree(model, edit)
    _accepted_loads_safely(model, kind)


@FUZZ
@given(
    fmt=st.sampled_from(["csr", "csc", "coo"]),
    field=st.sampled_from(["indices", "indptr", "coords", "shape"]),
    at=st.integers(0, 200),
    value=INDEXES,
)
def test_fuzzed_sparse_matrices(fmt, field, at, value):
    matrix = sp.random(20, 10, density=0.3, format=fmt, random_state=0)
    if field == "shape":
        matrix._shape = (abs(value) % 40, matrix.shape[1])
    elif fmt == "coo" or field == "coords":
        coords = [c.copy() for c in matrix.tocoo().coords]
        coords[at % 2][at % len(coords[0])] = _wrap(value, coords[0].dtype)
        matrix = sp.coo_matrix(matrix)
        matrix.coords = tuple(coords)
    else:
        array = getattr(matrix, field)
        array[at % len(array)] = _wrap(value, array.dtype)
    _accepted_loads_safely({"m": matrix}, fmt)


@FUZZ
@given(
    field=st.sampled_from(
        ["_n_support", "support_", "support_vectors_", "_dual_coef_", "_intercept_"]
    ),
    at=st.integers(0, 200),
    value=INDEXES,
    cut=st.integers(0, 3),
)
def test_fuzzed_support_vector_machines(field, at, value, cut):
    model = genuine()["svc"]
    array = getattr(model, field)
    if cut and array.ndim:  # fewer entries than the others imply
        setattr(model, field, array[..., : max(array.shape[-1] - cut, 0)].copy())
    elif array.dtype.kind == "i":
        array.flat[at % array.size] = _wrap(value, array.dtype)
    else:
        array.flat[at % array.size] = float(value)
    _accepted_loads_safely(model, "svc")
