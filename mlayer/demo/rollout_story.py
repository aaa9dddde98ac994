"""The demo's rollout step: a bad model (it predicts one class for every ticket) sent to 30% of
the alias's traffic is rolled back by mlayer itself at the first step, then a good one is
promoted. Traffic is emulated per batch by the alias's weights (`poll --local --function
F:ALIAS`), and the metrics the gates read are those the emulation published to CloudWatch.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlayer.demo import data as demo_data
from mlayer.errors import MlayerError
from mlayer.gateway.kinesis_records import StreamRecord, put_records
from mlayer.gateway.routing import AliasRouting, read_routing

if TYPE_CHECKING:
    from mlayer.demo.host import DemoHost
    from mlayer.gateway import Gateway

ALIAS = "live"
ROLLOUT_ENV = {
    "MLAYER_MODEL_ALIAS": ALIAS,
    "MLAYER_ROLLOUT_INTERVAL": "2s",  # the demo watches each step for seconds, not minutes
    "MLAYER_ROLLOUT_METRIC_PERIOD": "1s",
    "MLAYER_ROLLOUT_MIN_RECORDS": "30",
}


def train_one_class(folder: Path, seed: int = 7) -> demo_data.DemoModel:
    """A broken model: so regularized that it predicts the majority topic for every ticket."""
    import joblib
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    folder.mkdir(parents=True, exist_ok=True)
    texts, labels = demo_data.make_texts(300, seed)
    labels = ["billing" if i % 10 else label for i, label in enumerate(labels)]
    vectorizer, tfidf = CountVectorizer(), TfidfTransformer()
    features = tfidf.fit_transform(vectorizer.fit_transform(texts))
    model = LogisticRegression(C=1e-4).fit(features, labels)
    paths = []
    for name, obj in (("vectorizer", vectorizer), ("tfidf", tfidf), ("model", model)):
        paths.append(folder / f"one-class-{name}.joblib")
        joblib.dump(obj, paths[-1])
    return demo_data.DemoModel(label="v3-one-class", preprocessors=tuple(paths[:2]), model=paths[2])


class RolloutStep:
    """Run by Demo.story after the rollback phase (the function carries v1)."""

    def __init__(self, demo: DemoHost, stream: str, function: str, bucket: str) -> None:
        self.demo, self.stream, self.function, self.bucket = demo, stream, function, bucket

    def start(self, live: demo_data.DemoModel) -> None:
        """[model] alias set, made on the live model's version, the stream read to its end."""
        d = self.demo
        d.env.update(ROLLOUT_ENV)
        d.grant(d.workdir)  # the alias changes what the deployer needs: its policy follows
        d.publish(live)
        d.mlayer("poll", "--local", "--function", f"{self.function}:{ALIAS}", "--until-empty")

    def gateway(self) -> Gateway:
        assert self.demo.gateway is not None, "the demo's administrator is set up first"
        return self.demo.gateway

    def state(self) -> dict[str, Any]:
        """The rollout's state document (mlayer's, in the bucket); {} before the first."""
        doc = self.gateway().get_json_if_exists(self.bucket, _key(self.function))
        return doc if isinstance(doc, dict) else {}

    def split(self) -> AliasRouting:
        """The alias's split: the story made the alias, so its absence fails the story."""
        routing = read_routing(self.gateway(), self.function, ALIAS)
        if routing is None:
            raise MlayerError(
                f"The alias {ALIAS} of {self.function} is gone.",
                "Something outside the demo deleted it; run the demo again.",
            )
        return routing

    def run(self, good: demo_data.DemoModel, live: demo_data.DemoModel) -> None:
        d = self.demo
        d.say(f"\nSafe rollouts on alias {ALIAS}: a bad model, then a good one.")
        self.start(live)
        bad = train_one_class(d.workdir / "models")
        self.attempt(bad, seed=404, expect_ok=False)
        routing, state = self.split(), self.state()
        failed = state.get("reason", "")
        d.check(
            "rollout: the one-class model is rolled back at the first step",
            state.get("status") == "rolled_back"
            and "prediction_shift" in failed
            and not routing.weights,
            f"{state.get('status')}: {failed}",
        )
        self.attempt(good, seed=505, expect_ok=True)
        routing, state = self.split(), self.state()
        d.check(
            "rollout: the good model is promoted",
            state.get("status") == "promoted"
            and routing.version == state.get("new_version")
            and not routing.weights,
            f"{state.get('status')}: alias {ALIAS} on version {routing.version}",
        )

    def attempt(
        self, model: demo_data.DemoModel, seed: int, expect_ok: bool, code: Path | None = None
    ) -> None:
        d = self.demo
        args = ["publish-model", str(model.model)]
        for pre in model.preprocessors:
            args += ["-p", str(pre)]
        args += ["--code", str(code)] if code else []
        d.mlayer(
            *args,
            "--label",
            model.label,
            "--input",
            "text",
            "--yes",
            "--rollout",
            "canary",
            "--percent",
            "30",
            "--no-wait",
        )
        texts, _ = demo_data.make_texts(300, seed)
        records = [
            StreamRecord(json.dumps({"id": f"r{seed}-{i}", "text": t}).encode(), f"{seed}-{i}")
            for i, t in enumerate(texts)
        ]
        put_records(self.gateway(), self.stream, records)
        d.mlayer(
            "poll",
            "--local",
            "--function",
            f"{self.function}:{ALIAS}",
            "--batch-size",
            "10",
            "--until-empty",
        )
        d.mlayer("rollout", "resume", expect_ok=expect_ok)
        d.mlayer("rollout", "status")


def _key(function: str) -> str:
    return f"rollouts/{function}/{ALIAS}.json"


BAD_STEPS = """\
import time


class Slow:
    \"\"\"Adds 60 ms to every batch: a model 3x (and more) slower than the live one.\"\"\"

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        time.sleep(0.06)
        return X


class DropThird:
    \"\"\"Refuses the tickets whose length is a multiple of 3: about a third dead-lettered.\"\"\"

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        refused = [x for x in X if len(x) % 3 == 0]
        if refused:
            raise ValueError(f"{len(refused)} tickets refused")
        return X


class Crash:
    \"\"\"Crashes the whole invocation (a SystemError is never isolated per record).\"\"\"

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        raise SystemError("the model crashed")
"""


def bad_models(folder: Path, live: demo_data.DemoModel) -> tuple[Path, dict[str, Any]]:
    """The live pipeline behind a broken first step, by the gate that must stop it:
    errors (Crash), dead_letters (DropThird), latency (Slow). (code file, gate -> model)."""
    import importlib
    import sys

    import joblib

    folder.mkdir(parents=True, exist_ok=True)
    code = folder / "rollout_steps.py"
    code.write_text(BAD_STEPS)
    sys.path.insert(0, str(folder))
    try:
        steps = importlib.import_module("rollout_steps")
        models = {}
        for gate, cls in (("errors", "Crash"), ("dead_letters", "DropThird"), ("latency", "Slow")):
            path = folder / f"step-{cls.lower()}.joblib"
            joblib.dump(getattr(steps, cls)(), path)
            label = f"v-{cls.lower()}"
            models[gate] = demo_data.DemoModel(label, (path, *live.preprocessors), live.model)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("rollout_steps", None)
    return code, models
