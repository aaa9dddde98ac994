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
from mlayer.config import Settings, with_overrides
from mlayer.gateway import Gateway


@pytest.fixture
def tiny(tmp_path) -> Path:
    req = tmp_path / "requirements.txt"
    req.write_text("threadpoolctl==3.6.0\n")
    return req


def _settings(tmp_path, req):
    return with_overrides(
        Settings(root=tmp_path),
        function={"runtime": "python3.11", "architecture": "x86_64"},
        deps={"requirements": str(req), "builder": "pip", "layer": "tiny-deps"},
        artifacts={"bucket": "tiny-artifacts"},
    )


def test_publish_stores_zip_and_lock_then_skips_the_same_zip(aws, tmp_path, tiny):
    gw = Gateway(endpoint_url=aws.endpoint_url)
    settings = _settings(tmp_path, tiny)
    questions = []

    def build_and_publish():
        return api.build_deps(
            settings,
            output=tmp_path / "out",
            publish=True,
            cache_dir=tmp_path / "cache",
            gateway=gw,
            confirm=questions.append,
        )

    first = build_and_publish()
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

    again = build_and_publish()
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
    assert "Layer for python3.11 (x86_64) built" in text.stdout
    assert "left under Lambda's" in text.stdout
    # progress goes to stderr: pip's download/install steps, then the zip
    assert "install: Collecting threadpoolctl==3.6.0" in text.stderr
    assert "zip: zipping 100%" in text.stderr
    published = CliRunner().invoke(cli, ["--json", *args, "--publish", "--yes"])
    assert published.exit_code == 0, published.output
    assert published.stderr == ""  # quiet with --json
    doc = json.loads(published.stdout)
    assert doc["build"]["cached"] is True and doc["publish"]["published"] is True
    assert set(doc) == {"build", "publish"}
    assert set(doc["build"]) == {
        *("schema_version", "runtime", "python_version", "architecture", "requirements"),
        *("requirements_sha256", "builder", "builder_reason", "packages", "modules"),
        *("zip_path", "zip_sha256", "unzipped_size", "zipped_size", "lock_path", "budget"),
        *("slim", "slim_steps", "compile", "bytecode", "check", "tree", "cache_key"),
        *("cached", "seconds"),
    }
    build = doc["build"]
    assert build["zip_path"] == str(tmp_path / "out" / "deps-python3.11-x86_64.zip")
    assert build["lock_path"] == str(tmp_path / "out" / "deps-python3.11-x86_64.lock.json")
    assert build["builder"] == "pip" and build["builder_reason"] == "pip (asked for)"
    assert build["packages"] == {"threadpoolctl": "3.6.0"}
    assert build["slim"] is True and build["compile"] is True
    assert {s["name"] for s in build["slim_steps"]} >= {"tests folders", "strip"}
    assert all(isinstance(s["bytes_saved"], int) for s in build["slim_steps"])
    assert build["bytecode"]["status"] == "compiled"
    assert set(build["budget"]) == {"unzipped", "zipped", "limit", "room_left", "fits", "largest"}
    assert build["budget"]["room_left"] == 262_144_000 - build["unzipped_size"]
    assert set(doc["publish"]) == {
        *("layer_name", "layer_arn", "version", "bucket", "zip_key", "lock_key"),
        *("published", "method", "code_sha256"),
    }
    assert doc["publish"]["lock_key"] == f"layers/{build['zip_sha256']}.lock.json"
    again = CliRunner().invoke(cli, [*args, "--publish", "--yes"])
    assert "Not published again" in again.output and doc["publish"]["layer_arn"] in again.output
