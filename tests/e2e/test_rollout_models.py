"""Bad models through the CLI on the embedded AWS, the real function in the local emulation:
each, sent 30% of the alias's traffic, is rolled back by mlayer at the first step with the gate
that caught it named (a model crashing every invocation: errors; refusing a third of the
records: dead_letters; 60 ms slower per batch: latency; predicting one class: the demo's
prediction_shift, tests/e2e/test_story.py, with a good model promoted)."""

from __future__ import annotations

import os

import pytest

from mlayer.demo import data as demo_data
from mlayer.demo.rollout_story import RolloutStep, bad_models
from mlayer.demo.story import BUCKET, FUNCTION, STREAM, Demo
from mlayer.gateway import Gateway
from mlayer.gateway.routing import read_routing
from mlayer.local.aws import embedded_aws

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_each_bad_model_is_rolled_back_at_the_first_step_with_its_gate_named(
    tmp_path, repo_root, monkeypatch
):
    monkeypatch.setenv(
        "MLAYER_CACHE_DIR", os.environ.get("MLAYER_CACHE_DIR", str(repo_root / ".cache" / "mlayer"))
    )
    lines: list[str] = []
    demo = Demo(tmp_path, 90, say=lines.append)
    with embedded_aws(set_env=True, isolated=True) as aws:
        demo.env = {**os.environ, **aws.env}
        demo.gateway = Gateway(endpoint_url=aws.endpoint_url, region=aws.region)
        demo.prepare_aws()
        live = demo_data.train(tmp_path / "models", 1)
        demo.deploy()
        step = RolloutStep(demo, STREAM, FUNCTION, BUCKET)
        step.start(live)
        code, models = bad_models(tmp_path / "bad", live)
        for seed, (gate, model) in enumerate(sorted(models.items()), start=600):
            step.attempt(model, seed=seed, expect_ok=False, code=code)
            state = step.state()
            trail = "\n".join(lines[-30:])
            assert state["status"] == "rolled_back", trail
            assert f"gate {gate} failed" in state["reason"], trail
            assert len(state["history"]) == 1  # the first step
            routing = read_routing(demo.gateway, FUNCTION, "live")
            assert (routing.version, dict(routing.weights)) == (state["old_version"], {})
