"""An ONNX table model's cold start and warm batch in the real handler, in a child Python whose
path is Lambda's (the function, an ONNX deps layer with orjson, the runtime's boto3).

GIVEN a model layer from a real conversion (ColumnTransformer + forest) and records of which
some are hostile in the ways the fast readers must leave to the stdlib and the column checks
(an integer id over 64 bits, a number beyond a double, NaN, a lone surrogate, invalid UTF-8,
a boolean as a number, a float id, an extra field with a big integer inside), WHEN the handler starts and reads the batch,
THEN the cold start imported none of what this configuration does not use (files, the S3
fetch, a shadow, scikit-learn), every good record is predicted as scikit-learn predicts it,
and every hostile one is dead-lettered with its reason: none lost.
"""

from __future__ import annotations

import base64
import json
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
)


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
    tmp_path, onnx_deps, runtime_dir
):
    steps, _, _ = onnx_models.table_forest()
    schema = table_schema(steps)
    model_dir = onnx_models.write_onnx_layer(
        tmp_path / "opt",
        convert_pipeline(steps, "table", columns=schema),
        input_kind="table",
        input_schema=schema,
    )
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
