"""Shadow testing through the CLI on the embedded AWS and the Lambda emulation: the real
function (mlayer's code, the real dependencies layer) with a live model and a candidate.

GIVEN a deployed function with model v1 live, WHEN a candidate is attached with
`publish-model --shadow` and records are sent with `invoke --local`, THEN the live results are
those of a run without the shadow, `mlayer shadow status` reports the agreement computed offline
on the same records, and promote / stop leave the function as `mlayer status` says.
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import pytest
from click.testing import CliRunner
from deployed_support import function_toml, gateway, publish_real_deps, text_model_args, use
from function_support import kinesis_event
from publish_support import LABELS, TEXTS, train_text_pipeline

from mlayer.cli import cli
from mlayer.local import sandbox

pytestmark = pytest.mark.slow
NAME, BUCKET = "shadowed", "shadowed-art"
RECORDS = [
    "free money now",
    "hello friend how are you",
    "win a cash prize today",
    "lunch at noon",
    "claim your free reward",
    "see you at the meeting",
    "cheap pills online now",
    "how was the prize meeting",
    "money for lunch",
    "your reward is at noon",
    "friend claim cash",
    "online meeting now",
]


def mlayer(*args: str):
    result = CliRunner().invoke(cli, ["--json", *args], catch_exceptions=False)
    doc = json.loads(result.stdout) if result.stdout.strip().startswith("{") else None
    return result, doc


def train_retrained(folder: Path) -> dict[str, Path]:
    """v1's pipeline with two labels flipped: a candidate that disagrees on some records."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    folder.mkdir(parents=True, exist_ok=True)
    labels = list(LABELS)
    labels[0], labels[1] = labels[1], labels[0]
    cv = CountVectorizer().fit(TEXTS)
    tf = TfidfTransformer().fit(cv.transform(TEXTS))
    lr = LogisticRegression(C=5.0).fit(tf.transform(cv.transform(TEXTS)), labels)
    paths = {}
    for name, obj in (("countvectorizer", cv), ("tfidf", tf), ("model", lr)):
        paths[name] = folder / f"{name}.joblib"
        joblib.dump(obj, paths[name])
    return paths


def predict_offline(paths: dict[str, Path], texts: list[str]) -> list[str]:
    cv, tf, lr = (joblib.load(paths[k]) for k in ("countvectorizer", "tfidf", "model"))
    return list(lr.predict(tf.transform(cv.transform(texts))))


@pytest.fixture(scope="module")
def deployed(module_aws, deps_layer_build, tmp_path_factory):
    """The function deployed with model v1 live: (gateway, folder, models)."""
    work = tmp_path_factory.mktemp("shadowed")
    with pytest.MonkeyPatch.context() as mp:
        use(mp, module_aws, work)
        gw = gateway(module_aws)
        publish_real_deps(gw, BUCKET, f"{NAME}-deps", deps_layer_build)
        role = sandbox.ensure_lambda_role(gw, "shadowed-role")
        (work / "mlayer.toml").write_text(
            function_toml(NAME, role, deps_layer_build, BUCKET) + '[output]\nsink = "stdout://"\n'
        )
        result, _ = mlayer("deploy-function", "--yes")
        assert result.exit_code == 0, result.output
        models = {
            "v1": train_text_pipeline(work / "v1"),
            "retrained": train_retrained(work / "retrained"),
        }
        result, _ = mlayer(*text_model_args(models["v1"]))
        assert result.exit_code == 0, result.output
        (work / "event.json").write_text(
            json.dumps(kinesis_event([{"id": f"r{i}", "text": t} for i, t in enumerate(RECORDS)]))
        )
    return gw, work, models


@pytest.fixture(autouse=True)
def _in_the_deployed_folder(deployed, module_aws, monkeypatch):
    use(monkeypatch, module_aws, deployed[1])


def invoke() -> tuple[list[dict], dict]:
    """invoke --local of the event: (the results the function wrote, the whole answer)."""
    result, doc = mlayer("invoke", "--local", "--event", "event.json")
    assert result.exit_code == 0, result.output
    assert doc["response"] == {"batchItemFailures": []}
    lines = [json.loads(x) for x in doc["logs"] if x.startswith("{")]
    results = [
        {k: v for k, v in line.items() if k != "predicted_at"}
        for line in lines
        if "event_id" in line and "prediction" in line
    ]
    return results, doc


def test_the_shadow_story(deployed):
    gw, work, models = deployed
    baseline, plain = invoke()
    assert len(baseline) == len(RECORDS) and plain["shadow"] is None

    # an identical candidate (v1's own files: the same version) agrees on every record
    result, doc = mlayer(*text_model_args(models["v1"], "--shadow"))
    assert result.exit_code == 0, result.output
    assert doc["shadow"]["model_version"] == doc["shadow"]["live_model_version"] == "v1"
    results, answer = invoke()
    assert results == baseline
    assert answer["shadow"]["records"] == len(RECORDS)
    result, status = mlayer("shadow", "status")
    assert status["total"]["records_compared"] == len(RECORDS)
    assert status["total"]["agreement"] == 1.0

    # a retrained one: the agreement computed offline on the same records
    result, doc = mlayer(*text_model_args(models["retrained"], "--shadow"))
    assert result.exit_code == 0, result.output
    assert doc["shadow_replaced"] == "v1" and doc["shadow"]["model_version"] == "v2"
    results, answer = invoke()
    assert results == baseline  # the live model answers, and only it
    live = predict_offline(models["v1"], RECORDS)
    candidate = predict_offline(models["retrained"], RECORDS)
    assert [r["prediction"] for r in results] == live
    agree = sum(a == b for a, b in zip(live, candidate, strict=True))
    assert 0 < agree < len(RECORDS)
    result, status = mlayer("shadow", "status")
    assert result.exit_code == 0, result.output
    total = status["total"]
    assert total["records_compared"] == len(RECORDS)
    assert total["agreement"] == pytest.approx(agree / len(RECORDS))
    assert total["shadow_predict_ms"] > 0 and total["extra_usd_per_million"] > 0
    logged = [json.loads(x) for x in answer["logs"] if '"message": "shadow disagreements"' in x]
    ids = [r["id"] for line in logged for r in line["records"]]
    pairs = enumerate(zip(live, candidate, strict=True))
    assert ids == [f"r{i}" for i, (a, b) in pairs if a != b][:5]  # ids only, 5 a batch

    # stop: the function no longer carries it, and status says so
    result, doc = mlayer("shadow", "stop", "--yes")
    assert result.exit_code == 0, result.output
    result, status = mlayer("status")
    assert status["shadow"] is None and status["model_label"] == "v1"
    results, answer = invoke()
    assert results == baseline and answer["shadow"] is None

    # attach again, then promote: the candidate is live, the shadow gone
    result, doc = mlayer(*text_model_args(models["retrained"], "--shadow"))
    assert result.exit_code == 0, result.output
    result, doc = mlayer("shadow", "promote", "--yes")
    assert result.exit_code == 0, result.output
    result, status = mlayer("status")
    assert status["shadow"] is None and status["model_label"] == "v2"
    results, answer = invoke()
    assert [r["prediction"] for r in results] == candidate and answer["shadow"] is None
