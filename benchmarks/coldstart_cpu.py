"""CPU-time figures beside bench_coldstart's REPORT ones (ONNX model): what the function itself
spends, which the machine's load moves far less than wall-clock time.

- warm: the real handler in process (stdout sink to /dev/null) on the same 100-record Kinesis
  event, each batch paired with one onnxruntime session.run on its feed; thread CPU time, the
  median of 200 pairs' ratios.
- cold: CPU time of the function's cold start after the runtime client's own import (the
  function's modules, onnxruntime, the session, the "model loaded" line) against import
  onnxruntime + the session alone, each in a fresh interpreter on the layer.
- pycs: the same cold start from the code zip deploy-function ships (its sources and their
  pycs for the runtime) and from its sources only, both with nothing written
  (PYTHONDONTWRITEBYTECODE, as on Lambda's read-only /var/task), alternating fresh
  interpreters: the medians and the median of the paired differences (``pyc_pairs``).

The function runs from that code zip, unpacked (``code_tasks``), everywhere here.
Run alone: ``.venv/bin/python -m benchmarks.coldstart_cpu [pairs]`` (the pycs figure only).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
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


def _env(made: dict, rdir: Path, task: Path) -> dict:
    """Lambda's path (/var/task, /opt/python, the runtime's) and the function's variables."""
    return {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": os.pathsep.join([str(task), str(made["opt"] / "python"), str(rdir)]),
        "MLAYER_MODEL_DIR": str(made["opt"] / "mlayer"),
        "MLAYER_OUTPUT_SINK": "stdout://",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
        "AWS_LAMBDA_FUNCTION_NAME": "coldstart-onnx",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
    }


def code_tasks(tmp: Path, runtime: str) -> dict[str, Path]:
    """deploy-function's code zip for ``runtime`` unpacked ("task") and, beside it, the same
    zip without its pycs ("sources_task"), as built where the runtime's Python is missing."""
    from mlayer.deploying.function_code import build_code_zip, code_zip
    from mlayer.local.opt import extract

    built = code_zip(tmp / "code.zip", runtime)
    assert not built.note, built.note
    extract(built.data, tmp / "task")
    extract(build_code_zip(tmp / "sources.zip")[0], tmp / "sources-task")
    return {"task": tmp / "task", "sources_task": tmp / "sources-task"}


def pyc_pairs(exe: str, rdir: Path, made: dict, cpus: frozenset[int], pairs: int) -> dict:
    """The cold start's CPU with the code zip's pycs and from its sources only (module
    docstring): each pair two fresh interpreters, in alternating order."""
    envs = {
        kind: {**_env(made, rdir, made[kind]), "PYTHONDONTWRITEBYTECODE": "1"}
        for kind in ("task", "sources_task")
    }
    rows = []
    for i in range(pairs):
        order = ("task", "sources_task") if i % 2 == 0 else ("sources_task", "task")
        rows.append({k: float(_run(exe, [COLD, "function"], envs[k], cpus)) for k in order})
    return {
        "pairs": pairs,
        "pycs_cpu_ms": statistics.median(r["task"] for r in rows),
        "sources_cpu_ms": statistics.median(r["sources_task"] for r in rows),
        "saved_cpu_ms": statistics.median(r["sources_task"] - r["task"] for r in rows),
    }


def pyc_line(got: dict) -> str:
    return (
        f"  code zip's pycs (CPU, {got['pairs']} alternating pairs, nothing written): the cold "
        f"start after the runtime client {got['pycs_cpu_ms']:.1f} ms with them vs "
        f"{got['sources_cpu_ms']:.1f} ms from the sources only (paired: "
        f"-{got['saved_cpu_ms']:.1f} ms)"
    )


def main(argv: list[str]) -> int:
    """The pycs figure alone, on bench_coldstart's ONNX layer (its setup, its CPU split)."""
    from benchmarks.bench_coldstart import onnx_setup
    from benchmarks.bench_local import _cpu_split, _pin_this_process
    from mlayer.local.prepare import interpreter_for
    from mlayer.local.runtime_dir import runtime_dir

    pairs = int(argv[0]) if argv else 20
    runtime = "python{}.{}".format(*sys.version_info[:2])
    exe = interpreter_for(runtime)
    rdir = runtime_dir(exe, runtime.removeprefix("python"))
    same_cpu, other_cpus = _cpu_split()
    load = os.getloadavg()[0]
    _pin_this_process(other_cpus)
    with tempfile.TemporaryDirectory(prefix="mlayer-coldstart-cpu-") as tmp:
        made = onnx_setup(Path(tmp))
        made.update(code_tasks(Path(tmp), runtime))
        got = pyc_pairs(exe, rdir, made, same_cpu, pairs)
    print(
        f"{runtime}, load average (1 min) {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    )
    print(pyc_line(got))
    return 0


def cpu_figures(exe: str, rdir: Path, made: dict, tmp: Path, cpus: frozenset[int]) -> dict:
    """One round's CPU figures (module docstring) for the ONNX layer ``made`` (onnx_setup's)."""
    event, batch = tmp / "event.json", tmp / "batch.json"
    event.write_text(json.dumps(made["event"]))
    batch.write_text(json.dumps(made["records"]))
    env = _env(made, rdir, made.get("task", REPO / "function"))
    row = json.loads(_run(exe, [WARM, str(event), str(batch)], env, cpus))
    row["cold_cpu_ms"] = float(_run(exe, [COLD, "function"], env, cpus))
    row["cold_floor_cpu_ms"] = float(_run(exe, [COLD, "floor", str(made["graph"])], env, cpus))
    return row


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
