"""One form of class key on both sides (issue 23, case 13).

A class value, as ``classes_`` holds it (Python or numpy scalar), goes three ways: publish
keys the samples' probabilities with mlayer.model.samples.class_key; the manifest keeps it as a JSON
value (manifest._json_classes) that the ONNX function reads back; the sklearn function keys its
results with modelstore.class_key of ``classes_`` itself. All three must give the same key.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from mlayer.model import manifest as mf
from mlayer.model import samples

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))

from mlayer_function import modelstore  # noqa: E402

NUMPY = {
    bool: [np.bool_],
    int: [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64],
    float: [np.float32, np.float64],
    str: [np.str_],
}


def as_numpy(value, kind):
    """The value as a numpy scalar of ``kind`` when it fits, else the value itself."""
    for cls in NUMPY[type(value)]:
        with np.errstate(over="ignore"):
            try:
                scalar = cls(value)
            except (OverflowError, ValueError):
                continue
            if scalar.item() == value and type(scalar.item()) is type(value):
                return scalar if kind else value
    return value


CLASSES = (
    st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    # numpy's fixed-width str arrays drop trailing NULs (np.array(["a\x00"])[0] == "a"), so
    # such a label never reaches classes_ as itself: not a class a fitted model can hold
    | st.text(max_size=20).filter(lambda s: not s.endswith("\x00"))
)


@given(value=CLASSES, numpy=st.booleans())
@example(value=True, numpy=True)
@example(value=False, numpy=True)
@example(value=7, numpy=True)
@example(value="True", numpy=True)
def test_publish_manifest_and_function_key_a_class_the_same(value, numpy):
    cls = as_numpy(value, numpy)
    published = samples.class_key(cls)
    (from_manifest,) = json.loads(json.dumps(mf._json_classes(np.array([cls]))))
    assert modelstore.class_key(cls) == published  # the sklearn function: classes_ itself
    assert modelstore.class_key(from_manifest) == published  # the ONNX function: the manifest
    assert from_manifest == value and type(from_manifest) is type(value)  # a JSON value


def test_bool_classes_are_json_booleans_and_keys_true_false():
    classes = np.array([False, True])
    assert mf._json_classes(classes) == [False, True]
    assert [samples.class_key(c) for c in classes] == ["false", "true"]
    assert [modelstore.class_key(c) for c in mf._json_classes(classes)] == ["false", "true"]


def test_a_multi_output_classifier_classes_are_kept_per_output():
    assert mf._json_classes([np.array([0, 1]), np.array(["a", "b"])]) == [[0, 1], ["a", "b"]]
