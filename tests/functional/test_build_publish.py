"""build-deps --publish against the embedded AWS: zip + lock in the bucket, one version per
distinct zip, and the CLI's text and JSON output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlayer import api
from mlayer.build.publish import code_sha256
from mlayer.cli import cli
from mlayer.config import Settings
from mlayer.gateway import Gateway


@pytest.fixture
def tiny(tmp_path) -> Path:
    req = tmp_path / "requirements.txt"
    req.write_text("threadpoolctl==3.6.0\n")
    return req


def _settings(tmp_path, req):
    return Settings(root=tmp_path).with_overrides(
        function={"runtime": "python3.11", "architecture": "x86_64"},
        deps={"requirements": str(req), "builder": "pip", "layer": "tiny-deps"},
        artifacts={"bucket": "tiny-artifacts"},
    )


def test_publish_stores_zip_and_lock_then_skips_the_same_zip(aws, tmp_path, tiny):
    gw = Gateway(endpoint_url=aws.endpoint_url)
    settings = _settings(tmp_path, tiny)
    questions = []
    first = api.build_deps(
        settings,
        output=tmp_path / "out",
        publish=True,
        cache_dir=tmp_path / "cache",
        gateway=gw,
        confirm=questions.append,
    )
    sha = first.build.zip_sha256
    assert first.publish.published and first.publish.layer_arn.endswith(":tiny-deps:1")
    assert len(questions) == 1 and "tiny-deps" in questions[0]
    s3 = gw.client("s3")
    head = s3.head_object(Bucket="tiny-artifacts", Key=f"layers/{sha}.zip")
    assert head["ServerSideEncryption"] == "AES256"
    lock = gw.get_json("tiny-artifacts", f"layers/{sha}.lock.json")
    assert lock["packages"] == {"threadpoolctl": "3.6.0"} and lock["zip_sha256"] == sha
    assert lock["schema_version"] == 1 and lock["architecture"] == "x86_64"
    version = gw.get_layer_version("tiny-deps", 1)
    assert version["Content"]["CodeSha256"] == code_sha256(sha)
    assert version["CompatibleRuntimes"] == ["python3.11"]
    assert version["CompatibleArchitectures"] == ["x86_64"]
    assert first.build.requirements_sha256[:16] in version["Description"]

    again = api.build_deps(
        settings,
        output=tmp_path / "out",
        publish=True,
        cache_dir=tmp_path / "cache",
        gateway=gw,
        confirm=questions.append,
    )
    assert not again.publish.published and again.publish.layer_arn == first.publish.layer_arn
    assert len(questions) == 1
    assert [v["Version"] for v in gw.list_layer_versions("tiny-deps")] == [1]


def test_cli_text_and_json(aws, tmp_path, tiny, monkeypatch):
    monkeypatch.setenv("MLAYER_CACHE_DIR", str(tmp_path / "cache"))
    args = [
        "build-deps",
        "--builder",
        "pip",
        "--runtime",
        "python3.11",
        "--arch",
        "x86_64",
        "--requirements",
        str(tiny),
        "--output",
        str(tmp_path / "out"),
        "--layer-name",
        "tiny-deps",
    ]
    text = CliRunner().invoke(cli, args)
    assert text.exit_code == 0, text.output
    assert "Layer for python3.11 (x86_64) built" in text.output
    assert "left under Lambda's" in text.output
    published = CliRunner().invoke(cli, ["--json", *args, "--publish", "--yes"])
    assert published.exit_code == 0, published.output
    doc = json.loads(published.stdout)
    assert doc["build"]["cached"] is True and doc["publish"]["published"] is True
    again = CliRunner().invoke(cli, [*args, "--publish", "--yes"])
    assert "Not published again" in again.output and doc["publish"]["layer_arn"] in again.output
