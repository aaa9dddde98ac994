"""The demo's last step: the text model republished as ONNX, served beside the sklearn one.

ONNX needs an Amazon Linux 2023 runtime (python3.12+), so the step runs on a function of its
own (``mlayer-demo-onnx``, its own mlayer.toml in ``onnx/``) whose deps layer is built from the
shipped ONNX recipe: the scikit-learn and onnxruntime layers together exceed Lambda's 250 MB,
and the demo's main function keeps its runtime (the local one, possibly python3.11). Both
functions then get the same batch through `invoke --local --repeat`; the predictions must be
equal and the warm batch times are shown side by side.
"""

from __future__ import annotations

import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlayer.build.runner import probe_version
from mlayer.demo import data as demo_data
from mlayer.gateway.kinesis_records import lambda_event
from mlayer.interpreters import find_python
from mlayer.local import sandbox
from mlayer.shipped import shipped_path

if TYPE_CHECKING:
    from mlayer.demo.host import DemoHost

FUNCTION = "mlayer-demo-onnx"
TABLE = "mlayer-demo-onnx-predictions"
BATCH = 100
REPEAT = 4  # one cold invocation and three warm ones
REGION, ACCOUNT = "us-east-1", "123456789012"  # the embedded AWS's
EVENT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/mlayer-demo-role"


