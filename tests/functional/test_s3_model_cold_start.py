"""A model in S3 that cannot be served fails the cold start with the error that names why:
tampered, missing, or more than /tmp holds. The 120 MB forest is published once per module
(module_aws): the /tmp test only reads it, and the tampered and missing tests put the object
back as it was, whatever happens, so no test depends on another's order."""

from __future__ import annotations

import pytest
from deployed_support import gateway, use
from function_support import InitError
from publish_support import BUCKET, create_function, publish_deps, run_cli
from s3_model_support import big_forest, serve


@pytest.fixture(scope="module")
def published(module_aws, deps_layer_build, tmp_path_factory):
    """A function carrying a dependencies layer as big as the real one (its lock says so), the
    forest published onto it (--store auto: to S3): (gateway, folder, the object's key)."""
    work = tmp_path_factory.mktemp("s3-cold-start")
    with pytest.MonkeyPatch.context() as mp:
        use(mp, module_aws, work)
        gw = gateway(module_aws)
        create_function(gw, [publish_deps(gw, unzipped=deps_layer_build.budget.unzipped)])
        args = ("publish-model", str(big_forest()), "--input", "features", "--yes")
        result, doc = run_cli(*args)
        assert result.exit_code == 0, result.output
        [obj] = doc["s3_objects"]
    return gw, work, obj["key"]


@pytest.fixture(autouse=True)
def _in_the_module_folder(published, module_aws, monkeypatch):
    use(monkeypatch, module_aws, published[1])


@pytest.fixture
def kept(published):
    """The forest's object, put back as it was after the test (a server-side copy)."""
    gw, _, key = published
    s3 = gw.client("s3")
    s3.copy_object(Bucket=BUCKET, Key=f"kept/{key}", CopySource={"Bucket": BUCKET, "Key": key})
    yield gw, key
    s3.copy_object(Bucket=BUCKET, Key=key, CopySource={"Bucket": BUCKET, "Key": f"kept/{key}"})
    s3.delete_object(Bucket=BUCKET, Key=f"kept/{key}")


def test_a_tampered_object_is_refused_at_cold_start(kept, tmp_path, deps_layer, runtime_dir):
    gw, key = kept
    data = bytearray(gw.get_bytes(BUCKET, key))
    data[len(data) // 2] ^= 0xFF
    gw.put_bytes(BUCKET, key, bytes(data))
    with pytest.raises(InitError) as err:
        serve(gw, tmp_path, deps_layer, runtime_dir, tmp_path / "t", "tampered")
    assert err.value.error["errorType"] == "ArtifactMismatchError"
    assert "differs from the manifest's" in err.value.error["errorMessage"]
    assert list((tmp_path / "t" / "mlayer-models").iterdir()) == []


def test_a_tmp_too_small_for_the_model_fails_the_init_naming_the_sizes(
    published, tmp_path, deps_layer, runtime_dir
):
    gw = published[0]
    with pytest.raises(InitError) as err:
        serve(
            gw, tmp_path, deps_layer, runtime_dir, tmp_path / "t", "small-tmp",
            MLAYER_EPHEMERAL_STORAGE_MB="100",
        )  # fmt: skip
    assert err.value.error["errorType"] == "EphemeralStorageError"
    message = err.value.error["errorMessage"]
    assert "has 100.0 MB free but the model's S3 artifacts need 120.1 MB" in message


def test_a_missing_object_gives_its_error(kept, tmp_path, deps_layer, runtime_dir):
    gw, key = kept
    gw.call("s3", "delete_object", "test", Bucket=BUCKET, Key=key)
    with pytest.raises(InitError) as err:
        serve(gw, tmp_path, deps_layer, runtime_dir, tmp_path / "t", "missing")
    assert err.value.error["errorType"] == "ArtifactMissingError"
    assert f"s3://{BUCKET}/{key} does not exist (NoSuchKey)" in err.value.error["errorMessage"]
