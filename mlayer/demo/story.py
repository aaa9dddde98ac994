"""`mlayer demo`: the whole story on the embedded AWS, driven through the CLI as a user would.

Every step runs the real `mlayer` command in a subprocess against moto's server over HTTP and
shows its output; the checks read the sink and the dead-letter queue directly and compare the
function's predictions with scikit-learn run here. Its last step (mlayer.demo.onnx_story) republishes
the text model as ONNX when a python3.12+ interpreter is here, or says why it skips. The run
exits 0 only if every check held.

IAM is enforced throughout (mlayer.demo.least_privilege): the administrator sets up what mlayer
never creates and reads the results back, a deployer holding exactly `mlayer policy --deployer`
runs every command, and each function runs with the role deploy-function created for it.
"""

from __future__ import annotations

import base64
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlayer.demo import data as demo_data
from mlayer.demo.files import FilesStep
from mlayer.demo.least_privilege import CREATE_ROLE, DemoPrincipals
from mlayer.demo.onnx_story import OnnxStep
from mlayer.demo.rollout_story import RolloutStep
from mlayer.errors import MlayerError
from mlayer.gateway import Gateway
from mlayer.gateway.dynamodb import scan_rows
from mlayer.gateway.kinesis_records import StreamRecord, put_records
from mlayer.local import sandbox
from mlayer.local.aws import embedded_aws
from mlayer.results import report
from mlayer.shipped import shipped_path

FUNCTION = "mlayer-demo"
STREAM = "mlayer-demo-events"
TABLE = "mlayer-demo-predictions"
DEAD_LETTERS = "mlayer-demo-dead-letters"
BUCKET = "mlayer-demo-artifacts"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class DemoResult:
    checks: list[Check] = field(default_factory=list)
    seconds: float = 0.0
    onnx_skipped: str | None = None  # why the ONNX step did not run, when it did not

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def render(self) -> str:
        rows = [["PASS" if c.ok else "FAIL", c.name, c.detail] for c in self.checks]
        verdict = "every check held" if self.ok else "SOME CHECKS FAILED"
        skipped = f"\nONNX step skipped: {self.onnx_skipped}." if self.onnx_skipped else ""
        return f"{report.table(['', 'check', 'detail'], rows)}{skipped}\n\nDemo finished in {self.seconds:.0f} s: {verdict}."


def local_runtime() -> str:
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def local_arch() -> str:
    return "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"


def malformed_records(phase: str) -> list[tuple[bytes, str]]:
    """Records that can never succeed, each with what the dead-letter reason should mention."""
    return [
        (b"\xff\xfe not utf-8", "utf"),
        (b"{not json", "json"),
        (json.dumps([1, 2, 3]).encode(), "object"),
        (json.dumps({"text": "no id here"}).encode(), "id"),
        (json.dumps({"id": f"{phase}-bad-type", "text": 42}).encode(), "text"),
    ]


