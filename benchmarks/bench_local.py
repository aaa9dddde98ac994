"""Local emulation overhead: a cold and a warm emulated invoke vs calling the handler in-process.

The same handler (joblib-loads a TF-IDF + logistic regression pipeline from $MLAYER_MODEL_DIR
and predicts a 100-record batch) runs three ways in one run: in this process (baseline), on a
warm emulated container (runtime interface client + Runtime API + /proc watching), and cold
(new process, imports, model load). The ratios are what the emulation adds.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HANDLER = textwrap.dedent("""
    import os, joblib
    MODEL = joblib.load(os.path.join(os.environ["MLAYER_MODEL_DIR"], "model.joblib"))
    def handler(event, context):
        return {"predictions": MODEL.predict(event["texts"]).tolist()}
""")
WARM_RUNS = 50
COLD_RUNS = 3
POLL_RECORDS = 1000
POLL_BATCH = 100


def _setup(base: Path):
    import joblib
    import numpy
    import scipy
    import sklearn
    import threadpoolctl
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts = [
        f"message {i} {'win cash prize now' if i % 3 == 0 else 'see you at lunch'}"
        for i in range(600)
    ]
    labels = ["spam" if i % 3 == 0 else "ham" for i in range(600)]
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, labels)
    task, opt = base / "task", base / "opt"
    task.mkdir()
    (opt / "python").mkdir(parents=True)
    (opt / "mlayer").mkdir()
    joblib.dump(model, opt / "mlayer" / "model.joblib")
    (task / "bench_handler.py").write_text(HANDLER)
    site = Path(sklearn.__file__).parents[1]
    for mod in (sklearn, numpy, scipy, joblib):  # stand-ins for the deps layer's python/
        (opt / "python" / mod.__name__).symlink_to(Path(mod.__file__).parent)
    for libs in site.glob("*.libs"):
        (opt / "python" / libs.name).symlink_to(libs)
    (opt / "python" / "threadpoolctl.py").symlink_to(threadpoolctl.__file__)
    return task, opt, {"texts": texts[:100]}


def main() -> int:
    from mlayer.local.emulator import Emulator, FunctionSpec
    from mlayer.local.prepare import interpreter_for
    from mlayer.local.runtime_dir import runtime_dir

    runtime = "python{}.{}".format(*sys.version_info[:2])
    exe = interpreter_for(runtime)
    rdir = runtime_dir(exe, runtime.removeprefix("python"))
    with tempfile.TemporaryDirectory() as tmp:
        task, opt, event = _setup(Path(tmp))
        # baseline: the handler imported and called in this process
        os.environ["MLAYER_MODEL_DIR"] = str(opt / "mlayer")
        sys.path.insert(0, str(task))
        t0 = time.perf_counter()
        import bench_handler

        in_cold = (time.perf_counter() - t0) * 1000
        in_warm = []
        for _ in range(WARM_RUNS):
            t = time.perf_counter()
            bench_handler.handler(event, None)
            in_warm.append((time.perf_counter() - t) * 1000)
        spec = FunctionSpec(
            "bench", "bench_handler.handler", runtime, task, opt, memory_mb=1024, timeout_s=60
        )
        cold, warm, init, inside = [], [], [], []
        for _ in range(COLD_RUNS):
            with Emulator(spec, exe, rdir) as em:
                t = time.perf_counter()
                first = em.invoke(event)
                cold.append((time.perf_counter() - t) * 1000)
                init.append(first.report.init_ms)
                assert first.error is None, first.payload
                for _ in range(WARM_RUNS):
                    t = time.perf_counter()
                    result = em.invoke(event)
                    warm.append((time.perf_counter() - t) * 1000)
                    inside.append(result.report.duration_ms)
    iw, ew = statistics.median(in_warm), statistics.median(warm)
    ec = statistics.median(cold)
    print(
        f"in-process: import+load {in_cold:.1f} ms (already-warm interpreter), call median {iw:.2f} ms"
    )
    print(
        f"emulated warm invoke: median {ew:.2f} ms  -> {ew / iw:.2f}x the in-process call (+{ew - iw:.2f} ms)"
    )
    print(f"  of which the handler's Duration (REPORT): median {statistics.median(inside):.2f} ms")
    print(
        f"emulated cold invoke: median {ec:.0f} ms (init {statistics.median(init):.0f} ms) -> {ec / iw:.0f}x the in-process call"
    )
    print(f"target: warm overhead under 5 ms per invoke -> {'holds' if ew - iw < 5 else 'MISSED'}")
    per_batch = bench_poll(exe, rdir, runtime)
    return 0 if ew - iw < 5 and per_batch < 50 else 1


def bench_poll(exe: str, rdir: Path, runtime: str) -> float:
    """What the event-source mapping adds per batch: the same batches invoked straight on a warm
    container (baseline) vs read from the embedded Kinesis, checkpointed in S3 and delivered."""
    from mlayer.gateway import Gateway
    from mlayer.local import sandbox
    from mlayer.local.aws import embedded_aws
    from mlayer.local.checkpoints import BucketCheckpoints
    from mlayer.local.emulator import Emulator, FunctionSpec
    from mlayer.local.environment import function_aws_env
    from mlayer.local.poller import Mapping, Poller, kinesis_event

    with embedded_aws(set_env=True) as aws, tempfile.TemporaryDirectory() as tmp:
        task = Path(tmp) / "task"
        task.mkdir()
        (task / "count.py").write_text(
            "def handler(event, context):\n    return {'n': len(event['Records'])}\n"
        )
        spec = FunctionSpec("poll", "count.handler", runtime, task, Path(tmp) / "opt", 256, 30)
        gw = Gateway(region="us-east-1", endpoint_url=aws.endpoint_url)
        arn = sandbox.ensure_stream(gw, "bench")["StreamARN"]
        gw.ensure_bucket("bench")
        for start in range(0, POLL_RECORDS, 500):
            sandbox.put_records(
                gw,
                "bench",
                [
                    {"Data": f'{{"id": {i}}}'.encode(), "PartitionKey": "k"}
                    for i in range(start, start + 500)
                ],
            )
        mapping = Mapping(
            "bench",
            arn,
            "arn:aws:lambda:us-east-1:123456789012:function:poll",
            "",
            "us-east-1",
            batch_size=POLL_BATCH,
            max_record_age=-1,
        )
        with Emulator(spec, exe, rdir, aws_env=function_aws_env(gw)) as em:
            em.invoke({"Records": []})  # warm it: the cold start is measured above
            shard = gw.list_shards("bench")[0]["ShardId"]
            it = gw.get_shard_iterator("bench", shard, "TRIM_HORIZON")
            batches = []
            while it and len(batches) < POLL_RECORDS // POLL_BATCH:
                resp = gw.get_records(it, POLL_BATCH)
                it = resp.get("NextShardIterator")
                if resp["Records"]:
                    batches.append(kinesis_event(resp["Records"], shard, mapping))
            t = time.perf_counter()
            for event in batches:
                em.invoke(event)
            direct = (time.perf_counter() - t) * 1000 / len(batches)
            checkpoints = BucketCheckpoints(gw, "bench", "local/checkpoints/bench.json")
            t = time.perf_counter()
            result = Poller(gw, em.invoke, mapping, checkpoints=checkpoints).run(until_empty=True)
            polled = (time.perf_counter() - t) * 1000
    per_batch = polled / len(result.batches)
    print(
        f"poll: {result.records} records in {len(result.batches)} batches of {POLL_BATCH}: {polled:.0f} ms, "
        f"{result.records / polled * 1000:.0f} records/s; {per_batch:.1f} ms per batch vs {direct:.1f} ms "
        f"invoking the same batch directly (+{per_batch - direct:.1f} ms: GetRecords, checkpoint to S3)"
    )
    print(
        f"target: the mapping adds under 50 ms per batch -> {'holds' if per_batch < 50 else 'MISSED'}"
    )
    return per_batch


if __name__ == "__main__":
    raise SystemExit(main())
