"""An ONNX table model's cold start and warm batch in the real handler, in a child Python whose
path is Lambda's (the function, an ONNX deps layer with orjson, the runtime's boto3).

GIVEN a model layer from a real conversion (ColumnTransformer + forest) and records of which
some are hostile in the ways the fast readers must leave to the stdlib and the column checks
(an integer id over 64 bits, a number beyond a double, NaN, a lone surrogate, invalid UTF-8,
a boolean as a number, a float id, an extra field with a big integer inside), WHEN the handler starts and reads the batch,
THEN the cold start imported none of what this configuration does not use (files, the S3
fetch, a shadow, scikit-learn, the sinks it does not write to, the direct path, datetimes, the
random module), built no dataclass (each cost ~0.5 ms), left the cyclic GC on with what it
built frozen, every good record is predicted as scikit-learn predicts it, and every hostile one
is dead-lettered with its reason: none lost.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("skl2onnx")
pytest.importorskip("onnxruntime")

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

import onnx_models  # noqa: E402
from function_support import HandlerProcess, kinesis_event  # noqa: E402

from mlayer.model.schema import table_schema  # noqa: E402
from mlayer.onnx.both_sides import sklearn_input  # noqa: E402
from mlayer.onnx.convert import convert_pipeline  # noqa: E402
from mlayer.onnx.samples import record_rows  # noqa: E402

pytestmark = pytest.mark.slow

DEPS = ("numpy", "numpy.libs", "onnxruntime", "google", "flatbuffers", "packaging", "orjson")
COLUMNS = [("age", "number"), ("income", "number"), ("city", "string")]
NOT_AT_COLD_START = (
    "mlayer_function.files",
    "mlayer_function.fetch",
    "mlayer_function.shadow",
    "mlayer_function.file_state",
    # a stdout:// sink and no overflow: no AWS sink's module (sinks.py imports the URL's one)
    "mlayer_function.sink_dynamodb",
    "mlayer_function.sink_kinesis",
    "mlayer_function.sink_s3",
    "mlayer_function.sink_sqs",
    "mlayer_function.direct",  # a direct invocation's, imported by the first one
    "mlayer_function.batch_ports",  # protocols, for annotations only
    "mlayer_function.datetimes",  # datetime columns' (this table has none)
)
# Not imported by the function's cold start (the test's own driver imports boto3, which does:
# checked in a bare child). dataclasses is not here: the deps layer's orjson imports it.
STDLIB_NOT_AT_COLD_START = ("random", "pathlib", "tempfile", "threading", "concurrent.futures")

BARE_CHILD = """
import gc, json, os, sys
sys.path[:0] = json.loads(os.environ["LAMBDA_PATH"])
sys.stdout = open(os.devnull, "w")
from mlayer_function import handler
built = sorted(  # classes of the function's modules made by @dataclass
    f"{name}.{attr}"
    for name, module in list(sys.modules.items())
    if name.startswith("mlayer_function")
    for attr, value in vars(module).items()
    if isinstance(value, type) and "__dataclass_fields__" in vars(value)
)
sys.__stdout__.write(json.dumps({
    "loaded": sorted(sys.modules),
    "dataclasses": built,
    "gc": [gc.isenabled(), gc.get_freeze_count()],
}))
"""


@pytest.fixture(scope="module")
def forest_layer(tmp_path_factory):
    """(steps, model_dir): the table forest converted, as an ONNX model layer."""
    steps, _, _ = onnx_models.table_forest()
    schema = table_schema(steps)
    model_dir = onnx_models.write_onnx_layer(
        tmp_path_factory.mktemp("forest") / "opt",
        convert_pipeline(steps, "table", columns=schema),
        input_kind="table",
        input_schema=schema,
    )
    return steps, model_dir


@pytest.fixture(scope="module")
def onnx_deps(tmp_path_factory) -> Path:
    import numpy

    site = Path(numpy.__file__).resolve().parents[1]
    layer = tmp_path_factory.mktemp("onnx-deps-orjson")
    (layer / "python").mkdir()
    for name in DEPS:
        if (site / name).exists():
            (layer / "python" / name).symlink_to(site / name)
    return layer


def _raw(text: bytes) -> str:
    return base64.b64encode(text).decode()


def test_cold_start_loads_what_it_uses_and_hostile_records_keep_their_reasons(
    tmp_path, forest_layer, onnx_deps, runtime_dir
):
    steps, model_dir = forest_layer
    good = [
        {"id": "g1", "age": 45, "income": None, "city": "lyon"},
        {"id": 123456789012345678901234, "age": 30, "income": 61.5, "city": "paris"},
        {"id": "g3", "age": 70, "income": 20.0, "city": "paris", "note": [1, {"a": 2**70}]},
    ]
    hostile = {  # each one's reason is the one the stdlib and the column checks give alone
        "h-surrogate": (  # read by the stdlib (orjson refuses it); onnxruntime refuses it
            b'{"id": "h-surrogate", "age": 3, "income": 1.0, "city": "\\ud800"}',
            "predict failed: UnicodeEncodeError",
        ),
        "h-inf": (b'{"id": "h-inf", "age": 1e400, "income": 1.0, "city": "nice"}', "non-finite"),
        "h-nan": (
            b'{"id": "h-nan", "age": NaN, "income": 1.0, "city": "nice"}',
            "non-finite value",
        ),
        "h-bool": (b'{"id": "h-bool", "age": true, "income": 1.0, "city": "nice"}', "wrong type"),
        "h-utf8": (b'{"id": "h-utf8", "age": 3, "income": 1.0, "city": "\xff"}', "not UTF-8"),
        "h-float-id": (b'{"id": 1.5, "age": 3, "income": 1.0, "city": "nice"}', "wrong type"),
    }
    payloads = [_raw(json.dumps(r).encode("utf-8", "surrogatepass")) for r in good]
    payloads += [_raw(text) for text, _ in hostile.values()]
    proc = HandlerProcess(
        model_dir=model_dir,
        deps_layer=onnx_deps,
        runtime_dir=runtime_dir,
        workdir=tmp_path / "run",
        env={"MLAYER_OUTPUT_SINK": "stdout://", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769"},
    )
    try:
        at_cold_start = proc.info()["from_function_dir"]
        response = proc.invoke(kinesis_event(payloads, raw=True))
        info = proc.info()
    finally:
        proc.close()
    assert [m for m in NOT_AT_COLD_START if m in at_cold_start] == []
    assert info["modules"]["sklearn"] is None and info["modules"]["orjson"] is not None
    assert response == {"batchItemFailures": []}
    lines = proc.log_lines()
    results = {json.dumps(r["id"]): r for r in lines if "prediction" in r and "reason" not in r}
    assert list(results) == [json.dumps(r["id"]) for r in good]  # the 24-digit id as an int
    frame = sklearn_input(record_rows(good, "table", COLUMNS), "table", COLUMNS)
    assert [results[json.dumps(r["id"])]["prediction"] for r in good] == (
        steps[0].predict(frame).tolist()
    )
    letters = {letter["event_id"]: letter["reason"] for letter in lines if "reason" in letter}
    assert len(letters) == len(hostile)
    for (seq, reason), (_, want) in zip(sorted(letters.items()), hostile.values(), strict=True):
        assert reason.startswith(want), (seq, reason)
    (accounting,) = [line for line in lines if "_aws" in line and "records" in line]
    assert (accounting["predicted"], accounting["dead_lettered"]) == (len(good), len(hostile))


def test_bare_cold_start_imports_no_random_and_builds_no_dataclass(
    forest_layer, onnx_deps, runtime_dir
):
    """The same cold start in a Python holding nothing else (-S -E, Lambda's path only)."""
    _, model_dir = forest_layer
    lambda_path = [str(REPO / "function"), str(onnx_deps / "python"), str(runtime_dir)]
    done = subprocess.run(
        [sys.executable, "-S", "-E", "-c", BARE_CHILD],
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LAMBDA_PATH": json.dumps(lambda_path),
            "MLAYER_MODEL_DIR": str(model_dir),
            "MLAYER_OUTPUT_SINK": "stdout://",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert "mlayer_function.onnx_model" in seen["loaded"]  # the cold start did run
    assert [m for m in STDLIB_NOT_AT_COLD_START + NOT_AT_COLD_START if m in seen["loaded"]] == []
    assert seen["dataclasses"] == []
    enabled, frozen = seen["gc"]  # handler.cold_start: paused, then what it built frozen
    assert enabled and frozen > 10_000
