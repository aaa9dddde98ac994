"""The function with a shadow model (function/mlayer_function/shadow.py), in a child Python whose
path is Lambda's, the candidate's layer zip in the embedded AWS's S3.

GIVEN a live model and a candidate named by MLAYER_SHADOW_LAYER, WHEN batches arrive, THEN the
live results are byte for byte those of a function without a shadow, whatever the candidate
does, and its comparison goes out as EMF lines with both versions as dimensions.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from function_support import HandlerProcess, kinesis_event, write_model_layer

from mlayer.gateway import Gateway
from mlayer.shadow.readings import bucket_bounds

pytestmark = pytest.mark.slow
BUCKET = "mlayer-shadow-test"
FAULTS = textwrap.dedent("""
    import time
    import numpy as np

    class Raising:
        def predict(self, x):
            raise RuntimeError("the candidate is broken")

    class NaNs:
        def predict(self, x):
            return np.full(len(x), np.nan)

    class Sleeping:
        def predict(self, x):
            time.sleep(5)
            return np.zeros(len(x), dtype=int)

    class Short:
        def predict(self, x):
            return np.zeros(max(0, len(x) - 1), dtype=int)
""")


def _data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4))
    return x, (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)


@pytest.fixture(scope="module")
def faults_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("shadow-faults")
    (folder / "shadow_faults.py").write_text(FAULTS)
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))


@pytest.fixture(scope="module")
def models(tmp_path_factory, faults_dir):
    """The live classifier and its candidates, each a model layer folder (<opt>/mlayer)."""
    import shadow_faults
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    root = tmp_path_factory.mktemp("shadow-models")
    x, y = _data(300, 0)
    live = LogisticRegression().fit(x, y)
    retrained = DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, y)
    steps = {
        "live": [live],
        "same": [live],
        "retrained": [retrained],
        "raising": [shadow_faults.Raising()],
        "nan": [shadow_faults.NaNs()],
        "sleeping": [shadow_faults.Sleeping()],
        "short": [shadow_faults.Short()],
    }
    out = {}
    for name, pipeline in steps.items():
        folder = write_model_layer(
            root / name, pipeline, input_kind="features", version=f"{name}-1", n_features=4
        )
        manifest = json.loads((folder / "manifest.json").read_text())
        manifest["outputs"] = {"predict": True, "predict_proba": False, "classes": [0, 1]}
        (folder / "manifest.json").write_text(json.dumps(manifest))
        out[name] = folder
    out["objects"] = {"live": live, "retrained": retrained}
    return out


def _upload(gw: Gateway, folder: Path) -> str:
    """The layer zip of ``folder`` (mlayer/...) in S3 under its sha256: MLAYER_SHADOW_LAYER."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(folder.iterdir()):
            zf.write(path, f"mlayer/{path.name}")
    data = buf.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    gw.ensure_bucket(BUCKET)
    gw.put_bytes(BUCKET, f"layers/{sha}.zip", data)
    return f"s3://{BUCKET}/layers/{sha}.zip#{sha}"


@pytest.fixture
def run(aws, models, deps_layer, runtime_dir, faults_dir, tmp_path):
    """run(candidate or None, batches, sample=1) -> (result lines, all log lines, seconds)."""
    gw = Gateway(region=aws.region, endpoint_url=aws.endpoint_url)
    x, _ = _data(60, 1)
    batches = [
        [{"id": f"r{b}-{i}", "features": x[(b * 20 + i) % 60].tolist()} for i in range(20)]
        for b in range(3)
    ]

    def go(candidate: str | None, sample: str = "1", n_batches: int = 3):
        env = {"MLAYER_OUTPUT_SINK": "stdout://"}
        work = tmp_path / (candidate or "none")
        env["TMPDIR"] = str(work)
        if candidate:
            env["MLAYER_SHADOW_LAYER"] = _upload(gw, models[candidate])
            env["MLAYER_SHADOW_SAMPLE"] = sample
        proc = HandlerProcess(
            model_dir=models["live"],
            deps_layer=deps_layer,
            runtime_dir=runtime_dir,
            workdir=work,
            env=env,
            user_python=faults_dir,
        )
        took = []
        try:
            for b in range(n_batches):
                started = time.perf_counter()
                answer = proc.invoke(kinesis_event(batches[b % 3], first_seq=1 + 20 * b))
                took.append(time.perf_counter() - started)
                assert answer == {"batchItemFailures": []}
            lines = proc.log_lines()
        finally:
            proc.close()
        results = [
            {k: v for k, v in line.items() if k != "predicted_at"}
            for line in lines
            if "prediction" in line and "event_id" in line
        ]
        return results, lines, took, batches

    return go


def _shadow_lines(lines):
    return [line for line in lines if "shadow_records" in line]


def test_an_identical_candidate_agrees_on_every_record(run):
    baseline, _, _, _ = run(None)
    results, lines, _, _ = run("same")
    assert results == baseline and len(results) == 60
    compared = _shadow_lines(lines)
    assert len(compared) == 3
    line = compared[0]
    assert (line["model_version"], line["shadow_version"]) == ("live-1", "same-1")
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [
        ["function", "model_version", "shadow_version"]
    ]
    assert sum(c["shadow_records"] for c in compared) == 60
    assert sum(c["shadow_agreed"] for c in compared) == 60
    assert not [line for line in lines if line.get("message") == "shadow disagreements"]


