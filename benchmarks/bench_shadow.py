"""What a shadow model costs a warm batch: function/mlayer_function/handler.py in process on a
Kinesis batch of 100 texts (bench_handler's model: 3 classes, 5,000 words and word pairs),
stdout sink to /dev/null, without a shadow, with a shadow of the same size on every batch, and
with ``shadow_sample = 0.1``.

Paired in the same run, on one CPU: each measurement is a block of 10 batches (so a sample of
0.1 sees its one batch in ten), taken right after the same block without a shadow; the figure is
the median of the blocks' ratios. Targets: the full shadow at most 2.1x (two predicts plus the
comparison), the 0.1 sample at most 1.2x. Exit 1 on a miss.

Run: ``.venv/bin/python -m benchmarks bench_shadow``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BATCH, BLOCK, PAIRS = 100, 10, 31
TARGETS = {1.0: 2.1, 0.1: 1.2}


def _block_ms(handle, event) -> float:
    started = time.perf_counter()
    for _ in range(BLOCK):
        handle(event, None)
    return (time.perf_counter() - started) * 1000


def measure(handler, shadow_mod, modelstore, candidate_dir: Path, event) -> dict[float, tuple]:
    app = handler.APP
    candidate = modelstore.load_model(candidate_dir)
    out = {}
    for sample in TARGETS:
        bases, runs, ratios = [], [], []
        for _ in range(PAIRS):
            app.shadow = None
            base = _block_ms(handler.handler, event)
            app.shadow = shadow_mod.Shadow(
                app.model, candidate, sample, handler.emit, {"function": "bench"}, "mlayer"
            )
            run = _block_ms(handler.handler, event)
            assert app.shadow.active, app.shadow.reason
            bases.append(base / BLOCK)
            runs.append(run / BLOCK)
            ratios.append(run / base)
        out[sample] = (statistics.median(bases), statistics.median(runs), statistics.median(ratios))
    app.shadow = None
    return out


def main() -> int:
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "function"))
    from benchmarks.bench_handler import _corpus, build_model, kinesis_event

    tmp = Path(tempfile.mkdtemp(prefix="bench-shadow-"))
    sink = open(os.devnull, "w")  # noqa: SIM115 - closed below
    before = os.sched_getaffinity(0)
    try:
        build_model(tmp / "live")
        shutil.copytree(tmp / "live", tmp / "candidate")  # the same size, loaded apart
        os.environ.update(
            {"MLAYER_MODEL_DIR": str(tmp / "live"), "MLAYER_OUTPUT_SINK": "stdout://"}
        )
        os.environ["AWS_LAMBDA_FUNCTION_NAME"] = "bench"
        for key in ("MLAYER_OUTPUT_DEAD_LETTER", "MLAYER_SHADOW_LAYER"):
            os.environ.pop(key, None)
        os.sched_setaffinity(0, {max(before)})  # one CPU, as Lambda's 1,769 MB
        with contextlib.redirect_stdout(sink):
            from mlayer_function import handler, modelstore
            from mlayer_function import shadow as shadow_mod

            texts, _ = _corpus(BATCH, seed=2)
            event = kinesis_event(texts)
            for _ in range(3):  # warm
                handler.handler(event, None)
            results = measure(handler, shadow_mod, modelstore, tmp / "candidate", event)
    finally:
        os.sched_setaffinity(0, before)
        sink.close()
        shutil.rmtree(tmp, ignore_errors=True)
    missed = False
    print(f"warm batch of {BATCH} texts, blocks of {BLOCK} batches, median of {PAIRS} pairs")
    for sample, (base, run, ratio) in results.items():
        target = TARGETS[sample]
        ok = ratio <= target
        missed |= not ok
        print(
            f"shadow_sample {sample:g}: {run:.2f} ms a batch against {base:.2f} ms without a "
            f"shadow: {ratio:.2f}x (target <= {target}x: {'met' if ok else 'MISSED'})"
        )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
