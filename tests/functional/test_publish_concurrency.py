"""publish-model when things happen at once or stop half-way (issue 12 points 7 and 8).

GIVEN two publishes interleaved on the embedded AWS (the second runs inside the first's
PublishLayerVersion call), THEN their default labels differ and the one that lost the relink
says which version it published and left unlinked, with the rollback command that links it.
GIVEN a publish interrupted after its zip reached the bucket, THEN the same files build the
same zip (the manifest in it has no created_at) and the retry reuses the upload.
JSON read back from the bucket that is not what mlayer wrote for that zip is refused.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from publish_support import (
    BUCKET,
    MODEL,
    create_function,
    live_model,
    publish,
    publish_deps,
    snapshot,
    train_text_pipeline,
)

from mlayer import api
from mlayer.config import load_settings
from mlayer.errors import AwsError, ConflictError, ModelError
from mlayer.gateway import code_sha256_to_hex
from mlayer.publishing.store import ArtifactStore
from mlayer.request_types import PublishRequest


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("race-models")
    return {k: train_text_pipeline(root / k, variant=i) for i, k in enumerate(("a", "b"))}


@pytest.fixture
def deployed(gw):
    deps = publish_deps(gw)
    create_function(gw, [deps])
    return deps


def request(paths, **kw) -> PublishRequest:
    return PublishRequest(
        model=paths["model"], preprocessors=(paths["countvectorizer"], paths["tfidf"]), **kw
    )


class Interleaved:
    """The real gateway, except that PublishLayerVersion first runs ``before_publish`` once."""

    def __init__(self, gw, before_publish) -> None:
        self._gw, self._before, self.uploads = gw, before_publish, []

    def __getattr__(self, name):
        return getattr(self._gw, name)

    def upload_file(self, path, bucket, key, **kw):
        self.uploads.append(key)
        return self._gw.upload_file(path, bucket, key, **kw)

    def new_layer_version(self, *args, **kw):
        before, self._before = self._before, None
        if before is not None:
            before()
        return self._gw.new_layer_version(*args, **kw)


def test_two_publishes_at_once_get_different_labels_and_the_loser_names_its_version(
    gw, deployed, models
):
    settings = load_settings()
    competitor = {}

    def other_publish():
        competitor["result"] = api.publish_model(settings, request(models["b"]), gateway=gw)

    racing = Interleaved(gw, other_publish)
    with pytest.raises(ConflictError) as lost:
        api.publish_model(settings, request(models["a"]), gateway=racing)
    won = competitor["result"]
    # the winner skipped v1 (claimed by the loser, not yet published): it landed on version 1,
    # published again as version 2 and deleted version 1, so its label is its version (issue 23)
    assert won.published and won.relinked and (won.version, won.label) == (2, "v2")
    versions = {
        v["Version"]: v["Description"].split(" sha:")[0] for v in gw.list_layer_versions(MODEL)
    }
    assert versions == {2: "v2", 3: "v1"}  # no shared label; the loser's number was taken
    message, hint = lost.value.message, lost.value.hint
    assert f"{MODEL} version 3 (v1) was published but NOT linked" in message
    assert "mlayer rollback --version 3" in hint
    assert live_model(gw) == won.layer_version_arn  # the winner stays live


def test_a_relink_failure_after_publishing_names_the_unlinked_version(gw, deployed, models):
    class FailingRelink(Interleaved):
        def relink_function(self, *args, **kw):  # the relinker's one UpdateFunctionConfiguration
            raise AwsError("Updating the function: throttled.", "Try again.", "TooManyRequests")

    before = snapshot(gw)
    with pytest.raises(AwsError) as failed:
        api.publish_model(load_settings(), request(models["a"]), gateway=FailingRelink(gw, None))
    assert "version 1 (v1) was published but NOT linked" in failed.value.message
    assert "mlayer rollback --version 1" in failed.value.hint
    assert snapshot(gw) == before


def test_an_interrupted_publish_builds_the_same_zip_and_reuses_its_upload(gw, deployed, models):
    def interrupt():
        raise KeyboardInterrupt

    first = Interleaved(gw, interrupt)
    with pytest.raises(KeyboardInterrupt):
        api.publish_model(load_settings(), request(models["a"]), gateway=first)
    assert gw.list_layer_versions(MODEL) == [] and len(first.uploads) == 1
    again = Interleaved(gw, None)
    done = api.publish_model(load_settings(), request(models["a"]), gateway=again)
    assert done.published and done.label == "v1"
    assert f"layers/{done.zip_sha256}.zip" == first.uploads[0] and again.uploads == []
    data = gw.get_bytes(BUCKET, f"layers/{done.zip_sha256}.zip")
    inside = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("mlayer/manifest.json"))
    assert "created_at" not in inside and "zip_sha256" not in inside
    beside = gw.get_json(BUCKET, f"layers/{done.zip_sha256}.manifest.json")
    assert beside["created_at"] and beside["zip_sha256"] == done.zip_sha256
    assert {k: v for k, v in beside.items() if k not in ("created_at", "zip_sha256")} == inside


def test_the_same_files_give_the_same_zip_bytes(gw, models, tmp_path):
    """Two dry runs a second apart: the zip they would upload has the same sha256."""
    gw.ensure_bucket(BUCKET)
    create_function(gw, [publish_deps(gw)])
    _, one = publish(models["a"], "--dry-run")
    _, two = publish(models["a"], "--dry-run")
    assert one["zip_sha256"] == two["zip_sha256"]


def test_json_read_back_that_is_not_the_zip_s_is_refused(gw, deployed, models):
    _, doc = publish(models["a"])
    sha = doc["zip_sha256"]
    store = ArtifactStore(gw, BUCKET)
    assert store.manifest(sha)["content_sha256"] == doc["content_sha256"]
    key = f"layers/{sha}.manifest.json"
    manifest = gw.get_json(BUCKET, key)
    gw.put_json(BUCKET, key, {**manifest, "zip_sha256": "0" * 64})  # another zip's manifest
    with pytest.raises(ModelError, match="does not match the zip it stands beside"):
        ArtifactStore(gw, BUCKET).manifest(sha)
    tampered = {**manifest, "artifacts": [{**a, "sha256": "1" * 64} for a in manifest["artifacts"]]}
    gw.put_json(BUCKET, key, tampered)
    with pytest.raises(ModelError, match="not the sha256 of the artifacts it lists"):
        ArtifactStore(gw, BUCKET).manifest(sha)
    deps_sha = code_sha256_to_hex(
        gw.get_layer_version("mlayer-predict-deps", 1)["Content"]["CodeSha256"]
    )
    lock = gw.get_json(BUCKET, f"layers/{deps_sha}.lock.json")
    gw.put_json(BUCKET, f"layers/{deps_sha}.lock.json", {**lock, "zip_sha256": "2" * 64})
    _, refused = publish(models["b"])
    assert refused["error"] == "ModelError" and "lock.json does not match" in refused["message"]


def test_label_claims_skip_live_claims_and_take_over_stale_ones(gw):
    from mlayer.publishing import labels

    gw.ensure_bucket(BUCKET)
    now = "2026-11-30T07:00:00Z"
    assert labels.claim_label(gw, BUCKET, MODEL, 3, "a" * 64, now) == "v3"
    assert labels.claim_label(gw, BUCKET, MODEL, 3, "a" * 64, now) == "v3"  # the same content
    assert labels.claim_label(gw, BUCKET, MODEL, 3, "b" * 64, now) == "v4"  # v3 is a's
    assert labels.claim_label(gw, BUCKET, MODEL, 3, "c" * 64, now, taken={"v5"}) == "v6"
    later = "2026-11-30T07:16:00Z"  # a's claim is 16 minutes old and its version never came
    assert labels.claim_label(gw, BUCKET, MODEL, 3, "d" * 64, later) == "v3"
    claim = gw.get_json(BUCKET, labels.label_key(MODEL, "v3"))
    assert claim["content_sha256"] == "d" * 64 and claim["claimed_at"] == later


def test_model_format_from_the_config_is_validated_and_used(gw, deployed, models, tmp_path):
    (tmp_path / "mlayer.toml").write_text('[model]\nformat = "pmml"\n')
    _, doc = publish(models["a"], "--dry-run")
    assert doc["error"] == "ConfigError" and "model.format" in doc["message"]
    (tmp_path / "mlayer.toml").write_text('[model]\nformat = "onnx"\n')
    _, doc = publish(models["a"], "--dry-run")
    assert doc["error"] == "UsageError" and "--format onnx needs --sample" in doc["message"]
    _, doc = publish(models["a"], "--dry-run", "--format", "sklearn")  # the flag wins
    assert doc["format"] == "sklearn" and doc["dry_run"]
