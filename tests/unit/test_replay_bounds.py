"""What an allowed call may allocate while a pickle is judged is bounded (mlayer.model.call_guard)."""

from __future__ import annotations

import functools
import pickle

import numpy as np
import pytest

from mlayer.errors import UntrustedPickleError
from mlayer.model import call_guard
from mlayer.model.pickles import scan_bytes


class Reduces:
    """Pickles as ``func(*args)``: how a hand-made hostile file calls an allowed global."""

    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def refusal(obj, protocol: int = 4) -> str:
    data = pickle.dumps(obj, protocol=protocol)
    with pytest.raises(UntrustedPickleError) as caught:
        scan_bytes(data)
    return caught.value.message


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_the_range_bomb_is_refused_by_name(protocol):
    bomb = Reduces(list, Reduces(range, 10**12))
    assert len(pickle.dumps(bomb, protocol=protocol)) < 70  # the 50-byte file of issue 21
    message = refusal(bomb, protocol)
    assert "builtins.range sized to allocate 8,000,000,000,000 bytes" in message
    assert "beyond the limit of 67,108,864 bytes" in message


@pytest.mark.parametrize(
    "obj, name",
    [
        (Reduces(bytes, 10**12), "builtins.bytes"),
        (Reduces(bytearray, 10**12), "builtins.bytearray"),
        (Reduces(set, Reduces(range, 0, 10**15, 3)), "builtins.range"),
        (Reduces(np.ndarray, (10**6, 10**6), np.dtype("f8")), "numpy.ndarray"),
        (Reduces(functools.partial, bytes, 10**12), "builtins.bytes"),
    ],
)
def test_siblings_are_refused_by_name(obj, name):
    assert f"{name} sized to allocate" in refusal(obj)


def test_a_huge_dtype_is_refused():
    assert "a numpy.dtype of 1,000,000,000 bytes an item" in refusal(np.dtype(("V", 10**9)))


def test_what_fits_in_the_limit_passes():
    small = [list(range(1000)), bytes(1000), bytearray(10), np.zeros((100, 10))]
    assert scan_bytes(pickle.dumps(small, protocol=4)).top_class == "list"


def test_the_limit_grows_with_the_file():
    assert call_guard.limit_for(10) == 64 * 1024 * 1024
    assert call_guard.limit_for(10**8) == 64 * 10**8
