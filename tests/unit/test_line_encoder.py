"""The result line: orjson when the deps layer has it, the stdlib's C encoder otherwise.

Whichever writes it, a line holds the same values, and a document the stdlib refuses is refused
the same way: orjson is an accelerator, never a second opinion on what can be written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))

from mlayer_function import delivery  # noqa: E402
from mlayer_function.modelstore import class_key, plain  # noqa: E402

FAST = delivery._fast_line_encoder(delivery._stdlib_line)
STDLIB = delivery._stdlib_line

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
# What a model or a record can put in a document that orjson would write differently or not
# at all: numpy scalars and str subclasses, non-string keys, ints over 64 bits, tuples
ODD_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text()
    | st.builds(np.float64, st.floats())
    | st.builds(np.str_, st.text()),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(
            st.text() | st.integers() | st.booleans() | st.builds(np.str_, st.text()),
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


def test_the_deps_layers_orjson_is_what_writes_lines_here():
    """setup.cfg installs orjson as layers/*/requirements.txt do: the fast path is the one used."""
    assert FAST is not None and delivery.to_json_line is not STDLIB


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_the_stdlib_line_is_exactly_what_json_dumps_writes(value):
    """The reused C encoder writes, for any JSON value, exactly json.dumps's line with the same
    settings, lone surrogates and NaN included."""
    assert STDLIB(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _same_values(line: str, expected: str) -> bool:
    """Both parse to the same values (NaN, -0.0 and key order included)."""
    return STDLIB(json.loads(line)) == STDLIB(json.loads(expected))


@settings(max_examples=500, deadline=None)
@given(ODD_VALUES)
def test_the_fast_line_holds_the_stdlibs_values_or_fails_as_it_fails(value):
    try:
        expected = STDLIB(value)
    except Exception as exc:  # noqa: BLE001 - whatever the stdlib raises, the fast path must
        with pytest.raises(type(exc)):
            FAST(value)
        return
    line = FAST(value)
    assert line == expected or _same_values(line, expected)


@settings(max_examples=300, deadline=None)
@given(JSON_VALUES)
def test_only_number_text_may_differ(value):
    """Strings, keys, nesting and separators are written byte for byte as the stdlib writes
    them; a line differs only where a float is written in its other shortest form."""
    line, expected = FAST(value), STDLIB(value)
    if line != expected:
        assert _same_values(line, expected)
        assert any(isinstance(x, float) for x in _leaves(value))
    no_floats = json.loads(expected, parse_float=lambda _: 0, parse_constant=lambda _: 0)
    assert FAST(no_floats) == STDLIB(no_floats)


def _leaves(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ({"p": float("nan")}, "orjson writes null"),
        ({"p": [1.0, float("inf")]}, "orjson writes null"),
        ({"n": 2**64}, "over 64 bits"),
        ({"t": "\ud800"}, "a lone surrogate"),
        ({1: 0.5}, "a non-string key"),
        ({np.str_("spam"): 0.5}, "a str subclass key"),
        ({"p": np.float64(0.25)}, "a float subclass"),
    ],
)
def test_what_orjson_writes_otherwise_is_written_by_the_stdlib(doc, why):
    assert FAST(doc) == STDLIB(doc) == json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def test_both_refuse_what_json_cannot_write():
    for encode in (FAST, STDLIB):
        with pytest.raises(TypeError, match="not JSON serializable"):
            encode({"x": object()})
        deep: list = []
        for _ in range(100_000):
            deep = [deep]
        with pytest.raises(RecursionError):
            encode(deep)


def test_a_result_line_in_the_fast_form_is_the_same_result():
    doc = {
        "id": "r-1",
        "prediction": "spam",
        "probabilities": {"ham": 1.234e-05, "spam": 0.9999876599999999},
        "model_version": "v3",
        "event_id": "shardId-000000000000:4959",
        "predicted_at": "2026-11-30T09:41:05.693Z",
    }
    line = FAST(doc)
    assert json.loads(line) == doc and line.startswith('{"id":"r-1","prediction":"spam",')


def test_without_orjson_the_stdlib_writes_every_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "orjson", None)  # import orjson raises ImportError
    assert delivery._fast_line_encoder(STDLIB) is None


def test_class_keys_and_labels_are_plain_str_for_the_fast_path():
    """sklearn's classes_ holds numpy.str_: as keys they would send every line to the stdlib."""
    classes = np.array(["ham", "spam"])
    keys = [class_key(c) for c in classes]
    assert keys == ["ham", "spam"] and all(type(k) is str for k in keys)
    assert type(plain(np.str_("x"))) is str and plain(np.int64(3)) == 3
    assert type(plain(np.int64(3))) is int and plain(b"raw") == b"raw"