def onnx_runtime() -> tuple[str | None, str]:
    """The python3.12+ runtime the ONNX function can be emulated with here, or None and why."""
    missing = [m for m in ("skl2onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        return None, f"{' and '.join(missing)} not installed (pip install 'mlayer[onnx]')"
    local = sys.version_info[:2]
    versions = ["3.12", "3.13"]
    if local >= (3, 12) and f"{local[0]}.{local[1]}" in versions:
        versions.insert(0, f"{local[0]}.{local[1]}")
    tried: list[str] = []
    for version in versions:
        exe, missed = find_python(version, probe_version)
        if exe is not None:
            return f"python{version}", exe
        tried += missed
    where = f" (tried {'; '.join(tried)})" if tried else ""
    return None, (
        "no python3.12 or python3.13 interpreter on PATH or under pyenv to emulate an Amazon "
        f"Linux 2023 runtime{where}; ONNX needs one (onnxruntime's wheels need glibc 2.28)"
    )


def _predict_ms(logs: list[str]) -> float | None:
    """predict_ms of the invocation's EMF line: the model's own time, without the sink's."""
    for line in logs:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and "_aws" in doc and "predict_ms" in doc:
            return float(doc["predict_ms"])
    return None


def warm_times(invoke_doc: dict[str, Any]) -> tuple[float | None, float | None, list[str]]:
    """Median warm REPORT duration and EMF predict_ms of `invoke --json --repeat`, and the
    REPORT lines."""
    runs = [r for r in invoke_doc.get("invocations") or [] if r.get("report")]
    warm = [r for r in runs if r["report"].get("init_ms") is None]
    durations = [float(r["report"]["duration_ms"]) for r in warm]
    predicts = [m for m in (_predict_ms(r.get("logs") or []) for r in warm) if m is not None]

    def median(xs: list[float]) -> float | None:
        return statistics.median(xs) if xs else None

    return median(durations), median(predicts), [r["report"]["line"] for r in runs]


class OnnxStep:
    """Run by Demo.story last: its own function, the model as ONNX, both timed on one batch."""

    def __init__(self, demo: DemoHost, model: demo_data.DemoModel, stream: str) -> None:
        self.demo = demo
        self.model = model
        self.stream = stream
        self.folder = demo.workdir / "onnx"
        self.label = f"{model.label}-onnx"

    def run(self, role: str, arch: str, main_table: str, dead_letters: str, bucket: str) -> None:
        runtime, why = onnx_runtime()
        if runtime is None:
            self.demo.skip_onnx(why)
            return
        started = time.monotonic()
        self.demo.say(
            f"\nONNX step: {self.model.label} republished as ONNX on {FUNCTION} ({runtime})"
        )
        self.deploy(runtime, role, arch, bucket, dead_letters)
        texts, _ = demo_data.make_texts(BATCH, seed=404)
        ids = [f"batch-{i}" for i in range(len(texts))]
        records = [{"id": i, "text": t} for i, t in zip(ids, texts, strict=True)]
        self.publish(records)
        timings = self.time_both(self.batch_event(records))
        self.check_predictions(ids, texts, main_table, runtime)
        self.check_timings(timings, len(ids))
        self.demo.say(f"  the ONNX step took {time.monotonic() - started:.0f} s")

    def deploy(self, runtime: str, role: str, arch: str, bucket: str, dead_letters: str) -> None:
        """The ONNX function of its own (its table, configuration, policy, deps layer)."""
        demo = self.demo
        assert demo.gateway is not None
        sandbox.ensure_table(demo.gateway, TABLE)
        self.folder.mkdir(parents=True, exist_ok=True)
        requirements = shipped_path("layers", "onnx", "requirements.txt")
        deps = f"{FUNCTION}-deps"
        demo.mlayer(
            "init", "--force", "--function", FUNCTION, "--runtime", runtime, "--arch", arch,
            "--role", role, "--requirements", str(requirements), "--deps-layer", deps,
            "--model-layer", f"{FUNCTION}-model", "--bucket", bucket,
            "--sink", f"dynamodb://{TABLE}", "--dead-letter", f"sqs://{dead_letters}",
            "--memory", "1024",
            cwd=self.folder,
        )  # fmt: skip
        demo.grant(self.folder)
        demo.mlayer(
            "build-deps", "--builder", "pip", "--requirements", str(requirements),
            "--layer-name", deps, "--publish", "--yes",
            cwd=self.folder,
        )  # fmt: skip
        demo.mlayer("deploy-function", "--yes", cwd=self.folder)

    def publish(self, records: list[dict[str, str]]) -> None:
        """The sklearn model published as ONNX, ``records`` its sample (the parity check's)."""
        sample = self.folder / "sample.jsonl"
        sample.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        args = ["publish-model", str(self.model.model)]
        for pre in self.model.preprocessors:
            args += ["-p", str(pre)]
        args += ["--label", self.label, "--input", "text", "--format", "onnx"]
        self.demo.mlayer(*args, "--sample", str(sample), "--yes", cwd=self.folder)

    def batch_event(self, records: list[dict[str, str]]) -> Path:
        """``records`` as one Kinesis batch, in the file `invoke --event` reads."""
        event = self.folder / "batch.json"
        stream_arn = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/{self.stream}"
        payloads = [json.dumps(r).encode() for r in records]
        doc = lambda_event(payloads, stream_arn, EVENT_ROLE, REGION)
        event.write_text(json.dumps(doc), encoding="utf-8")
        return event

    def time_both(self, event: Path) -> dict[str, tuple[float | None, float | None]]:
        """Each function given the batch REPEAT times: (warm duration, warm predict_ms)."""
        timings = {}
        for name, cwd in (("sklearn", self.demo.workdir), ("onnx", self.folder)):
            proc = self.demo.mlayer(
                "--json", "invoke", "--local", "--event", str(event), "--repeat", str(REPEAT),
                cwd=cwd,
            )  # fmt: skip
            duration, predict, lines = warm_times(json.loads(proc.stdout))
            timings[name] = duration, predict
            for line in lines:
                self.demo.say(f"  {line}")
        return timings

    def check_predictions(
        self, ids: list[str], texts: list[str], main_table: str, runtime: str
    ) -> None:
        """Both functions' predictions of the batch equal sklearn's run here."""
        demo = self.demo
        sk = demo.results_for(ids, main_table)
        ox = demo.results_for(ids, TABLE)
        direct = demo_data.predict_directly(self.model, texts)
        same = sum(
            1
            for i, want in zip(ids, direct, strict=True)
            if str(sk.get(i, {}).get("prediction")) == want
            and str(ox.get(i, {}).get("prediction")) == want
        )
        versions = sorted({str(r.get("model_version")) for r in ox.values()})
        demo.check(
            "onnx: predictions equal sklearn's",
            same == len(ids) and versions == [self.label],
            f"{same}/{len(ids)} identical ({self.label} on {runtime} vs {self.model.label})",
        )

    def check_timings(
        self, timings: dict[str, tuple[float | None, float | None]], count: int
    ) -> None:
        """Both functions' warm batch timed: the model's own time (EMF) and the whole batch's."""
        (sk_ms, sk_pred), (ox_ms, ox_pred) = timings["sklearn"], timings["onnx"]
        if sk_ms is None or ox_ms is None or sk_pred is None or ox_pred is None:
            self.demo.check(
                f"onnx: warm batch of {count} timed", False, "no warm REPORT or EMF line"
            )
            return
        detail = (
            f"predict {ox_pred:.2f} ms onnx vs {sk_pred:.2f} ms sklearn "
            f"({ox_pred / sk_pred:.2f}x); whole batch with the sink {ox_ms:.1f} vs {sk_ms:.1f} ms"
        )
        self.demo.check(f"onnx: warm batch of {count} timed", True, detail)
