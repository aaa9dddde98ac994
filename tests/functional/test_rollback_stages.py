"""rollback's writes in their order (rollback_apply.py), on the embedded AWS.

GIVEN a rollback whose first step (aborting a rollout on the alias) fails, THEN
RollbackIncompleteError says so with its stage, the function and its alias are as they were,
and the same command run again completes the rollback.
"""

from __future__ import annotations

import pytest
from publish_support import (
    FUNCTION,
    MODEL,
    create_function,
    publish_deps,
    snapshot,
    train_text_pipeline,
)

from mlayer import api
from mlayer.config import load_settings
from mlayer.errors import AwsError
from mlayer.publishing.rollback_apply import RollbackIncompleteError
from mlayer.request_types import PublishRequest, RollbackRequest


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("rollback-stage-models")
    return [train_text_pipeline(root / f"m{i}", variant=i) for i in range(2)]


class FailRolloutRead:
    """The real gateway, except that the Nth read of a rollout's state file fails."""

    def __init__(self, gw, nth: int) -> None:
        self._gw, self._nth, self.reads = gw, nth, 0

    def __getattr__(self, name):
        return getattr(self._gw, name)

    def get_json_if_exists(self, bucket, key):
        if key.startswith("rollouts/"):
            self.reads += 1
            if self.reads == self._nth:
                raise AwsError("GetObject failed: throttled.", "Try again later.", "SlowDown")
        return self._gw.get_json_if_exists(bucket, key)


def publish(gw, paths, **kw):
    pre = (paths["countvectorizer"], paths["tfidf"])
    request = PublishRequest(model=paths["model"], preprocessors=pre, **kw)
    return api.publish_model(load_settings(), request, gateway=gw)


def test_a_failed_rollout_abort_leaves_the_function_and_alias_and_the_rerun_completes(gw, models):
    create_function(gw, [publish_deps(gw)])
    assert publish(gw, models[0], alias="live").version == 1
    assert publish(gw, models[1], alias="live").version == 2
    before = snapshot(gw)
    alias_before = gw.get_function_configuration(FUNCTION, "live")["Layers"]
    request = RollbackRequest(version=1, alias="live")
    failing = FailRolloutRead(gw, nth=2)  # the plan's read passes; the abort's read fails
    with pytest.raises(RollbackIncompleteError) as stopped:
        api.rollback(load_settings(), request, gateway=failing)
    err = stopped.value
    assert failing.reads == 2 and err.stage == "nothing" and err.exit_code == 1
    assert err.message.startswith("rollback stopped while aborting the rollout on alias live")
    assert f"{FUNCTION} and alias live are as they were" in err.message
    assert err.hint == "Try again later. Then run the same `mlayer rollback` again."
    assert snapshot(gw) == before
    assert gw.get_function_configuration(FUNCTION, "live")["Layers"] == alias_before

    done = api.rollback(load_settings(), request, gateway=gw)
    assert (done.from_version, done.to_version, done.relinked) == (2, 1, True)
    assert snapshot(gw)["Layers"][-1]["Arn"].endswith(f":layer:{MODEL}:1")
