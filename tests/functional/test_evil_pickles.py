"""Evil model files: refused before a byte is unpickled, whatever the route and the mutation.

Every payload here really runs when unpickled (checked once, in a subprocess): ``touch`` of a
marker file. The scan, publish-model's inspection and the CLI must refuse them, naming the
global and the file, and the marker must never appear. Hypothesis then throws random bytes,
random opcode sequences and mutations of a real evil joblib file at the scan: it accepts or
refuses with a ModelError, never crashes, never runs anything; and whatever it accepts, joblib
loads without running the payload either.
"""

from __future__ import annotations

import builtins
import io
import os
import pickle
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import joblib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from mlayer.errors import ModelError, UntrustedPickleError
from mlayer.model.artifacts import inspect_pipeline
from mlayer.model.pickles import scan_bytes, scan_file

MARKS = Path(tempfile.mkdtemp(prefix="mlayer-evil-"))
MARKER = MARKS / "MARKER"


class Calls:
    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def payloads(marker: Path) -> dict[str, object]:
    return {
        "posix.system": Calls(os.system, f"touch {marker}"),
        "builtins.exec": Calls(builtins.exec, f"open({str(marker)!r}, 'w').close()"),
        "subprocess.Popen": Calls(subprocess.Popen, ["touch", str(marker)]),
    }


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(0)
    return LogisticRegression().fit(rng.random((40, 3)), np.array([0, 1] * 20))


def evil_file(tmp_path: Path, model, name: str, where: str, marker: Path) -> Path:
    """A real joblib file (joblib.dump) of the model with the payload after its arrays."""
    payload = payloads(marker)[name]
    if where == "after-array":
        obj = {"model": model, "evil": payload}
    elif where == "object-array":  # inside the nested pickle of an object array
        obj = {"model": model, "evil": np.array([payload, None], dtype=object)}
    else:  # in the estimator's own state, nested in a tuple
        model = LogisticRegression().fit(np.eye(2), [0, 1])
        model.extra_ = (1, [payload])
        obj = model
    path = tmp_path / f"{name}-{where}.joblib"
    joblib.dump(obj, path, compress=3 if where == "nested" else 0)
    return path


def test_the_payloads_really_run_when_loaded(tmp_path, model):
    """Control: joblib.load of each file runs its payload (in a subprocess, not here)."""
    for name in payloads(tmp_path):
        marker = tmp_path / f"ran-{name}"
        path = evil_file(tmp_path, model, name, "after-array", marker)
        code = "import joblib, sys, time; joblib.load(sys.argv[1]); time.sleep(0.3)"
        subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, timeout=120)
        assert marker.exists(), name


@pytest.mark.parametrize("where", ["after-array", "object-array", "nested"])
@pytest.mark.parametrize("name", ["posix.system", "builtins.exec", "subprocess.Popen"])
def test_inspection_refuses_before_loading(tmp_path, model, name, where):
    marker = tmp_path / "MARKER"
    path = evil_file(tmp_path, model, name, where, marker)
    with pytest.raises(UntrustedPickleError) as info:
        inspect_pipeline(path)
    assert name in info.value.message and str(path) in info.value.message
    assert f"{name} cannot be trusted" in info.value.hint and not marker.exists()
    assert "--trust" not in info.value.hint  # mlayer.model.refusal_hints: never a key to run code


def test_cli_refuses_with_the_global_and_the_file_named(gw, tmp_path, model):
    from tests.publish_support import run_cli

    marker = tmp_path / "MARKER"
    path = evil_file(tmp_path, model, "posix.system", "after-array", marker)
    result, doc = run_cli("publish-model", str(path), "--yes")
    assert result.exit_code == 1, result.output
    assert doc["error"] == "UntrustedPickleError"
    assert "posix.system" in doc["message"] and str(path) in doc["message"]
    assert "--trust" not in doc["hint"] and not marker.exists()


def test_a_reviewed_global_passes_with_trust(tmp_path, model):
    path = evil_file(tmp_path, model, "posix.system", "after-array", tmp_path / "MARKER")
    scan = scan_file(path, trusted=["posix.system"])
    assert scan.trusted_globals == ("posix.system",) and not (tmp_path / "MARKER").exists()


# --- fuzzing -----------------------------------------------------------------------------------

