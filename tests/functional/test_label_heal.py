"""A publish killed right after its label claim does not shift later default labels (issue 23,
case 5).

GIVEN version 1 (v1) on the embedded AWS and a ``mlayer publish-model`` killed with SIGKILL in a
child process right after it claimed ``v2`` (its claim stays in the bucket, no version 2 came),
WHEN two other models are published through the CLI, THEN each one's default label is its layer
version (the first skips the dead claim's number: it publishes again and deletes its own stray
version, and says so), and the killed publish, run again, gets its own version and label too.
Before, the next publish landed on version 2 labelled v3 silently, and every later one was
shifted by one for good.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from publish_support import (
    BUCKET,
    MODEL,
    create_function,
    publish,
    publish_args,
    publish_deps,
    run_cli,
    train_text_pipeline,
)

# A real `mlayer` process that dies (SIGKILL: no cleanup, no finally) right after the claim.
KILLED_AFTER_CLAIM = """
import os, signal, sys
from mlayer.publishing import labels
real = labels.claim_label
def claim_then_die(*args, **kwargs):
    label = real(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
labels.claim_label = claim_then_die
from mlayer.cli import cli
cli(sys.argv[1:], prog_name="mlayer")
"""


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("heal-models")
    return [train_text_pipeline(root / f"m{i}", variant=i) for i in range(4)]


def versions_and_labels(gw) -> dict[int, str]:
    return {v["Version"]: v["Description"].split(" sha:")[0] for v in gw.list_layer_versions(MODEL)}


def test_a_publish_killed_after_its_claim_leaves_later_labels_equal_to_versions(gw, models):
    create_function(gw, [publish_deps(gw)])
    result, doc = publish(models[0])
    assert result.exit_code == 0 and (doc["version"], doc["label"]) == (1, "v1"), result.output

    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_CLAIM, *publish_args(models[1], "--yes")],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert gw.get_json_if_exists(BUCKET, f"labels/{MODEL}/v2.json") is not None
    assert versions_and_labels(gw) == {1: "v1"}  # claimed, never published

    result, second = publish(models[2])
    assert result.exit_code == 0, result.output
    assert (second["version"], second["label"]) == (3, "v3")
    assert any("not 2" in w and "interrupted" in w for w in second["warnings"])
    result, third = publish(models[3])
    assert result.exit_code == 0, result.output
    assert (third["version"], third["label"]) == (4, "v4")
    assert not any("label" in w for w in third["warnings"])

    result, again = publish(models[1])  # the killed publish, run again
    assert result.exit_code == 0, result.output
    assert (again["version"], again["label"]) == (5, "v5")
    assert versions_and_labels(gw) == {1: "v1", 3: "v3", 4: "v4", 5: "v5"}
    result, history = run_cli("history")
    assert all(row["label"] == f"v{row['version']}" for row in history["versions"])
    assert history["live_version"] == 5


def test_an_explicit_label_is_never_moved(gw, models):
    create_function(gw, [publish_deps(gw)])
    result, doc = publish(models[0], "--label", "v7")
    assert result.exit_code == 0 and (doc["version"], doc["label"]) == (1, "v7"), result.output
    assert not any("labelled" in w for w in doc["warnings"])
    result, doc = publish(models[1])  # v2 is free: the default is the version again
    assert result.exit_code == 0 and (doc["version"], doc["label"]) == (2, "v2"), result.output
