"""The whole story through the CLI, as a user would run it: `mlayer demo` drives every command
(init -> build-deps --publish -> deploy-function -> publish-model v1 -> records on the stream ->
poll -> predictions checked against sklearn run directly -> publish v2 -> rollback -> poll -> v1
again) in subprocesses against moto's server over HTTP, and checks the sink and dead letters.
IAM is enforced throughout: a deployer holding exactly `mlayer policy --deployer` of each
function runs every command, each function runs with the role deploy-function created.
Where a python3.12+ interpreter and mlayer[onnx] are here, v1 is then republished as ONNX on a
python3.12+ function with the ONNX deps layer and serves a batch exactly as the sklearn one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_the_whole_story_holds(tmp_path, repo_root):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLAYER_"))}
    env["MLAYER_CACHE_DIR"] = os.environ.get(
        "MLAYER_CACHE_DIR", str(repo_root / ".cache" / "mlayer")
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlayer.cli",
            "--json",
            "demo",
            "--workdir",
            str(tmp_path / "demo"),
            "--records",
            "90",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout)
    checks = {c["name"]: c for c in result["checks"]}
    for phase, label in (("phase-1", "v1"), ("phase-2", "v2"), ("phase-3", "v1")):
        assert checks[f"{phase}: every good record predicted"]["ok"]
        assert checks[f"{phase}: predictions come from {label}"]["ok"]
        assert checks[f"{phase}: predictions equal sklearn's"]["ok"]
    assert checks["bad records dead-lettered with a reason"]["ok"]
    assert checks["history lists both versions"]["ok"]
    assert checks["iam: the created role grants what the configuration needs"]["ok"]
    refused = checks["iam: the deployer is refused what its policies do not grant"]
    assert refused["ok"] and "user/deployer may not dynamodb:Scan" in refused["detail"]
    assert "Embedded AWS (moto server, IAM enforced)" in proc.stderr
    assert "Did create role mlayer-mlayer-demo (trusting Lambda)" in proc.stderr
    assert checks["rollout: the one-class model is rolled back at the first step"]["ok"]
    assert (
        "gate prediction_shift failed"
        in checks["rollout: the one-class model is rolled back at the first step"]["detail"]
    )
    assert checks["rollout: the good model is promoted"]["ok"]
    if result["onnx_skipped"] is None:  # the machine can emulate an Amazon Linux 2023 runtime
        assert checks["onnx: predictions equal sklearn's"]["ok"]
        assert "100/100 identical" in checks["onnx: predictions equal sklearn's"]["detail"]
        assert checks["onnx: warm batch of 100 timed"]["ok"]
        for command in ("--requirements", "publish-model", "--format onnx", "invoke --local"):
            assert command in proc.stderr.split("ONNX step:", 1)[1]
    else:
        assert "ONNX step skipped: " + result["onnx_skipped"] in proc.stderr
        assert not any(name.startswith("onnx:") for name in checks)
    assert all(c["ok"] for c in result["checks"])
    # The user-facing trail shows each command the demo ran.
    for command in (
        "$ mlayer init",
        "$ mlayer build-deps",
        "$ mlayer deploy-function",
        "$ mlayer publish-model",
        "$ mlayer poll --local",
        "$ mlayer rollback --version 1",
        "$ mlayer history",
        "$ mlayer rollout resume",
        "$ mlayer --json policy --deployer",
    ):
        assert command in proc.stderr