def test_a_retrained_candidate_reports_the_agreement_computed_offline(run, models):
    results, lines, _, batches = run("retrained")
    rows = np.array([r["features"] for b in batches for r in b])
    live, retrained = models["objects"]["live"], models["objects"]["retrained"]
    offline = live.predict(rows) == retrained.predict(rows)
    compared = _shadow_lines(lines)
    assert sum(c["shadow_records"] for c in compared) == 60
    assert sum(c["shadow_agreed"] for c in compared) == int(offline.sum())
    assert 0 < offline.sum() < 60  # the candidate does disagree somewhere
    logged = [line for line in lines if line.get("message") == "shadow disagreements"]
    ids = [r["id"] for line in logged for r in line["records"]]
    disagreeing = {f"r{i // 20}-{i % 20}" for i in np.flatnonzero(~offline)}
    assert ids and set(ids) <= disagreeing
    assert all(set(r) == {"id", "live", "shadow"} for line in logged for r in line["records"])


@pytest.mark.parametrize(
    ("candidate", "why"),
    [
        ("raising", "RuntimeError: the candidate is broken"),
        ("sleeping", "(3 batches in a row)"),
        ("short", "19 predictions for 20 rows"),
    ],
)
def test_a_failing_candidate_is_disabled_and_leaves_the_live_results(run, candidate, why):
    baseline, _, _, _ = run(None)
    results, lines, took, _ = run(candidate)
    assert results == baseline
    (disabled,) = [line for line in lines if line.get("message", "").startswith("shadow disabled")]
    assert disabled["shadow_version"] == f"{candidate}-1" and why in disabled["reason"]
    (counted,) = [line for line in lines if "shadow_disabled" in line]
    reason = "slow" if candidate == "sleeping" else "raised"
    assert (counted["reason"], counted["shadow_dead_letters"]) == (reason, 20)
    dead = [line for line in lines if "shadow_dead_letters" in line]
    # raising: disabled at once; sleeping: a batch past the bound, one while it still runs,
    # and the third in a row disables it
    assert len(dead) == (3 if candidate == "sleeping" else 1)
    assert {d["reason"] for d in dead} == {reason}
    assert not _shadow_lines(lines)  # nothing was compared
    assert max(took) < 2.0  # the sleeping candidate's 5 s are never waited for


def test_nan_outputs_are_the_candidates_dead_letters(run):
    baseline, _, _, _ = run(None)
    results, lines, _, _ = run("nan")
    assert results == baseline
    dead = [line for line in lines if "shadow_dead_letters" in line]
    assert sum(d["shadow_dead_letters"] for d in dead) == 60
    assert {d["reason"] for d in dead} == {"nan"}
    assert sum(c["shadow_records"] for c in _shadow_lines(lines)) == 0


def test_a_sample_share_shows_the_candidate_one_batch_in_ten(run):
    results, lines, _, _ = run("same", sample="0.1", n_batches=12)
    assert len(results) == 240
    assert len(_shadow_lines(lines)) == 2  # batches 1 and 11


def test_a_candidate_that_cannot_be_fetched_is_disabled_and_the_live_model_serves(
    run, aws, models, monkeypatch
):
    baseline, _, _, _ = run(None)
    gw = Gateway(region=aws.region, endpoint_url=aws.endpoint_url)
    uri = _upload(gw, models["same"])
    gw.call(
        "s3",
        "delete_object",
        "test",
        Bucket=BUCKET,
        Key=uri[len(f"s3://{BUCKET}/") :].split("#")[0],
    )
    monkeypatch.setattr(
        sys.modules[__name__], "_upload", lambda gw, folder: uri
    )  # the deleted object is what the function is told to load
    results, lines, _, _ = run("same")
    assert results == baseline
    (counted,) = [line for line in lines if "shadow_disabled" in line]
    assert counted["reason"] == "not_loaded"


def test_a_regressors_differences_are_the_ones_computed_offline(
    aws, tmp_path, deps_layer, runtime_dir
):
    from sklearn.linear_model import LinearRegression, Ridge

    x, _ = _data(200, 3)
    y = x @ np.array([1.0, -2.0, 0.5, 3.0]) + 0.1
    live, candidate = LinearRegression().fit(x, y), Ridge(alpha=30.0).fit(x, y)
    folders = {}
    for name, model in (("live", live), ("candidate", candidate)):
        folders[name] = write_model_layer(
            tmp_path / name, [model], input_kind="features", version=f"{name}-1", n_features=4
        )
    gw = Gateway(region=aws.region, endpoint_url=aws.endpoint_url)
    rows, _ = _data(30, 4)
    proc = HandlerProcess(
        model_dir=folders["live"],
        deps_layer=deps_layer,
        runtime_dir=runtime_dir,
        workdir=tmp_path / "work",
        env={
            "MLAYER_OUTPUT_SINK": "stdout://",
            "TMPDIR": str(tmp_path),
            "MLAYER_SHADOW_LAYER": _upload(gw, folders["candidate"]),
        },
    )
    try:
        records = [{"id": f"r{i}", "features": row.tolist()} for i, row in enumerate(rows)]
        assert proc.invoke(kinesis_event(records)) == {"batchItemFailures": []}
        lines = proc.log_lines()
    finally:
        proc.close()
    (compared,) = _shadow_lines(lines)
    diffs = np.abs(live.predict(rows) - candidate.predict(rows))
    assert compared["shadow_records"] == 30 and compared["shadow_agreed"] == 0
    assert compared["shadow_abs_diff_sum"] == pytest.approx(diffs.sum(), abs=1e-3)
    buckets = [line for line in lines if "shadow_abs_diff_count" in line]
    assert sum(b["shadow_abs_diff_count"] for b in buckets) == 30
    exact = dict(bucket_bounds())  # the labels' exact upper bounds, as status reads them
    for b in buckets:  # each difference counted in the smallest bucket that holds it
        bound = exact[b["abs_diff_le"]]
        inside = [d for d in diffs if bound / 10**0.1 < d <= bound * (1 + 1e-9)]
        assert len(inside) == b["shadow_abs_diff_count"]
