"""Pure ONNX decisions: runtimes, deps-layer locks, threads per memory, sample expansion."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlayer.errors import UsageError
from mlayer.onnx.errors import OnnxConversionError, OnnxUnavailableError
from mlayer.onnx.graph_inputs import column_specs
from mlayer.onnx.samples import MIN_RECORDS, expand_rows, record_rows
from mlayer.onnx.support import (
    deps_problem,
    min_onnxruntime,
    require_onnx_runtime,
    runtime_problem,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))

from mlayer_function.onnx_model import threads_for_memory  # noqa: E402

ONNX_MANIFEST = {
    "format": "onnx",
    "onnx": {
        "opsets": {"ai.onnx": 21, "ai.onnx.ml": 1},
        "converted_with": {"onnxruntime": "1.32.0"},
    },
}
ONNX_LOCK = {"packages": {"onnxruntime": "1.32.0", "numpy": "2.2.6"}}
SKLEARN_LOCK = {"packages": {"scikit-learn": "1.7.2", "numpy": "2.2.6"}}


@pytest.mark.parametrize("runtime", ["python3.12", "python3.13"])
def test_al2023_runtimes_take_onnx(runtime):
    assert runtime_problem(runtime) is None
    require_onnx_runtime(runtime)


@pytest.mark.parametrize("runtime", ["python3.10", "python3.11"])
def test_al2_runtimes_are_refused_with_the_glibc_reason(runtime):
    problem = runtime_problem(runtime)
    assert "Amazon Linux 2 (glibc 2.26)" in problem and "manylinux_2_28" in problem
    with pytest.raises(OnnxUnavailableError) as caught:
        require_onnx_runtime(runtime)
    assert caught.value.exit_code == 2 and "python3.12" in caught.value.hint


def test_onnx_model_needs_onnxruntime_in_the_lock():
    assert deps_problem(ONNX_MANIFEST, ONNX_LOCK) is None
    assert "no onnxruntime" in deps_problem(ONNX_MANIFEST, SKLEARN_LOCK)


def test_sklearn_model_needs_scikit_learn_in_the_lock():
    assert deps_problem({"format": "sklearn"}, SKLEARN_LOCK) is None
    assert deps_problem({}, SKLEARN_LOCK) is None  # manifests before issue 15 are sklearn
    assert "no scikit-learn" in deps_problem({"format": "sklearn"}, ONNX_LOCK)


def test_a_lock_with_both_runtimes_serves_both_formats():
    both = {"packages": {**ONNX_LOCK["packages"], **SKLEARN_LOCK["packages"]}}
    assert deps_problem(ONNX_MANIFEST, both) is None
    assert deps_problem({"format": "sklearn"}, both) is None


def test_onnxruntime_too_old_for_the_opset_is_a_problem():
    old = {"packages": {"onnxruntime": "1.16.3"}}
    assert "needs onnxruntime >= 1.18" in deps_problem(ONNX_MANIFEST, old)
    assert deps_problem(ONNX_MANIFEST, None) is None  # no lock: nothing to check against


def test_min_onnxruntime_per_opset():
    assert min_onnxruntime({"ai.onnx": 21}) == "1.18"
    assert min_onnxruntime({"ai.onnx": 15}) == "1.13"
    assert min_onnxruntime({"ai.onnx": 99}) is None


def test_unknown_opset_falls_back_to_the_onnxruntime_of_the_gate():
    manifest = {
        "format": "onnx",
        "onnx": {"opsets": {"ai.onnx": 99}, "converted_with": {"onnxruntime": "1.32.0"}},
    }
    assert "needs onnxruntime >= 1.32.0" in deps_problem(
        manifest, {"packages": {"onnxruntime": "1.31.1"}}
    )
    assert deps_problem(manifest, ONNX_LOCK) is None


@pytest.mark.parametrize(
    ("memory", "threads"),
    [
        ("128", 1),
        ("1024", 1),
        ("1769", 1),
        ("3008", 2),
        ("3538", 2),
        ("10240", 6),
        ("", 1),
        ("x", 1),
    ],
)
def test_threads_follow_lambdas_vcpus(memory, threads):
    assert threads_for_memory(memory) == threads


def test_column_specs_accept_dicts_tuples_and_objects():
    class Col:
        name, kind = "c", "boolean"

    specs = column_specs([{"name": "a", "kind": "number"}, ("b", "string"), Col()])
    assert specs == [("a", "number"), ("b", "string"), ("c", "boolean")]
    with pytest.raises(OnnxConversionError, match="unknown kind"):
        column_specs([("a", "date")])


def test_records_become_rows_of_their_kind():
    assert record_rows([{"id": 1, "text": "hi"}], "text") == ["hi"]
    assert record_rows([{"features": [1, 2.5]}], "features") == [[1.0, 2.5]]
    rows = record_rows([{"id": "x", "a": 1, "zzz": 2}], "table", [("a", "number"), ("b", "string")])
    assert rows == [{"a": 1, "b": None}]
    with pytest.raises(UsageError, match="sample 2 has no string 'text'"):
        record_rows([{"text": "ok"}, {"text": 3}], "text")
    with pytest.raises(UsageError, match="features"):
        record_rows([{"features": [True]}], "features")


def test_expansion_is_seeded_and_reaches_the_minimum():
    table = [{"a": 1.0, "b": "x", "c": True}, {"a": None, "b": "y", "c": False}]
    cols = [("a", "number"), ("b", "string"), ("c", "boolean")]
    first, generated = expand_rows(table, "table", [], cols)
    again, _ = expand_rows(table, "table", [], cols)
    assert first == again and len(first) == MIN_RECORDS and generated == MIN_RECORDS - 2
    assert first[:2] == table
    assert {r["b"] for r in first} <= {"x", "y", None} and any(r["a"] is None for r in first)
    assert all(r["a"] is None or float(r["a"]).is_integer() for r in first)


@given(
    st.lists(
        st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=3, max_size=3),
        min_size=1,
        max_size=120,
    )
)
def test_generated_features_are_finite_and_as_wide_as_the_samples(rows):
    out, generated = expand_rows(rows, "features", [])
    assert len(out) == max(len(rows), MIN_RECORDS) and generated == len(out) - len(rows)
    assert all(len(r) == 3 and all(abs(v) < float("inf") for v in r) for r in out)


def test_text_expansion_uses_the_vectorizers_vocabulary():
    class Vectorizer:
        vocabulary_ = {"réunion": 0, "prix": 1}

    out, _ = expand_rows(["hello there"], "text", [Vectorizer()])
    words = {w.strip(".!?").lower() for t in out for w in t.split()}
    assert {"réunion", "prix", "hello", "there"} <= words


def test_no_samples_is_a_usage_error():
    with pytest.raises(UsageError, match="--sample"):
        expand_rows([], "text", [])
