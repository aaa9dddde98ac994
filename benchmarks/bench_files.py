"""Scoring a file through the function against pandas' chunked read of the same file.

The function's path in process, from its entry point on (handler.App -> files.FileScorer: the
chunked reader, one vectorized predict per 5,000 rows, the JSON lines, the multipart writer):
the S3 stand-in serves the CSV from disk behind GetObject's streaming body and appends each
uploaded part to a file, so neither side holds the file or its output in memory. The baseline
is a plain script on the same file: ``pandas.read_csv(chunksize=5000)``, ``pipeline.predict``
and ``predict_proba`` per chunk, one ``json.dumps`` line per row. The model is StandardScaler ->
LogisticRegression on 4 numeric columns (the ``features`` input: every column but ``id``).

Each side is timed from its first read to its last write (imports and the model's load, the
function's cold start, are outside on both sides) in a child process of its own (peak RSS is
the child's ru_maxrss, imports included) on the same
1,000,000-row file, alternately, ROUNDS times; the ratio is of the medians. Targets: the
function's throughput at least 0.8x the baseline's, and its peak RSS on 1,000,000 rows within
1.2x of its peak on 100,000 (memory flat in the file's size). Exit 1 on a missed target.

Run: ``.venv/bin/python -m benchmarks bench_files``.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHUNK, ROUNDS = 5000, 3
SPEED_TARGET, RSS_TARGET = 0.8, 1.2
SIZES = (100_000, 1_000_000)


def write_csv(path: Path, rows: int) -> None:
    with path.open("w") as out:
        out.write("id,a,b,c,d\n")
        for i in range(rows):
            out.write(f"r{i},{i % 97 / 7:.4f},{i % 13 - 6},{(i * 31) % 101 / 10:.3f},{i % 5}\n")


def build_model(folder: Path) -> Path:
    """The pipeline as a model layer folder (manifest + artifacts), as the function loads it."""
    sys.path.insert(0, str(REPO / "tests"))
    import numpy as np
    from function_support import write_model_layer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(7)
    x = rng.normal(size=(500, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    scaler = StandardScaler().fit(x)
    model = LogisticRegression().fit(scaler.transform(x), y)
    return write_model_layer(
        folder, [scaler, model], input_kind="features", version="bench", n_features=4
    )


class DiskBody:
    def __init__(self, path: Path, offset: int) -> None:
        self._file = path.open("rb")
        self._file.seek(offset)

    def iter_chunks(self, size: int):
        while piece := self._file.read(size):
            yield piece

    def close(self) -> None:
        self._file.close()


class DiskS3:
    """GetObject from a file; parts and puts appended to an output file; HEAD says absent."""

    def __init__(self, source: Path, output: Path) -> None:
        self.source, self.output = source, output

    def get_object(self, Bucket, Key, IfMatch=None, Range=None):  # noqa: N803 - boto3's names
        offset = int(Range.removeprefix("bytes=").rstrip("-")) if Range else 0
        return {"Body": DiskBody(self.source, offset)}

    def head_object(self, Bucket, Key):  # noqa: N803
        raise LookupError("404")

    def _append(self, body: bytes) -> None:
        with self.output.open("ab") as out:
            out.write(body)

    def create_multipart_upload(self, **_params):
        return {"UploadId": "bench"}

    def upload_part(self, Body, PartNumber, **_params):  # noqa: N803
        self._append(Body)
        return {"ETag": f'"part-{PartNumber}"'}

    def put_object(self, Body, **_params):  # noqa: N803
        self._append(Body)
        return {}

    def complete_multipart_upload(self, **_params):
        return {}

    def delete_object(self, **_params):
        return {}


def run_function(model_dir: str, source: Path, output: Path) -> tuple[int, float]:
    os.environ.update(
        MLAYER_MODEL_DIR=model_dir,
        MLAYER_OUTPUT_SINK="s3://bench-out/scores/",
        MLAYER_FILE_CHUNK_RECORDS=str(CHUNK),
    )
    sys.path.insert(0, str(REPO / "function"))
    from mlayer_function import files, handler

    fake = DiskS3(source, output)
    scorer = files.FileScorer(handler.APP, lambda _service: fake)
    scorer._exists = lambda _bucket, _key: False  # the stand-in has no HEAD: nothing exists yet
    event = {
        "Records": [
            {
                "eventSource": "aws:s3",
                "s3": {
                    "bucket": {"name": "bench-in"},
                    "object": {"key": "day.csv", "eTag": "e", "size": source.stat().st_size},
                },
            }
        ]
    }
    started = time.perf_counter()
    done = scorer.handle(event, None)["files"][0]
    return done["predicted"], time.perf_counter() - started


def run_baseline(model_dir: str, source: Path, output: Path) -> tuple[int, float]:
    import joblib
    import pandas as pd

    manifest = json.loads((Path(model_dir) / "manifest.json").read_text())
    steps = [joblib.load(Path(model_dir) / a["file"]) for a in manifest["artifacts"]]
    scaler, model = steps
    classes = [str(c) for c in model.classes_.tolist()]
    rows = 0
    started = time.perf_counter()
    with output.open("w") as out:
        for chunk in pd.read_csv(source, chunksize=CHUNK):
            x = scaler.transform(chunk[["a", "b", "c", "d"]].to_numpy())
            labels = model.predict(x).tolist()
            probas = model.predict_proba(x).tolist()
            for n, (rid, label, proba) in enumerate(
                zip(chunk["id"].tolist(), labels, probas, strict=True)
            ):
                doc = {
                    "id": rid,
                    "prediction": label,
                    "probabilities": dict(zip(classes, proba, strict=True)),
                    "model_version": "bench",
                    "line": rows + n + 2,
                }
                out.write(json.dumps(doc) + "\n")
            rows += len(labels)
    return rows, time.perf_counter() - started


def child(mode: str, model_dir: str, source: str, output: str) -> None:
    run = run_function if mode == "function" else run_baseline
    rows, seconds = run(model_dir, Path(source), Path(output))  # after imports and the model load
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "rss_mb": rss_mb}))


def measure(mode: str, model_dir: Path, source: Path, work: Path) -> dict:
    output = work / f"{mode}.jsonl"
    output.unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, __file__, mode, str(model_dir), str(source), str(output)],
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    lines = sum(1 for _ in output.open("rb"))
    assert lines == result["rows"], (mode, lines, result["rows"])
    return result


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="bench-files-") as tmp:
        work = Path(tmp)
        model_dir = build_model(work / "opt")
        files = {}
        for size in SIZES:
            files[size] = work / f"rows-{size}.csv"
            write_csv(files[size], size)
        big = files[SIZES[-1]]
        fn, base = [], []
        for _ in range(ROUNDS):
            fn.append(measure("function", model_dir, big, work))
            base.append(measure("baseline", model_dir, big, work))
        small = measure("function", model_dir, files[SIZES[0]], work)
    rows = SIZES[-1]
    fn_s = statistics.median(r["seconds"] for r in fn)
    base_s = statistics.median(r["seconds"] for r in base)
    ratio = base_s / fn_s  # throughput ratio: function rows/s over baseline rows/s
    rss_big = max(r["rss_mb"] for r in fn)
    rss_ratio = rss_big / small["rss_mb"]
    print(f"rows: {rows:,} (CSV, 4 numeric columns + id), chunk {CHUNK}, {ROUNDS} rounds each")
    print(f"function : {fn_s:6.2f} s  {rows / fn_s:>10,.0f} rows/s  peak RSS {rss_big:6.1f} MB")
    print(
        f"baseline : {base_s:6.2f} s  {rows / base_s:>10,.0f} rows/s  peak RSS "
        f"{max(r['rss_mb'] for r in base):6.1f} MB  (pandas.read_csv(chunksize) + predict + json)"
    )
    print(f"throughput ratio: {ratio:.2f}x (target >= {SPEED_TARGET}x)")
    print(
        f"function peak RSS: {small['rss_mb']:.1f} MB at {SIZES[0]:,} rows, {rss_big:.1f} MB at "
        f"{rows:,}: {rss_ratio:.2f}x (target <= {RSS_TARGET}x)"
    )
    missed = []
    if ratio < SPEED_TARGET:
        missed.append("throughput")
    if rss_ratio > RSS_TARGET:
        missed.append("flat memory")
    print("targets met" if not missed else f"MISSED: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    if len(sys.argv) == 5:
        child(*sys.argv[1:])
    else:
        sys.exit(main())
