"""A regressor's rollout through the CLI on the embedded AWS, the real function in the local
emulation counting its predictions into value bins: the same regressor refitted (other bytes,
the same predictions) is promoted; one that predicts a constant is rolled back at the first
step by the prediction-shift gate over value groups."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pytest
from rollout_support import regressor_steps, rollout_demo

from mlayer.demo.story import FUNCTION, STREAM
from mlayer.gateway.kinesis_records import StreamRecord, put_records
from mlayer.gateway.routing import read_routing

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _save(folder: Path, steps: list) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for i, step in enumerate(steps):
        joblib.dump(step, folder / f"{i}.joblib")
    rows = np.random.default_rng(1).normal(size=(8, 3)).round(3).tolist()
    sample = folder / "sample.jsonl"
    sample.write_text(
        "".join(json.dumps({"id": f"s{i}", "features": r}) + "\n" for i, r in enumerate(rows))
    )
    return [
        str(folder / "1.joblib"),
        "-p",
        str(folder / "0.joblib"),
        "--sample",
        str(sample),
        "--input",
        "features",
    ]


def _serve(demo, seed: int, records: int = 300) -> None:
    """Feature records on the stream, read by the alias's weights one batch at a time."""
    rows = np.random.default_rng(seed).normal(size=(records, 3)).round(3).tolist()
    put_records(
        demo.gateway,
        STREAM,
        [
            StreamRecord(json.dumps({"id": f"x{seed}-{i}", "features": r}).encode(), f"{seed}-{i}")
            for i, r in enumerate(rows)
        ],
    )
    demo.mlayer(
        "poll", "--local", "--function", f"{FUNCTION}:live", "--batch-size", "10", "--until-empty"
    )


def _roll_out(demo, step, folder: Path, steps: list, label: str, seed: int, ok: bool) -> dict:
    demo.mlayer(
        "publish-model",
        *_save(folder, steps),
        "--label",
        label,
        "--yes",
        "--rollout",
        "canary",
        "--percent",
        "30",
        "--no-wait",
    )
    _serve(demo, seed)
    demo.mlayer("rollout", "resume", expect_ok=ok)
    demo.mlayer("rollout", "status")
    return step.state()


def test_a_regressor_refitted_is_promoted_and_one_predicting_a_constant_is_rolled_back(
    tmp_path, repo_root, monkeypatch
):
    lines: list[str] = []
    with rollout_demo(tmp_path, repo_root, monkeypatch, lines) as (demo, step, _text_model):
        # the alias moves to the regressor in one go (all-at-once), then serves its traffic
        demo.mlayer(
            "publish-model",
            *_save(tmp_path / "r1", regressor_steps("ridge")),
            "--label",
            "r1",
            "--yes",
        )
        _serve(demo, seed=900)
        live = read_routing(demo.gateway, FUNCTION, "live").version

        again = regressor_steps("ridge", tol=2e-4)
        state = _roll_out(demo, step, tmp_path / "r2", again, "r1-refit", 901, ok=True)
        trail = "\n".join(lines[-30:])
        assert state["status"] == "promoted" and state["old_version"] == live, trail
        (judged,) = state["history"]
        shift = next(r for r in judged["readings"] if r["gate"] == "prediction_shift")
        assert shift["passed"] and "value groups" in shift["detail"], trail
        assert len(judged["old"]["bins"]) > 5 and len(judged["new"]["bins"]) > 5, trail

        state = _roll_out(
            demo, step, tmp_path / "r3", regressor_steps("constant"), "r-constant", 902, ok=False
        )
        trail = "\n".join(lines[-30:])
        assert state["status"] == "rolled_back", trail
        assert "gate prediction_shift failed" in state["reason"], trail
        (judged,) = state["history"]  # the first step
        assert len(judged["new"]["bins"]) == 1, trail
        routing = read_routing(demo.gateway, FUNCTION, "live")
        assert (routing.version, dict(routing.weights)) == (state["old_version"], {})
