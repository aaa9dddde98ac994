"""Each way a build can fail gives a clear message and a hint (issue 3's error list)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlayer import api
from mlayer.build import BuildRequest, build_layer
from mlayer.cli import cli
from mlayer.config import Settings
from mlayer.errors import BudgetError, BuildError, UsageError

REPO = Path(__file__).resolve().parents[2]


def _request(tmp_path, requirements, **kw):
    base = dict(
        runtime="python3.12",
        arch="x86_64",
        builder="pip",
        output=tmp_path / "out",
        cache_dir=tmp_path / "cache",
    )
    return BuildRequest(requirements=requirements, **{**base, **kw})


def test_unknown_runtime_is_a_usage_error_on_the_cli(tmp_path):
    result = CliRunner().invoke(cli, ["build-deps", "--runtime", "python2.7"])
    assert result.exit_code == 2
    with pytest.raises(UsageError, match="Unknown Lambda runtime"):
        build_layer(
            _request(tmp_path, REPO / "layers/sklearn/requirements.txt", runtime="python3.9")
        )


@pytest.mark.parametrize("kind", ["missing", "directory", "not-utf8"])
def test_unreadable_requirements_file(tmp_path, kind):
    path = tmp_path / "requirements.txt"
    if kind == "directory":
        path.mkdir()
    elif kind == "not-utf8":
        path.write_bytes(b"\xff\xfe numpy\n")
    with pytest.raises(UsageError) as err:
        build_layer(_request(tmp_path, path))
    assert str(path) in err.value.message and err.value.hint


def test_unreadable_requirements_on_the_cli(tmp_path):
    result = CliRunner().invoke(
        cli, ["build-deps", "--builder", "pip", "--requirements", str(tmp_path / "nope.txt")]
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output


@pytest.mark.slow
def test_requirement_without_a_wheel_for_the_target(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("numpy==1.21.0\n")  # no cp312 wheels exist
    with pytest.raises(BuildError) as err:
        build_layer(_request(tmp_path, req))
    assert "numpy" in err.value.message and "python3.12" in err.value.message
    assert "--builder docker" in err.value.hint


def test_no_network_pip_fails_clearly(tmp_path, monkeypatch):
    for key, value in {
        "PIP_CONFIG_FILE": "/dev/null",
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_EXTRA_INDEX_URL": "",
        "PIP_FIND_LINKS": "",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_RETRIES": "1",
        "PIP_TIMEOUT": "2",
    }.items():
        monkeypatch.setenv(key, value)
    req = tmp_path / "requirements.txt"
    req.write_text("threadpoolctl==3.6.0\n")
    with pytest.raises(BuildError) as err:
        build_layer(_request(tmp_path, req))
    assert "could not reach the package index" in err.value.message
    assert "network" in err.value.hint


@pytest.mark.slow
def test_a_layer_over_the_budget_is_not_published(deps_layer_build, tmp_path):
    settings = Settings(root=REPO).with_overrides(
        function={"runtime": deps_layer_build.runtime, "architecture": deps_layer_build.arch},
        deps={"builder": "pip"},
    )
    calls = []
    with pytest.raises(BudgetError) as err:
        api.build_deps(
            settings,
            output=tmp_path,
            publish=True,
            cache_dir=REPO / ".cache" / "mlayer",
            budget_bytes=100 * 1024 * 1024,
            gateway=calls,  # never reached
        )
    assert "scipy" in err.value.hint
    assert calls == []


def test_empty_requirements_error_renders_as_json_on_the_cli(tmp_path):
    req = tmp_path / "r.txt"
    req.write_text("")
    result = CliRunner().invoke(
        cli, ["--json", "build-deps", "--builder", "pip", "--requirements", str(req)]
    )
    assert result.exit_code == 2
    assert json.loads(result.stdout)["error"] == "UsageError"
