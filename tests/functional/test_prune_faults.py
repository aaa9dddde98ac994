"""Fault injection: every Nth delete fails before it reaches the embedded AWS, or succeeds there
and loses its answer (a botocore event hook raises after the response). Each failure names the
state it left; between failures nothing referenced is gone; re-runs end where one clean run does."""

from __future__ import annotations

import botocore.exceptions
import pytest
from prune_support import (
    alias_versions,
    assert_everything_resolves,
    canary,
    carried,
    listing,
    publish_many,
)
from publish_support import train_text_pipeline
from replay_support import Writes

from mlayer import api
from mlayer.config import load_settings
from mlayer.gateway import Gateway
from mlayer.prune.apply import PruneIncompleteError
from mlayer.request_types import PruneRequest

DELETES = ("lambda.DeleteFunction", "lambda.DeleteLayerVersion", "s3.DeleteObject")


@pytest.fixture(scope="session")
def ten_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("prune-fault-models")
    return [train_text_pipeline(root / f"m{i}", variant=i) for i in range(10)]


def scene(gw) -> tuple:
    """What the tests start from: every version and object, and what the function carries."""
    return listing(gw), sorted(carried(gw)), sorted(alias_versions(gw))


@pytest.fixture(scope="module")
def recorded() -> dict:
    return {}


@pytest.fixture
def account(gw, ten_models, recorded, monkeypatch):
    """Ten models published through the CLI; after the module's first test, the same writes
    made again (replay_support), checked to give the same scene."""
    if not recorded:
        writes = Writes()
        with writes.recording(monkeypatch):
            publish_many(gw, ten_models)
        recorded.update(writes=writes, scene=scene(gw))
    else:
        recorded["writes"].replay(gw)
        assert scene(gw) == recorded["scene"]
    primary = canary(gw, "3", 0.2)
    return primary


class FaultyDeletes:
    """One Gateway whose every ``every``-th delete fails (or, ``lose_answer``, is done by the
    server and then reported as a read timeout), counted from each ``arm``: a walk's attempts
    share its clients. ``faults`` logs the deletes failed since then."""

    def __init__(self, aws, lose_answer: bool) -> None:
        self.endpoint_url, self.lose_answer = aws.endpoint_url, lose_answer
        self.gw = Gateway(region=aws.region, endpoint_url=aws.endpoint_url)
        self.every, self.seen, self.faults = 0, 0, []
        event = "after-call" if lose_answer else "before-call"
        for name in DELETES:
            service = name.split(".")[0]
            self.gw.client(service).meta.events.register(f"{event}.{name}", self._hook)

    def arm(self, every: int) -> Gateway:
        self.every, self.seen, self.faults = every, 0, []
        return self.gw

    def _hook(self, model, **kwargs) -> None:
        self.seen += 1
        if self.seen % self.every == 0:
            self.faults.append(model.name)
            if self.lose_answer:
                raise botocore.exceptions.ReadTimeoutError(endpoint_url=self.endpoint_url)
            raise botocore.exceptions.EndpointConnectionError(endpoint_url=self.endpoint_url)


REQUEST = PruneRequest(keep=2, older_than_days=0)


@pytest.mark.parametrize(("every", "lose_answer"), [(3, False), (4, True), (1, True)])
def test_reruns_after_faults_finish_the_plan_and_never_break_a_reference(
    gw, aws, account, every, lose_answer
):
    before = listing(gw)
    planned = api.prune(load_settings(), PruneRequest(keep=2, older_than_days=0, dry_run=True))
    goes = {(i.kind, i.name) for i in planned.plan.goes}
    assert goes and goes <= set(before)
    failures = []
    deletes = FaultyDeletes(aws, lose_answer)
    for _attempt in range(80):
        faulty = deletes.arm(every)
        try:
            api.prune(load_settings(), REQUEST, gateway=faulty)
            break
        except PruneIncompleteError as exc:
            failures.append(exc)
            assert exc.stage in {
                "function_versions",
                "model_layer_versions",
                "objects",
                "records",
            }
            assert "Run `mlayer prune` again" in exc.hint
            if lose_answer:
                assert "may be deleted already" in exc.message
            assert_everything_resolves(gw)
        if every == 1:  # every delete loses its answer: the server still does each one
            every = 10_000
    else:
        pytest.fail("the re-runs never finished")
    assert failures
    after = listing(gw)
    assert set(before) - set(after) == goes
    assert_everything_resolves(gw)
    final = api.prune(load_settings(), REQUEST)
    assert final.plan.empty
    assert (
        gw.object_sizes("mlayer-123456789012-us-east-1", "pruned/mlayer-predict-model/pending/")
        == {}
    )


def test_a_failure_names_the_stage_and_what_went(gw, aws, account):
    faulty = FaultyDeletes(aws, lose_answer=False).arm(2)
    with pytest.raises(PruneIncompleteError) as info:
        api.prune(load_settings(), REQUEST, gateway=faulty)
    doc = info.value.to_dict()
    assert doc["stage"] == "function_versions" and len(doc["deleted"]) == 1
    assert "Only function versions nothing points at were deleted" in doc["message"]


def test_ctrl_c_part_way_leaves_a_state_the_next_run_finishes(gw, aws, account):
    before = listing(gw)
    planned = api.prune(load_settings(), PruneRequest(keep=2, older_than_days=0, dry_run=True))
    interrupted = Gateway(region=aws.region, endpoint_url=aws.endpoint_url)
    count = [0]

    def ctrl_c(**kwargs):
        count[0] += 1
        if count[0] == 9:  # 7 function versions went, then 2 model layer versions
            raise KeyboardInterrupt

    for name in DELETES:
        service = name.split(".")[0]
        interrupted.client(service).meta.events.register(f"after-call.{name}", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        api.prune(load_settings(), REQUEST, gateway=interrupted)
    assert_everything_resolves(gw)
    gone = set(before) - set(listing(gw))
    assert len(gone) == 9 and sum(k[0] == "model_layer_version" for k in gone) == 2
    api.prune(load_settings(), REQUEST)
    assert set(before) - set(listing(gw)) == {(i.kind, i.name) for i in planned.plan.goes}
