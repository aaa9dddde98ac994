"""Cold init of a 120 MB model stored in S3 (embedded AWS) against a bare joblib.load from disk.

Both sides run in a fresh child of the same interpreter, so each pays its own imports, and
report their own peak resident memory (VmHWM):
- baseline: ``joblib.load`` of the forest's file from local disk (scikit-learn imported by it);
- S3 init: the function's own cold-start load, ``modelstore.load_model`` of a manifest-only
  model folder: boto3 imported, ``fetch.materialize`` (parallel ranged GETs into /tmp, sha256
  in order, verified), then ``joblib.load``; the time split into download, verify and load
  from the fetch's log line and the model's ``load_ms``.
A warm start (same /tmp) is measured too: it must make no GET.
Targets (issue 13): init <= 2x the bare load; peak RSS <= 1.2x.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
RUNS = 3

_BARE = """
import json, sys, time
t0 = time.perf_counter()
import joblib
joblib.load(sys.argv[1])
ms = (time.perf_counter() - t0) * 1000
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
print(json.dumps({"total_ms": ms, "load_ms": ms, "hwm_kb": hwm}))
"""

_S3_INIT = """
import io, json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from mlayer_function import modelstore
out, sys.stdout = sys.stdout, io.StringIO()  # the fetch's log line
model = modelstore.load_model(sys.argv[2])
logged, sys.stdout = sys.stdout.getvalue(), out
t1 = time.perf_counter()
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
log = next(json.loads(l) for l in logged.splitlines() if "model artifacts fetched" in l)
print(json.dumps({"total_ms": (t1 - t0) * 1000, "fetch_ms": log["download_ms"] + log["verify_ms"],
                  "load_ms": model.load_ms - log["download_ms"] - log["verify_ms"],
                  "hwm_kb": hwm, "log": log}))
"""


def _child(code: str, args: list[str], env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def main() -> int:
    from s3_model_support import big_forest

    from mlayer.gateway import Gateway
    from mlayer.local.aws import embedded_aws
    from mlayer.model import manifest as mf
    from mlayer.model.artifacts import inspect_pipeline
    from mlayer.publishing import model_store

    forest = big_forest()
    size = forest.stat().st_size
    pipeline = inspect_pipeline(forest, [], [], "features")
    bucket = "mlayer-bench-s3-model"
    with embedded_aws(isolated=True, set_env=True) as local, tempfile.TemporaryDirectory() as tmp:
        gw = Gateway(endpoint_url=local.endpoint_url, region=local.region)
        gw.ensure_bucket(bucket)
        items = model_store.plan_uploads(pipeline.artifacts, pipeline.paths)
        model_store.upload(gw, bucket, items)
        manifest = model_store.to_s3_form(
            mf.build_manifest(
                label="bench",
                artifacts=pipeline.artifacts,
                code=[],
                input_kind="features",
                outputs=pipeline.outputs,
                n_features=pipeline.n_features,
                versions={},
                created_at="2026-11-30T00:00:00Z",
                created_by={"user": "bench", "host": "bench", "git_commit": None},
            ),
            bucket,
        )
        model_dir = Path(tmp) / "opt" / "mlayer"  # the manifest-only model layer, as on Lambda
        model_dir.mkdir(parents=True)
        (model_dir / "manifest.json").write_bytes(mf.to_json(manifest))
        env = {**os.environ, **local.env}
        function_dir = str(ROOT / "function")
        bare, cold, warm = [], [], []
        for i in range(RUNS):
            bare.append(_child(_BARE, [str(forest)], env))
            lambda_tmp = Path(tmp) / f"tmp-{i}"
            lambda_tmp.mkdir()
            child_env = {**env, "TMPDIR": str(lambda_tmp)}
            args = [function_dir, str(model_dir)]
            cold.append(_child(_S3_INIT, args, child_env))
            warm.append(_child(_S3_INIT, args, child_env))

    def med(rows: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    def med_log(rows: list[dict], key: str) -> float:
        return statistics.median(r["log"][key] for r in rows)

    b_ms, c_ms, w_ms = med(bare, "total_ms"), med(cold, "total_ms"), med(warm, "total_ms")
    b_kb, c_kb = med(bare, "hwm_kb"), med(cold, "hwm_kb")
    print(f"model: a {size / 2**20:.1f} MB random forest, {RUNS} runs each (medians)")
    print(
        f"baseline  bare joblib.load from local disk     {b_ms:8.0f} ms   peak RSS {b_kb / 1024:6.0f} MB"
    )
    print(
        f"cold init from S3 (embedded AWS)              {c_ms:8.0f} ms   peak RSS {c_kb / 1024:6.0f} MB"
        f"   = {_ratio(c_ms, b_ms)} time (target <= 2x), {_ratio(c_kb, b_kb)} RSS (target <= 1.2x)"
    )
    print(
        f"  split: download {med_log(cold, 'download_ms'):.0f} ms "
        f"({med_log(cold, 'parts'):.0f} parts), verify {med_log(cold, 'verify_ms'):.0f} ms, "
        f"load {med(cold, 'load_ms'):.0f} ms (load_model's load_ms less the fetch); imports "
        f"{med(cold, 'total_ms') - med(cold, 'fetch_ms') - med(cold, 'load_ms'):.0f} ms"
    )
    print(
        f"warm init (same /tmp)                        {w_ms:8.0f} ms   = {_ratio(w_ms, b_ms)};"
        f" downloads {sum(r['log']['downloaded'] for r in warm)}, "
        f"re-verify {med_log(warm, 'verify_ms'):.0f} ms"
    )
    ok = c_ms <= 2 * b_ms and c_kb <= 1.2 * b_kb and all(r["log"]["downloaded"] == 0 for r in warm)
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
