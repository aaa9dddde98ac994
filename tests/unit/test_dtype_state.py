"""A pickled dtype state is honoured only as numpy itself writes it (mlayer.model.dtype_state)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlayer.model.dtype_state import dtype_from_state

DTYPES = [
    np.dtype("f8"),
    np.dtype(">f8"),
    np.dtype("U5"),
    np.dtype("S3"),
    np.dtype(("f8", (2, 3))),
    np.dtype([("a", "<i4"), ("b", "O")]),
    np.dtype([("a", "f8"), ("b", "i1")], align=True),
    np.dtype({"names": ["x"], "formats": ["f4"], "titles": ["T"]}),
    np.dtype("<M8[ns]"),
    np.dtype("m8[5s]"),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_what_numpy_writes_is_what_comes_back(dtype):
    _, args, state = dtype.__reduce__()
    assert dtype_from_state(np.dtype(*args), state) == dtype


def test_a_builtin_type_keeps_its_own_item_size_as_numpy_does():
    state = (3, "<", None, None, None, 1, 1, 0)  # claims 1-byte items: numpy reads 8
    assert dtype_from_state(np.dtype("f8"), state).itemsize == 8


VALUES = st.one_of(
    st.none(),
    st.integers(-(2**40), 2**40),
    st.text(max_size=3),
    st.tuples(st.integers(-5, 5), st.integers(-5, 5)),
    st.dictionaries(st.text(max_size=2), st.tuples(st.sampled_from(DTYPES), st.integers(-8, 64))),
)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(DTYPES), st.data())
def test_mutated_states_never_crash_and_never_lie(dtype, data):
    _, args, state = dtype.__reduce__()
    mutated = list(state)
    for index in data.draw(st.sets(st.integers(0, len(state) - 1), min_size=1, max_size=3)):
        mutated[index] = data.draw(VALUES)
    try:
        made = dtype_from_state(np.dtype(*args), tuple(mutated))
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError):
        return  # the replay takes any exception as "no usable dtype"
    if made is not None and dtype.kind not in "biufcO":  # builtin types: numpy's own size
        assert made.__reduce__()[2] == tuple(mutated)  # exactly what numpy would write for it
