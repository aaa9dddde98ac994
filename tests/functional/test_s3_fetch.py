"""function/mlayer_function/fetch.py (with ranged_download.py and fetch_errors.py) against the embedded AWS: S3-stored artifacts into /tmp.

GIVEN an artifact in the artifact bucket and a manifest entry that points at it, WHEN a cold
start materializes it, THEN the file in /tmp is byte for byte the published one, a warm start
makes no GET at all, and every failure (tampered, resized, missing, denied, /tmp too small)
raises the init error that names what to fix.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))
from mlayer_function import fetch, fetch_errors, ranged_download  # noqa: E402

BUCKET = "mlayer-fetch-test"
MIB = 1024 * 1024


class GetCounter:
    """Counts the GetObject calls a real boto3 client makes (a botocore event hook)."""

    def __init__(self, client) -> None:
        self.calls = 0
        client.meta.events.register("before-call.s3.GetObject", self._count)

    def _count(self, **_) -> None:
        self.calls += 1


@pytest.fixture
def s3(aws):
    client = boto3.client("s3", endpoint_url=aws.endpoint_url, region_name=aws.region)
    client.create_bucket(Bucket=BUCKET)
    return client


def put_artifact(s3, data: bytes, file: str = "02-model.joblib") -> dict:
    sha = hashlib.sha256(data).hexdigest()
    key = f"models/{sha}"
    s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    return {
        "file": file,
        "role": "model",
        "store": "s3",
        "bucket": BUCKET,
        "s3_key": key,
        "sha256": sha,
        "size": len(data),
    }


def test_cold_start_downloads_in_parts_and_a_warm_start_makes_no_get(s3, tmp_path):
    data = os.urandom(3 * MIB + 12345)
    entry = put_artifact(s3, data)
    layer_entry = {"file": "00-scaler.joblib", "sha256": "0" * 64, "size": 1}
    manifest = {"artifacts": [layer_entry, entry]}
    counter = GetCounter(s3)
    cache = tmp_path / "tmp"
    lines: list[str] = []

    cold = fetch.materialize(
        manifest, tmp_path / "opt", client=s3, directory=cache, part_bytes=MIB, log=lines.append
    )
    assert cold.paths["00-scaler.joblib"] == tmp_path / "opt" / "00-scaler.joblib"
    path = cold.paths["02-model.joblib"]
    assert path == cache / f"{entry['sha256']}.joblib" and path.read_bytes() == data
    assert (cold.downloaded, cold.reused, cold.parts, counter.calls) == (1, 0, 4, 4)
    assert cold.verified == {"02-model.joblib"} and cold.bytes_downloaded == len(data)
    assert '"message": "model artifacts fetched"' in lines[0] and '"download_ms"' in lines[0]
    assert list(cache.glob("*.part")) == []

    warm = fetch.materialize(manifest, tmp_path / "opt", client=s3, directory=cache)
    assert (warm.downloaded, warm.reused, counter.calls) == (0, 1, 4)
    assert warm.verified == {"02-model.joblib"} and warm.verify_ms > 0


def test_a_tampered_object_is_refused_and_nothing_stays_in_tmp(s3, tmp_path):
    entry = put_artifact(s3, b"a" * 5000)
    s3.put_object(Bucket=BUCKET, Key=entry["s3_key"], Body=b"b" * 5000)  # same size, other bytes
    with pytest.raises(fetch_errors.ArtifactMismatchError, match="differs from the manifest's"):
        fetch.materialize({"artifacts": [entry]}, tmp_path, client=s3, directory=tmp_path / "t")
    assert list((tmp_path / "t").iterdir()) == []


def test_an_object_of_another_size_is_refused_naming_both_sizes(s3, tmp_path):
    entry = put_artifact(s3, b"a" * 5000)
    s3.put_object(Bucket=BUCKET, Key=entry["s3_key"], Body=b"a" * 4000)
    with pytest.raises(
        fetch_errors.ArtifactMismatchError, match="is 4000 bytes; the manifest says 5000"
    ):
        fetch.materialize({"artifacts": [entry]}, tmp_path, client=s3, directory=tmp_path / "t")


def test_a_missing_object_names_its_uri(s3, tmp_path):
    entry = put_artifact(s3, b"x" * 100)
    s3.delete_object(Bucket=BUCKET, Key=entry["s3_key"])
    with pytest.raises(fetch_errors.ArtifactMissingError) as err:
        fetch.materialize({"artifacts": [entry]}, tmp_path, client=s3, directory=tmp_path / "t")
    assert f"s3://{BUCKET}/{entry['s3_key']} does not exist (NoSuchKey)" in str(err.value)
    assert "roll back" in str(err.value)


def test_a_missing_bucket_is_missing_too(s3, tmp_path):
    entry = {**put_artifact(s3, b"x" * 100), "bucket": "no-such-bucket-here"}
    with pytest.raises(fetch_errors.ArtifactMissingError, match="NoSuchBucket"):
        fetch.materialize({"artifacts": [entry]}, tmp_path, client=s3, directory=tmp_path / "t")


def test_access_denied_names_the_permission_the_role_lacks(tmp_path):
    # The embedded AWS does not enforce IAM: AWS's own AccessDenied comes from Stubber.
    client = boto3.client("s3", region_name="us-east-1")
    entry = {
        "file": "02-model.joblib",
        "store": "s3",
        "bucket": "acme-ml",
        "s3_key": "models/" + "a" * 64,
        "sha256": "a" * 64,
        "size": 10,
    }
    with Stubber(client) as stub:
        stub.add_client_error(
            "get_object",
            service_error_code="AccessDenied",
            service_message="Access Denied",
            http_status_code=403,
            expected_params={"Bucket": "acme-ml", "Key": entry["s3_key"], "Range": "bytes=0-9"},
        )
        with pytest.raises(fetch_errors.ArtifactAccessError) as err:
            fetch.materialize({"artifacts": [entry]}, tmp_path, client=client, directory=tmp_path)
    assert f"needs s3:GetObject on arn:aws:s3:::acme-ml/{entry['s3_key']}" in str(err.value)


def test_tmp_too_small_is_refused_before_any_download(s3, tmp_path):
    entry = put_artifact(s3, b"z" * (2 * MIB))
    counter = GetCounter(s3)
    with pytest.raises(fetch_errors.EphemeralStorageError) as err:
        fetch.materialize(
            {"artifacts": [entry]},
            tmp_path,
            client=s3,
            directory=tmp_path / "t",
            space=lambda _path: MIB,
        )
    assert "has 1.0 MB free but the model's S3 artifacts need 2.0 MB" in str(err.value)
    assert "02-model.joblib 2.0 MB" in str(err.value) and counter.calls == 0


def test_a_damaged_cached_copy_is_downloaded_again(s3, tmp_path):
    data = os.urandom(50_000)
    entry = put_artifact(s3, data)
    cache = tmp_path / "t"
    fetch.materialize({"artifacts": [entry]}, tmp_path, client=s3, directory=cache)
    cached = cache / fetch.local_name(entry)
    cached.write_bytes(b"\0" * len(data))
    (cache / "stale.123.part").write_bytes(b"half")
    again = fetch.materialize({"artifacts": [entry]}, tmp_path, client=s3, directory=cache)
    assert (again.downloaded, again.reused) == (1, 0) and cached.read_bytes() == data
    assert not (cache / "stale.123.part").exists()


def test_an_s3_entry_without_its_key_is_a_broken_manifest(tmp_path):
    entry = {"file": "m.joblib", "store": "s3", "bucket": "b", "sha256": "a" * 64, "size": 3}
    with pytest.raises(fetch_errors.FetchError, match="has no s3_key"):
        fetch.materialize({"artifacts": [entry]}, tmp_path, directory=tmp_path)


def test_the_default_client_follows_aws_endpoint_url(s3, aws, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path / "lambda-tmp"))
    (tmp_path / "lambda-tmp").mkdir()
    monkeypatch.setattr("tempfile.tempdir", None)  # gettempdir() reads TMPDIR again
    data = os.urandom(1000)
    entry = put_artifact(s3, data)
    report = fetch.materialize({"artifacts": [entry]}, tmp_path)
    assert report.paths[entry["file"]].parent == tmp_path / "lambda-tmp" / "mlayer-models"
    assert report.paths[entry["file"]].read_bytes() == data


# -- reassembly, whatever the sizes: an in-memory S3 that honours Range ---------------------------
class _Body:
    def __init__(self, data: bytes) -> None:
        self._io = io.BytesIO(data)

    def iter_chunks(self, size: int):
        while chunk := self._io.read(max(1, size // 7)):  # smaller reads than asked, as sockets do
            yield chunk

    def close(self) -> None:
        pass


class MemoryS3:
    def __init__(self, objects: dict[tuple[str, str], bytes]) -> None:
        self.objects = objects

    def get_object(self, *, Bucket: str, Key: str, Range: str) -> dict:
        data = self.objects[(Bucket, Key)]
        start, end = (int(x) for x in Range.removeprefix("bytes=").split("-"))
        return {
            "Body": _Body(data[start : end + 1]),
            "ContentRange": f"bytes {start}-{min(end, len(data) - 1)}/{len(data)}",
        }


MAX_PARTS = 256  # a part is a ranged GET on a thread: 300,000 one-byte parts prove no more


def _size_and_part(size: int) -> st.SearchStrategy[tuple[int, int]]:
    """A part size for ``size`` bytes giving at most MAX_PARTS parts (1 byte for small ones)."""
    return st.tuples(st.just(size), st.integers(max(1, -(-size // MAX_PARTS)), 70_000))


@settings(max_examples=40, deadline=None)
@given(
    size_part=st.integers(min_value=0, max_value=300_000).flatmap(_size_and_part),
    threads=st.integers(min_value=1, max_value=6),
)
def test_parts_reassemble_into_the_same_bytes(tmp_path_factory, size_part, threads):
    size, part = size_part
    data = os.urandom(size)
    entry = {
        "file": "m.joblib",
        "store": "s3",
        "bucket": "b",
        "s3_key": "k",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": size,
    }
    folder = tmp_path_factory.mktemp("parts")
    client = MemoryS3({("b", "k"): data})
    report = fetch.materialize(
        {"artifacts": [entry]},
        folder,
        client=client,
        directory=folder,
        threads=threads,
        part_bytes=part,
    )
    assert report.paths["m.joblib"].read_bytes() == data
    assert report.parts == -(-size // part)


def test_part_size_is_one_part_per_thread_within_8_to_64_mib():
    assert ranged_download.part_size(120 * MIB, 4) == 30 * MIB
    assert ranged_download.part_size(10 * MIB, 4) == 8 * MIB
    assert ranged_download.part_size(1024 * MIB, 4) == 64 * MIB


def test_the_emulations_tmp_size_caps_the_free_space(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    (tmp_path / "already-here").write_bytes(b"x" * MIB)
    monkeypatch.setenv("MLAYER_EPHEMERAL_STORAGE_MB", "512")
    assert fetch.free_bytes(tmp_path) == 511 * MIB
    monkeypatch.delenv("MLAYER_EPHEMERAL_STORAGE_MB")
    assert fetch.free_bytes(tmp_path) > 511 * MIB  # the file system's own (a big disk here)
