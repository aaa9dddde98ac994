"""A multi-output regressor's row of values on each side (issue 23, case 4): publish writes a
list per record, the self-check compares lists value by value within its tolerance, and the
parity gate flags a record whose two sides differ in shape instead of crashing on it."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from mlayer.model import samples
from mlayer.onnx import parity

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))

from mlayer_function import modelstore  # noqa: E402


def test_a_row_of_outputs_is_a_list_of_json_numbers():
    row = np.array([[1.5, np.float32(2.25), -3.0]])[0]
    assert samples.plain(row) == [1.5, 2.25, -3.0]
    assert all(type(v) is float for v in samples.plain(row))
    assert samples.plain(np.int64(4)) == 4 and samples.plain("a") == "a"


def test_the_self_check_compares_lists_value_by_value():
    assert modelstore._same([1.0, 2.0], [1.0 + 1e-9, 2.0])
    assert not modelstore._same([1.0, 2.0], [1.0, 2.1])
    assert not modelstore._same([1.0, 2.0], [1.0])
    assert not modelstore._same([1.0], 1.0)
    sample = {"prediction": [1.0, 2.0]}
    assert modelstore._differs(sample, [1.0, 2.0000000001], None) is None
    assert "predicted [1.0, 3.0]" in modelstore._differs(sample, [1.0, 3.0], None)


def test_the_gate_flags_records_whose_shapes_differ():
    regressor = SimpleNamespace(is_classifier=False)
    sk = ([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]], None)
    ox = ([[1.0, 2.00001], [1.0], 1.0], None)
    bad, _, max_v = parity._compare(regressor, sk, ox, None)
    assert bad == [1, 2] and max_v is not None and max_v < 1e-4
