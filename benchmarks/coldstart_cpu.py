"""CPU-time figures beside bench_coldstart's REPORT ones (ONNX model): what the function itself
spends, which the machine's load moves far less than wall-clock time.

- warm: the real handler in process (stdout sink to /dev/null) on the same 100-record Kinesis
  event, each batch paired with one onnxruntime session.run on its feed; thread CPU time, the
  median of 200 pairs' ratios.
- cold: CPU time of the function's cold start after the runtime client's own import (the
  function's modules, onnxruntime, the session, the "model loaded" line) against import
  onnxruntime + the session alone, each in a fresh interpreter on the layer.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from benchmarks.bench_local import REPO, _pinned_popen

WARM = """
import json, os, statistics, sys, time
sys.stdout = open(os.devnull, "w")
from mlayer_function import handler
import numpy as np
event = json.load(open(sys.argv[1]))
feed = handler.APP.model.feed([handler.APP.rules.table.row(r) for r in json.load(open(sys.argv[2]))])
run, clock = handler.APP.model.session.run, time.thread_time
for _ in range(20):
    handler.handler(event)
pairs = []
for _ in range(200):
    t = clock(); run(None, feed); model = clock() - t
    t = clock(); out = handler.handler(event); function = clock() - t
    assert out == {"batchItemFailures": []}, out
    pairs.append((function, model))
sys.__stdout__.write(json.dumps({
    "handler_cpu_ms": statistics.median(f for f, _ in pairs) * 1000,
    "run_cpu_ms": statistics.median(m for _, m in pairs) * 1000,
    "warm_cpu_ratio": statistics.median(f / m for f, m in pairs),
}))
"""

COLD = """
import os, sys, time
import awslambdaric.bootstrap  # the runtime client's own import: not the function's
t = time.process_time()
if sys.argv[1] == "floor":
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    ort.InferenceSession(sys.argv[2], options, providers=["CPUExecutionProvider"])
else:
    sys.stdout = open(os.devnull, "w")
    import mlayer_function.handler
sys.__stdout__.write(str((time.process_time() - t) * 1000))
"""


def _run(exe: str, argv: list[str], env: dict, cpus: frozenset[int]) -> str:
    proc = _pinned_popen(
        [exe, "-S", "-c", *argv],
        cpus,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    return out


def cpu_figures(exe: str, rdir: Path, made: dict, tmp: Path, cpus: frozenset[int]) -> dict:
    """One round's CPU figures (module docstring) for the ONNX layer ``made`` (onnx_setup's)."""
    event, batch = tmp / "event.json", tmp / "batch.json"
    event.write_text(json.dumps(made["event"]))
    batch.write_text(json.dumps(made["records"]))
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join(
            [str(REPO / "function"), str(made["opt"] / "python"), str(rdir)]
        ),
        "MLAYER_MODEL_DIR": str(made["opt"] / "mlayer"),
        "MLAYER_OUTPUT_SINK": "stdout://",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
        "AWS_LAMBDA_FUNCTION_NAME": "coldstart-onnx",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
    }
    row = json.loads(_run(exe, [WARM, str(event), str(batch)], env, cpus))
    row["cold_cpu_ms"] = float(_run(exe, [COLD, "function"], env, cpus))
    row["cold_floor_cpu_ms"] = float(_run(exe, [COLD, "floor", str(made["graph"])], env, cpus))
    return row