class Demo:
    def __init__(self, workdir: Path, records: int, say: Callable[[str], None]) -> None:
        self.workdir = workdir
        self.records = records
        self.say = say
        self.result = DemoResult()
        self.env: dict[str, str] = {}
        self.gateway: Gateway | None = None  # the administrator's
        self.iam: DemoPrincipals | None = None

    # -- plumbing --------------------------------------------------------------------------
    def mlayer(
        self,
        *args: str,
        expect_ok: bool = True,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run one mlayer command as a user would (``env``: another user's shell than the
        deployer's), show it and its output."""
        self.say(f"\n$ mlayer {shlex.join(args)}")
        machine = args[0] == "--json"  # keep stdout apart to parse it; else show it interleaved
        proc = subprocess.run(
            [sys.executable, "-m", "mlayer.cli", *args],
            cwd=cwd or self.workdir,
            env=self.env if env is None else env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if machine else subprocess.STDOUT,
            text=True,
        )
        shown = proc.stderr if machine else proc.stdout
        if machine and proc.returncode != 0:  # a refusal: --json puts its Error/Hint on stdout
            shown = f"{proc.stderr or ''}{proc.stdout or ''}"
        for line in (shown or "").rstrip().splitlines():
            self.say(f"  {line}")
        if expect_ok and proc.returncode != 0:
            raise MlayerError(
                f"`mlayer {args[0]}` failed with exit code {proc.returncode}.",
                "Its output is above; rerun the demo with --workdir to keep the files.",
            )
        return proc

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.result.checks.append(Check(name, bool(ok), detail))
        self.say(f"  [{'ok' if ok else 'FAILED'}] {name}: {detail}")

    def put_phase(self, phase: str, texts: list[str]) -> list[str]:
        """Put good records (ids phase-N) and a few malformed ones on the stream."""
        assert self.gateway is not None
        payloads = [
            json.dumps({"id": f"{phase}-{i}", "text": t}).encode() for i, t in enumerate(texts)
        ]
        payloads += [data for data, _ in malformed_records(phase)]
        put_records(
            self.gateway, STREAM, [StreamRecord(d, f"{phase}-{i}") for i, d in enumerate(payloads)]
        )
        self.say(
            f"  put {len(texts)} tickets and {len(malformed_records(phase))} malformed records on {STREAM}"
        )
        return [f"{phase}-{i}" for i in range(len(texts))]

    def grant(self, folder: Path) -> None:
        """The deployer holds exactly `mlayer policy --deployer` of ``folder``'s mlayer.toml
        (with this shell's variables), and this shell is the deployer's."""
        assert self.iam is not None
        self.iam.grant(self, folder, self.env)
        self.env = self.iam.deployer_env(self.env)

    def skip_onnx(self, why: str) -> None:
        self.result.onnx_skipped = why
        self.say(f"\nONNX step skipped: {why}.")

    def results_for(self, ids: list[str], table: str = TABLE) -> dict[str, dict[str, Any]]:
        assert self.gateway is not None
        wanted = set(ids)
        rows = scan_rows(self.gateway, table)
        return {r["id"]: r for r in rows if isinstance(r.get("id"), str) and r["id"] in wanted}

    def verify_phase(
        self, phase: str, ids: list[str], texts: list[str], model: demo_data.DemoModel
    ) -> None:
        expected = dict(zip(ids, demo_data.predict_directly(model, texts), strict=True))
        got = self.results_for(ids)
        self.check(
            f"{phase}: every good record predicted",
            len(got) == len(ids),
            f"{len(got)}/{len(ids)} in dynamodb://{TABLE}",
        )
        versions = sorted({str(r.get("model_version")) for r in got.values()})
        self.check(
            f"{phase}: predictions come from {model.label}",
            versions == [model.label],
            f"model_version {versions}",
        )
        same = sum(1 for i in ids if i in got and str(got[i].get("prediction")) == expected[i])
        self.check(
            f"{phase}: predictions equal sklearn's",
            same == len(ids),
            f"{same}/{len(ids)} identical",
        )

    def verify_dead_letters(self, phases: int) -> None:
        assert self.gateway is not None
        bodies = [json.loads(b) for b in sandbox.receive_all(self.gateway, DEAD_LETTERS)]
        expected = phases * len(malformed_records("x"))
        with_reason = [b for b in bodies if b.get("reason") and b.get("event_id")]
        self.check(
            "bad records dead-lettered with a reason",
            len(with_reason) == expected == len(bodies),
            f"{len(bodies)} in sqs://{DEAD_LETTERS} (expected {expected})",
        )
        for body in bodies[:3]:
            raw = base64.b64decode(body.get("data", ""))[:30]
            self.say(f"    {body.get('event_id')}: {body.get('reason')} (data {raw!r})")

    # -- the story -------------------------------------------------------------------------
    def run(self) -> DemoResult:
        started = time.monotonic()
        try:
            self.story()
        except MlayerError as exc:
            self.check("the story ran to its end", False, f"{exc.message} {exc.hint}".strip())
        self.result.seconds = time.monotonic() - started
        return self.result

    def story(self) -> None:
        with embedded_aws(isolated=True, enforce_iam=True) as aws:
            self.iam = DemoPrincipals.set_up(aws)
            self.env = self.iam.deployer_env(os.environ)  # no deployer yet: only init runs
            self.gateway = self.iam.admin_gateway
            self.say(
                f"Embedded AWS (moto server, IAM enforced) on {aws.endpoint_url}; "
                f"work folder {self.workdir}"
            )
            self.prepare_aws()
            models = {v: demo_data.train(self.workdir / "models", v) for v in (1, 2)}
            self.say(
                f"Trained {models[1].label} (logistic regression) and {models[2].label} (naive Bayes) on generated tickets"
            )
            role = self.deploy()
            self.publish(models[1])
            self.phase("phase-1", models[1], seed=101)
            self.publish(models[2])
            self.phase("phase-2", models[2], seed=202)
            self.mlayer("rollback", "--version", "1", "--yes")
            self.phase("phase-3", models[1], seed=303)
            self.verify_dead_letters(phases=3)
            self.mlayer("history")
            history = json.loads(self.mlayer("--json", "history").stdout)
            self.check(
                "history lists both versions",
                _history_versions(history) >= 2,
                f"{_history_versions(history)} versions",
            )
            self.mlayer("status")
            self.iam.verify(self, TABLE)
            RolloutStep(self, STREAM, FUNCTION, BUCKET).run(good=models[2], live=models[1])
            step = OnnxStep(self, models[1], STREAM)
            step.run(role, local_arch(), TABLE, DEAD_LETTERS, BUCKET)
            FilesStep(self, BUCKET).run(role, models[1])  # a CSV dropped in a bucket, scored

    def deploy(self) -> str:
        """init, build-deps --publish and deploy-function, as a user would; the role setting
        (``create``: deploy-function makes the function's role from its configuration)."""
        role = CREATE_ROLE
        requirements = shipped_path("layers", "sklearn", "requirements.txt")
        self.mlayer(
            "init",
            "--force",
            "--function",
            FUNCTION,
            "--runtime",
            local_runtime(),
            "--arch",
            local_arch(),
            "--role",
            role,
            "--requirements",
            str(requirements),
            "--bucket",
            BUCKET,
            "--stream",
            STREAM,
            "--sink",
            f"dynamodb://{TABLE}",
            "--dead-letter",
            f"sqs://{DEAD_LETTERS}",
            "--memory",
            "1024",
        )
        self.grant(self.workdir)
        self.mlayer("build-deps", "--builder", "pip", "--publish", "--yes")
        self.mlayer("deploy-function", "--yes")
        return role

    def prepare_aws(self) -> None:
        assert self.gateway is not None
        sandbox.ensure_stream(self.gateway, STREAM)
        sandbox.ensure_table(self.gateway, TABLE)
        sandbox.ensure_queue(self.gateway, DEAD_LETTERS)
        self.say(
            f"  the administrator created stream {STREAM}, table {TABLE} and queue {DEAD_LETTERS}"
        )

    def publish(self, model: demo_data.DemoModel) -> None:
        args = ["publish-model", str(model.model)]
        for pre in model.preprocessors:
            args += ["-p", str(pre)]
        self.mlayer(*args, "--label", model.label, "--input", "text", "--yes")

    def phase(self, phase: str, model: demo_data.DemoModel, seed: int) -> None:
        per_phase = max(self.records // 3, 10)
        texts, _ = demo_data.make_texts(per_phase, seed)
        ids = self.put_phase(phase, texts)
        self.mlayer("poll", "--local", "--until-empty")
        self.verify_phase(phase, ids, texts, model)


def _history_versions(doc: object) -> int:
    if isinstance(doc, dict):
        for key in ("versions", "items", "history"):
            if isinstance(doc.get(key), list):
                return len(doc[key])
    return len(doc) if isinstance(doc, list) else 0


def run_demo(workdir: str | None, records: int, say: Callable[[str], None]) -> DemoResult:
    """Run the story in ``workdir`` (a temporary folder when None)."""
    if workdir:
        folder = Path(workdir).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return Demo(folder, records, say).run()
    with tempfile.TemporaryDirectory(prefix="mlayer-demo-") as tmp:
        return Demo(Path(tmp), records, say).run()
