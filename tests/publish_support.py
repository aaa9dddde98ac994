"""Helpers for the tests against the embedded AWS (publish-model, rollback, history, deploy,
invoke): tiny real models, deterministic zips, a fake dependencies layer with its lock, a
function, and the CLI runner."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from mlayer.arns import layer_name
from mlayer.local import sandbox

BUCKET = "mlayer-123456789012-us-east-1"  # the default: mlayer-<account>-<region> on moto
FUNCTION = "mlayer-predict"
DEPS = "mlayer-predict-deps"
MODEL = "mlayer-predict-model"
TEXTS = [
    "free money now",
    "hello friend",
    "win cash prize",
    "see you at lunch",
    "claim your reward",
    "meeting at noon",
    "cheap pills online",
    "how are you",
]
LABELS = ["spam", "ham", "spam", "ham", "spam", "ham", "spam", "ham"]


def train_text_pipeline(
    folder: Path, variant: int = 0, sklearn_version: str | None = None
) -> dict[str, Path]:
    """CountVectorizer -> TfidfTransformer -> LogisticRegression, as three joblib files.

    ``variant`` changes the model (so its sha); ``sklearn_version`` rewrites the version the
    pickle records, which is how an "other scikit-learn" pickle is made here.
    """
    import joblib
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    folder.mkdir(parents=True, exist_ok=True)
    cv = CountVectorizer().fit(TEXTS)
    counts = cv.transform(TEXTS)
    tf = TfidfTransformer().fit(counts)
    lr = LogisticRegression(C=1.0 + variant).fit(tf.transform(counts), LABELS)
    paths = {}
    for name, obj in (("countvectorizer", cv), ("tfidf", tf), ("model", lr)):
        if sklearn_version:
            original = type(obj).__getstate__

            def patched(self, _orig=original):
                state = _orig(self)
                state["_sklearn_version"] = sklearn_version
                return state

            type(obj).__getstate__ = patched
            try:
                joblib.dump(obj, folder / f"{name}.joblib")
            finally:
                type(obj).__getstate__ = original
        else:
            joblib.dump(obj, folder / f"{name}.joblib")
        paths[name] = folder / f"{name}.joblib"
    return paths


def fake_zip(files: dict[str, bytes | str]) -> bytes:
    """A deterministic zip of ``files`` (name -> content; text is written as UTF-8)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(files.items()):
            zf.writestr(zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def publish_deps(gw, sklearn: str = "1.7.2", unzipped: int = 120_000_000, modules=None) -> str:
    """A small fake dependencies layer and its lock (what build-deps writes), published."""
    import hashlib

    gw.ensure_bucket(BUCKET)
    data = fake_zip({"python/placeholder.txt": f"deps {sklearn} {unzipped}".encode()})
    sha = hashlib.sha256(data).hexdigest()
    lock = {
        "schema_version": 1,
        "runtime": "python3.12",
        "python_version": "3.12",
        "architecture": "x86_64",
        "builder": "pip",
        "requirements_sha256": "0" * 64,
        "packages": {
            "scikit-learn": sklearn,
            "numpy": "2.2.6",
            "scipy": "1.15.3",
            "joblib": "1.5.2",
            "threadpoolctl": "3.6.0",
        },
        "modules": modules or ["joblib", "numpy", "scipy", "sklearn", "threadpoolctl"],
        "unzipped_size": unzipped,
        "zipped_size": len(data),
        "zip_sha256": sha,
    }
    gw.put_bytes(BUCKET, f"layers/{sha}.zip", data)
    gw.put_json(BUCKET, f"layers/{sha}.lock.json", lock)
    return gw.publish_layer_version(
        DEPS, f"deps sklearn {sklearn}", s3=(BUCKET, f"layers/{sha}.zip")
    )["LayerVersionArn"]


def foreign_layer(gw, name: str, size: int = 1000) -> str:
    """A layer mlayer does not own (no lock, no manifest, not in the bucket)."""
    data = fake_zip({f"python/{name}.py": b"x" * size})
    return gw.publish_layer_version(name, "someone else's", zip_bytes=data)["LayerVersionArn"]


def create_function(gw, layers: list[str], name: str = FUNCTION) -> dict:
    role = sandbox.ensure_lambda_role(gw, "mlayer-test-role")
    code = fake_zip({"handler.py": b"def handler(event, context):\n    return 1\n"})
    return gw.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="handler.handler",
        Code={"ZipFile": code},
        Layers=layers,
    )


def snapshot(gw, name: str = FUNCTION) -> dict:
    """The function's configuration without the per-request metadata: compared byte for byte."""
    config = dict(gw.get_function_configuration(name))
    config.pop("ResponseMetadata", None)
    return config


def live_model(gw, name: str = FUNCTION) -> str:
    """The ARN of the model-layer version the function has now."""
    return next(
        a for a in (ly["Arn"] for ly in snapshot(gw, name)["Layers"]) if layer_name(a) == MODEL
    )


def publish_args(paths: dict[str, Path], *extra: str, before=()) -> list[str]:
    """``publish-model`` of a train_text_pipeline, ``before`` being preprocessors ahead of it."""
    pre = [*before, paths["countvectorizer"], paths["tfidf"]]
    return ["publish-model", str(paths["model"]), *(a for p in pre for a in ("-p", str(p))), *extra]


def publish(paths: dict[str, Path], *extra: str, before=()):
    """publish-model --yes through the CLI (JSON): (result, doc)."""
    return run_cli(*publish_args(paths, "--yes", *extra, before=before))


def run_cli(*args: str):
    from click.testing import CliRunner

    from mlayer.cli import cli

    result = CliRunner().invoke(cli, ["--json", *args], catch_exceptions=False)
    try:
        doc = json.loads(result.stdout) if result.stdout.strip() else None
    except ValueError:
        doc = None
    return result, doc