EVIL = pickle.dumps(Calls(os.system, f"touch {MARKER}"), protocol=4)[2:-1]  # no PROTO, no STOP
FRAGMENTS = [
    EVIL,
    b"\x80\x04",
    b"\x80\x02",
    b"cposix\nsystem\n",
    b"\x8c\x05posix\x8c\x06system\x93",
    b"\x8c\x13joblib.numpy_pickle\x8c\x11NumpyArrayWrapper\x93",
    b"\x8c\x05numpy\x8c\x05dtype\x93\x8c\x02f8\x89\x88\x87R",
    b"\x8c\x08builtins\x8c\x03set\x93",
    b"S'touch x'\n",
    b"\x8c\x04true",
    *(bytes([op]) for op in b"()]}NtR\x81\x92b\x85\x86\x87\x94\x93ueasl.\x82\x83\x84PQio\x95"),
    b"K\x03",
    b"J\xff\xff\xff\xff",
    b"h\x00",
    b"\x95\x05\x00\x00\x00\x00\x00\x00\x00",
]
FUZZ = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


def scan_cleanly(data: bytes) -> None:
    try:
        scan_bytes(data)
    except ModelError:
        pass
    assert not MARKER.exists()


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(data):
    scan_cleanly(data)


@FUZZ
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=30))
def test_random_opcode_sequences(parts):
    scan_cleanly(b"\x80\x04" + b"".join(parts) + b".")


def _evil_joblib() -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(1)
    model = LogisticRegression().fit(rng.random((20, 2)), np.array([0, 1] * 10))
    joblib.dump({"model": model, "evil": Calls(os.system, f"touch {MARKER}")}, buf)
    return buf.getvalue()


EVIL_JOBLIB = _evil_joblib()


@FUZZ
@given(
    st.lists(
        st.tuples(st.integers(0, len(EVIL_JOBLIB) - 1), st.integers(0, 255), st.booleans()),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_evil_joblib_files_never_run_anything(edits):
    """Flip or insert bytes anywhere; if the scan accepts the result, joblib loading it must not
    run the payload either (the scan saw the same opcodes joblib runs)."""
    data = bytearray(EVIL_JOBLIB)
    for pos, value, insert in edits:
        if insert:
            data.insert(pos, value)
        else:
            data[pos] = value
    try:
        scan_bytes(bytes(data))
    except ModelError:
        assert not MARKER.exists()
        return
    with tempfile.NamedTemporaryFile(suffix=".joblib") as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fh.write(bytes(data))
        fh.flush()
        try:
            joblib.load(fh.name)
        except Exception:
            pass
    assert not MARKER.exists()


def _lying_dtype_file(marker: Path) -> bytes:
    """A joblib stream whose dtype state claims 1-byte items where numpy (and so joblib) reads 8.

    A scan trusting the state would skip 1 byte and read the payload as the contents of a
    BINBYTES literal; joblib reads 8 array bytes and then runs the payload."""
    import struct

    def glob(module: str, name: str) -> bytes:
        return b"\x8c%c%s\x8c%c%s\x93" % (len(module), module.encode(), len(name), name.encode())

    dtype = glob("numpy", "dtype") + b"\x8c\x02f8\x89\x88\x87R"
    dtype += b"(K\x03\x8c\x01<NNNK\x01K\x01K\x00tb"  # elsize 1, alignment 1: the lie
    wrapper = glob("joblib.numpy_pickle", "NumpyArrayWrapper") + b")\x81}("
    wrapper += b"\x8c\x05shape" + b"K\x01\x85" + b"\x8c\x05order\x8c\x01C"
    wrapper += b"\x8c\x05dtype" + dtype + b"\x8c\x1bnumpy_array_alignment_bytes" + b"Nub"
    run = b"0" + pickle.dumps(Calls(os.system, f"touch {marker}"), protocol=4)[2:-1] + b"0"
    array = b"\x00B" + struct.pack("<I", 2 + len(run)) + b"\x00\x00"  # 8 bytes for joblib
    return b"\x80\x04" + wrapper + array + run + b"N."


def test_a_dtype_that_lies_about_its_item_size_cannot_hide_a_payload(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "lying.joblib"
    path.write_bytes(_lying_dtype_file(marker))
    code = "import joblib, sys, time; joblib.load(sys.argv[1]); time.sleep(0.3)"
    subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, timeout=120)
    assert marker.exists()  # the attack is real: joblib runs it
    marker.unlink()
    with pytest.raises(UntrustedPickleError) as info:
        scan_file(path)
    assert info.value.globals == ("posix.system",) and not marker.exists()
