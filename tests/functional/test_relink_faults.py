"""Fault injection (issue 12 point 3): publish-model and rollback, with an alias, through the CLI
against the embedded AWS, with the Nth AWS request failing, for every N.

After each failure the function is wholly old or wholly new ($LATEST and the alias both), or in
the one named intermediate state ($LATEST relinked, the alias not yet moved) and then the error
says so and names the command that completes it, and `mlayer status` says they differ. Running
the same command again completes it. Every request is also checked as AWS would check it.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3
import botocore.exceptions
import pytest
import strict_requests
from publish_support import (
    FUNCTION,
    MODEL,
    create_function,
    foreign_layer,
    publish,
    publish_deps,
    run_cli,
    snapshot,
    train_text_pipeline,
)
from replay_support import Writes


class FailNth:
    """Counts the HTTP requests every session sends; the armed Nth fails: "unsent" before it
    leaves (it never reaches AWS), "lost" after AWS served it (its answer never comes back)."""

    def __init__(self) -> None:
        self.armed: int | None = None
        self.mode = "unsent"
        self.sent: list[str] = []
        self._lose = False

    def arm(self, n: int | None) -> None:
        self.armed, self.sent, self._lose = n, [], False

    def before_send(self, request: Any, **_: Any) -> None:
        if self.armed is None:
            return
        self.sent.append(request.url)
        if len(self.sent) == self.armed:
            if self.mode == "unsent":
                raise botocore.exceptions.EndpointConnectionError(endpoint_url=request.url)
            self._lose = True

    def after_call(self, **_: Any) -> None:
        if self._lose:
            self._lose = False
            raise botocore.exceptions.ReadTimeoutError(endpoint_url="http://embedded-aws")


@pytest.fixture
def faults(aws, monkeypatch, tmp_path):
    """Sessions whose Nth request fails (one attempt each: no retry hides it); [model] alias."""
    fail = FailNth()

    class Session(boto3.session.Session):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.events.register("before-send", fail.before_send)
            self.events.register("after-call", fail.after_call)
            strict_requests.install(self.events)

    monkeypatch.setattr(boto3.session, "Session", Session)
    monkeypatch.setenv("MLAYER_AWS_MAX_ATTEMPTS", "1")
    (tmp_path / "mlayer.toml").write_text('[model]\nalias = "live"\n')
    return fail


def state(gw) -> tuple[tuple[str, ...], tuple[str, ...], dict | None]:
    """($LATEST's layers, the alias's layers, $LATEST's EphemeralStorage)."""
    latest = snapshot(gw)
    alias = gw.get_function_configuration(FUNCTION, "live")
    return (
        tuple(ly["Arn"] for ly in latest["Layers"]),
        tuple(ly["Arn"] for ly in alias["Layers"]),
        latest.get("EphemeralStorage"),
    )


def judge(gw, before, doc) -> str:
    """Which state the failure left: old, new or apart (then the error must say so)."""
    latest, alias, _ = state(gw)
    old_latest, old_alias, _ = before
    if latest == old_latest and alias == old_alias:
        return "old"
    if latest == alias:
        return "new"
    assert alias == old_alias, (before, latest, alias)
    message, hint = doc["message"], doc["hint"]
    assert doc["error"] == "RelinkedError", doc
    if "apart" in message:
        assert "$LATEST carries model layer version" in message and "still carries" in message
        assert "mlayer rollback --version" in hint and "--alias live" in hint
    else:  # the relink's confirmation read failed: the state is to be read
        assert "could not read whether it landed; alias live was not moved" in message
        assert "mlayer status" in hint
    status = run_cli("status")[1]
    assert status["alias_in_sync"] is False and "they differ" in status["warnings"][-1]
    return "apart"


@pytest.fixture(scope="session")
def fault_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("fault-models")
    return functools.cache(lambda i: train_text_pipeline(root / f"m{i}", variant=i))


def scene(gw) -> tuple:
    """The state, the function's versions (with their layers) and the model layer's versions."""
    lam = gw.client("lambda")
    versions = lam.list_versions_by_function(FunctionName=FUNCTION)["Versions"]
    layers = lam.list_layer_versions(LayerName=MODEL)["LayerVersions"]
    return (
        state(gw),
        [(v["Version"], [ly["Arn"] for ly in v.get("Layers", [])]) for v in versions],
        [v["LayerVersionArn"] for v in layers],
    )


@pytest.fixture(scope="module")
def recorded() -> dict:
    return {}


@pytest.fixture
def live(gw, faults, fault_models, recorded, monkeypatch):
    """tools, deps and model 0 on the function, its alias on them: published through the CLI
    in the module's first test, then made again by the same writes (replay_support), checked
    to give the same scene."""
    if not recorded:
        writes = Writes()
        with writes.recording(monkeypatch):
            deps = publish_deps(gw)
            create_function(gw, [foreign_layer(gw, "tools"), deps])
            result, _ = publish(fault_models(0))
        assert result.exit_code == 0, result.output
        recorded.update(writes=writes, deps=deps, scene=scene(gw))
    else:
        recorded["writes"].replay(gw)
        assert scene(gw) == recorded["scene"]
    return recorded["deps"]


@pytest.mark.parametrize("mode", ["unsent", "lost"])
def test_publish_model_fails_whole_at_every_request(gw, faults, live, fault_models, mode):
    faults.arm(10_000)  # count a whole publish of a new model first
    result, _ = publish(fault_models(1))
    assert result.exit_code == 0, result.output
    total = len(faults.sent)
    assert total > 10
    faults.mode = mode
    seen = set()
    before = state(gw)
    for n in range(1, total + 1):
        faults.arm(n)
        result, doc = publish(fault_models(n + 1))
        faults.arm(None)
        if result.exit_code == 0:  # the sequence may be shorter (a HEAD found the object)
            before = state(gw)
            continue
        assert result.exit_code == 1, (n, result.output)
        seen.add(judge(gw, before, doc))
        result, doc = publish(fault_models(n + 1))  # running it again completes it
        assert result.exit_code == 0, (n, result.output)
        after = state(gw)  # also the state the next failure starts from
        latest, alias, _ = after
        assert latest[-1] == doc["layer_version_arn"] == alias[-1], n
        assert latest[:2] == before[0][:2]  # tools and deps stay in place
        before = after
    # an unsent alias move is the last request: nothing fails with both new; a lost answer can
    assert seen == ({"old", "apart"} if mode == "unsent" else {"old", "apart", "new"})


@pytest.mark.parametrize("mode", ["unsent", "lost"])
def test_rollback_fails_whole_at_every_request(gw, faults, live, fault_models, mode):
    result, doc = publish(fault_models(1))
    assert result.exit_code == 0, result.output
    for target in (1, 2):  # each model's function version exists from now on
        assert run_cli("rollback", "--version", str(target), "--yes")[0].exit_code == 0
    faults.arm(10_000)
    assert run_cli("rollback", "--version", "1", "--yes")[0].exit_code == 0
    total = len(faults.sent)
    faults.arm(None)
    faults.mode = mode
    seen, target = set(), 2
    before = state(gw)
    for n in range(1, total + 1):
        faults.arm(n)
        result, doc = run_cli("rollback", "--version", str(target), "--yes")
        faults.arm(None)
        assert result.exit_code == 1, (n, result.output)
        seen.add(judge(gw, before, doc))
        result, doc = run_cli("rollback", "--version", str(target), "--yes")
        assert result.exit_code == 0, (n, result.output)
        before = state(gw)  # also the state the next failure starts from
        latest, alias, _ = before
        assert latest[-1].endswith(f":{target}") and alias[-1].endswith(f":{target}"), n
        assert doc["noop"] or doc["outcome"]["reused_version"], n  # nothing published
        target = 3 - target
    assert {"old", "apart"} <= seen
    assert mode == "unsent" or "new" in seen  # the alias moved, its answer lost
