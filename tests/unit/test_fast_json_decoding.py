"""decode_payload reads records with orjson where it can: its verdict (the value, with every
type as the stdlib reads it, or the dead letter's reason) must be the stdlib's for any payload.

Generated JSON (big integers, integral floats, lone surrogates, nesting), JSON with bytes
flipped, and the cases orjson reads differently on its own (integers over 64 bits as floats,
numbers beyond a double refused) each go through both paths.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))

from mlayer_function import decoding  # noqa: E402
from mlayer_function.decoding import BadRecord, decode_payload  # noqa: E402


def stdlib_verdict(data: str, encoding: str) -> object:
    """The verdict without orjson: decode_payload as it reads every record without it."""
    saved, decoding._LOADS = decoding._LOADS, None
    try:
        return verdict(data, encoding)
    finally:
        decoding._LOADS = saved


def verdict(data: str, encoding: str) -> object:
    try:
        return ("value", typed(decode_payload(data, encoding)))
    except BadRecord as exc:
        return ("bad", exc.reason)


def typed(value: object) -> object:
    """The value with each scalar's exact type beside it (1 and 1.0 and True differ)."""
    if isinstance(value, dict):
        return ("dict", [(k, typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    if isinstance(value, float) and value != value:
        return ("float", "nan")
    return (type(value).__name__, value)


scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, 10**19])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e19, -1e19, 2.0**63, 2.0**64, 1e300, 0.0, -0.0])
    | st.text(alphabet=st.characters(codec=None), max_size=8)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)


def both_ways(text: str) -> None:
    encoded = base64.b64encode(text.encode("utf-8", "surrogatepass")).decode()
    assert verdict(encoded, "base64") == stdlib_verdict(encoded, "base64")
    assert verdict(text, "text") == stdlib_verdict(text, "text")


@settings(max_examples=300)
@given(value=values)
def test_generated_json_reads_as_the_stdlib_reads_it(value):
    both_ways(json.dumps(value))
    both_ways(json.dumps(value, ensure_ascii=False))


@settings(max_examples=300)
@given(value=values, where=st.integers(min_value=0), byte=st.integers(min_value=0, max_value=255))
def test_json_with_a_byte_changed_gets_the_stdlib_verdict(value, where, byte):
    raw = bytearray(json.dumps(value).encode())
    raw[where % len(raw)] = byte
    encoded = base64.b64encode(bytes(raw)).decode()
    assert verdict(encoded, "base64") == stdlib_verdict(encoded, "base64")


@pytest.mark.parametrize(
    "text",
    [
        '{"id": 123456789012345678901234, "x": 1}',  # orjson alone: a float id, dead-lettered
        '{"id": 18446744073709551616}',
        '{"id": -9223372036854775809}',
        '{"id": 1, "features": [1e400]}',  # orjson alone refuses it; the stdlib reads inf
        '{"id": 1, "a": [[[[123456789012345678901234567]]]]}',
        '{"id": "\\ud800"}',  # a lone surrogate: orjson refuses it, the stdlib reads it
        '{"id": 1, "a": NaN}',
        '{"id": 1}  ',
        '{"id": 1} x',
        "[" * 1100 + "]" * 1100,
        "[" * 400 + "]" * 400,  # orjson reads it, _exact walks it
        '\ufeff{"id": 1}',
    ],
)
def test_where_orjson_differs_the_stdlib_decides(text):
    both_ways(text)
    assert verdict(base64.b64encode(b"\xff{}").decode(), "base64")[0] == "bad"


def test_an_integer_over_64_bits_stays_an_integer():
    encoded = base64.b64encode(b'{"id": 123456789012345678901234}').decode()
    assert decode_payload(encoded, "base64") == {"id": 123456789012345678901234}
    assert type(decode_payload(encoded, "base64")["id"]) is int  # type: ignore[index]
