"""publish-model's writes stop where a call fails, and the error names the state they left.

GIVEN a publish on the embedded AWS whose Nth kind of write fails (the bucket, the label claim,
the S3 objects, the zip, the layer version, or its answer lost), THEN PublishIncompleteError
names the stage reached and what exists, the function and the layer are exactly as they were,
and the same command run again completes the publish with the same label and version.
"""

from __future__ import annotations

import pytest
from publish_support import MODEL, create_function, publish_deps, snapshot, train_text_pipeline

from mlayer import api
from mlayer.config import load_settings
from mlayer.errors import AwsError
from mlayer.publishing.publish_apply import PublishIncompleteError
from mlayer.request_types import PublishRequest


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return train_text_pipeline(tmp_path_factory.mktemp("stage-model"), variant=0)


@pytest.fixture
def deployed(gw):
    deps = publish_deps(gw)
    create_function(gw, [deps])
    return deps


class FailOn:
    """The real gateway, except that one method raises as a throttled (or unanswered) call."""

    def __init__(self, gw, method: str, code: str) -> None:
        self._gw, self._method, self._code = gw, method, code

    def __getattr__(self, name):
        if name == self._method:
            return self._fail
        return getattr(self._gw, name)

    def _fail(self, *args, **kw):
        raise AwsError(f"{self._method} failed: throttled.", "Try again later.", self._code)


def request(paths, **kw) -> PublishRequest:
    pre = (paths["countvectorizer"], paths["tfidf"])
    return PublishRequest(model=paths["model"], preprocessors=pre, **kw)


CASES = [
    ("ensure_bucket", "layer", "SlowDown", "nothing", "creating the artifact bucket"),
    ("put_bytes_if_absent", "layer", "SlowDown", "nothing", "claiming label v1"),
    ("upload_file", "layer", "SlowDown", "label", "uploading the layer zip and its manifest"),
    ("upload_file", "s3", "SlowDown", "label", "uploading the artifacts to S3"),
    ("put_bytes", "s3", "SlowDown", "objects", "uploading the layer zip and its manifest"),
    ("new_layer_version", "layer", "ReadTimeoutError", "zip", "publishing the layer version"),
]


@pytest.mark.parametrize(("method", "store", "code", "stage", "step"), CASES)
def test_a_failed_write_names_its_stage_and_the_same_command_completes(
    gw, deployed, model, method, store, code, stage, step
):
    before = snapshot(gw)
    failing = FailOn(gw, method, code)
    with pytest.raises(PublishIncompleteError) as stopped:
        api.publish_model(load_settings(), request(model, store=store), gateway=failing)
    err = stopped.value
    assert err.stage == stage and err.code == code and err.exit_code == 1
    assert err.message.startswith(f"publish-model stopped while {step}: {method} failed")
    assert err.hint.startswith("Try again later. Then run the same `mlayer publish-model` again")
    assert err.to_dict()["stage"] == stage
    if stage == "nothing":
        assert "Nothing was changed" in err.message
    else:
        assert f"layer {MODEL} has no new version" in err.message or "claimed" in err.message
    assert ("answer was lost" in err.message) == (code == "ReadTimeoutError")
    assert snapshot(gw) == before and gw.list_layer_versions(MODEL) == []

    done = api.publish_model(load_settings(), request(model, store=store), gateway=gw)
    assert done.published and (done.version, done.label, done.store) == (1, "v1", store)
    assert done.relinked and snapshot(gw)["Layers"][-1]["Arn"] == done.layer_version_arn
