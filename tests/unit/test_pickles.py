"""The static pickle scan: globals and sklearn versions without executing anything.

The allowlist's entries are tested one class at a time in test_trust.py.
"""

from __future__ import annotations

import io
import pickle

import joblib
import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression

from mlayer.errors import ModelError, UntrustedPickleError
from mlayer.model.pickles import scan_bytes, scan_file

LR = "sklearn.linear_model._logistic.LogisticRegression"


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    return LogisticRegression().fit(rng.random((40, 30)), np.array(["a", "b"] * 20))


def dumped(obj, **kw) -> bytes:
    buf = io.BytesIO()
    joblib.dump(obj, buf, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3), ("lzma", 3)])
def test_joblib_formats(model, compress, tmp_path):
    path = tmp_path / "m.joblib"
    joblib.dump(model, path, compress=compress)
    scan = scan_file(path)
    assert scan.top_class == LR and scan.top_sklearn_version == "1.7.2"
    assert LR in scan.globals and "joblib.numpy_pickle.NumpyArrayWrapper" in scan.globals
    assert scan.modules == ("joblib", "numpy", "sklearn")


def test_plain_pickle(model):
    scan = scan_bytes(pickle.dumps(model, protocol=4))
    assert scan.top_class == LR and scan.top_sklearn_version == "1.7.2" and scan.compression is None


def test_nothing_is_executed_and_the_global_is_named():
    class Boom:
        def __reduce__(self):
            return (print, ("executed!",))  # a real pickle would call print on load

    out = io.StringIO()
    import contextlib

    with contextlib.redirect_stdout(out), pytest.raises(UntrustedPickleError) as info:
        scan_bytes(pickle.dumps(Boom()))
    assert out.getvalue() == "" and info.value.globals == ("builtins.print",)
    assert "--trust builtins.print" in info.value.hint


def test_scan_file_names_the_file(tmp_path):
    path = tmp_path / "evil.joblib"
    path.write_bytes(b"\x80\x04\x8c\x05posix\x8c\x06system\x93\x8c\x04true\x85R.")
    with pytest.raises(UntrustedPickleError) as info:
        scan_file(path)
    assert str(path) in info.value.message and "posix.system" in info.value.message
    assert info.value.path == str(path) and info.value.globals == ("posix.system",)
    assert scan_file(path, trusted=["posix.system"]).trusted_globals == ("posix.system",)


def test_recorded_version_is_read_even_when_it_is_not_ours(model):

    original = type(model).__getstate__

    def patched(self):
        state = original(self)
        state["_sklearn_version"] = "1.3.0"
        return state

    type(model).__getstate__ = patched
    try:
        data = dumped(model)
    finally:
        type(model).__getstate__ = original
    assert scan_bytes(data).top_sklearn_version == "1.3.0"


def test_object_arrays_and_nested_estimators():
    cv = CountVectorizer().fit(["apple banana", "banana cherry"])
    scan = scan_bytes(
        dumped({"cv": cv, "arr": np.array(["x", None], dtype=object), "f": np.arange(5.0)})
    )
    assert "sklearn.feature_extraction.text.CountVectorizer" in scan.sklearn_versions
    assert scan.top_class == "dict"


def test_main_references_are_refused_with_the_code_hint():
    with pytest.raises(UntrustedPickleError) as info:
        scan_bytes(b"\x80\x04\x8c\x08__main__\x94\x8c\x08MyScaler\x94\x93\x94)\x81\x94.")
    assert info.value.globals == ("__main__.MyScaler",) and "--code" in info.value.hint


def test_garbage_and_truncation_are_model_errors(model):
    with pytest.raises(ModelError, match="Not a readable pickle"):
        scan_bytes(b"\x80\x04garbage")
    data = dumped(model)
    with pytest.raises(ModelError):
        scan_bytes(data[: len(data) // 2])


def test_lz4_is_named():
    with pytest.raises(ModelError, match="lz4"):
        scan_bytes(b"\x04\x22\x4d\x18rest")


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="Cannot read"):
        scan_file(tmp_path / "nope.joblib")
