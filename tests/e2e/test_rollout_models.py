"""Bad models through the CLI on the embedded AWS, the real function in the local emulation:
each, sent 30% of the alias's traffic, is rolled back by mlayer at the first step with the gate
that caught it named (a model crashing every invocation: errors; refusing a third of the
records: dead_letters; 60 ms slower per batch: latency; predicting one class: the demo's
prediction_shift, tests/e2e/test_story.py, with a good model promoted)."""

from __future__ import annotations

import pytest
from rollout_support import rollout_demo

from mlayer.demo.rollout_story import bad_models
from mlayer.demo.story import FUNCTION
from mlayer.gateway.routing import read_routing

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_each_bad_model_is_rolled_back_at_the_first_step_with_its_gate_named(
    tmp_path, repo_root, monkeypatch
):
    lines: list[str] = []
    with rollout_demo(tmp_path, repo_root, monkeypatch, lines) as (demo, step, live):
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
