"""Each way a build can fail gives a clear message and a hint (issue 3's error list)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlayer import api
from mlayer.build import BuildRequest, build_layer
from mlayer.cli import cli
from mlayer.config import Settings, with_overrides
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
    """Through the CLI as a user meets it: exit 1, Error and Hint on stderr, no zip."""
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
    monkeypatch.setenv("MLAYER_CACHE_DIR", str(tmp_path / "cache"))
    req = tmp_path / "requirements.txt"
    req.write_text("threadpoolctl==3.6.0\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        ["build-deps", "--builder", "pip", "--requirements", str(req), "--output", str(out)],
    )
    assert result.exit_code == 1, result.output
    assert "Error: pip could not reach the package index" in result.stderr
    assert "Hint: Check the network" in result.stderr
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.slow
def test_a_layer_over_the_budget_is_not_published(deps_layer_build, tmp_path):
    settings = with_overrides(
        Settings(root=REPO),
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


@pytest.mark.slow
def test_a_fresh_project_builds_the_recipe_mlayer_ships(deps_layer_build, tmp_path, monkeypatch):
    """`mlayer init` then `mlayer build-deps` in an empty folder: no layers/ here, so the
    default [deps] requirements means mlayer's own recipe (found in the build cache here)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLAYER_CACHE_DIR", str(REPO / ".cache" / "mlayer"))
    assert CliRunner().invoke(cli, ["init"]).exit_code == 0
    result = CliRunner().invoke(
        cli,
        [
            *("--json", "build-deps", "--builder", "pip"),
            *("--runtime", deps_layer_build.runtime, "--arch", deps_layer_build.arch),
        ],
    )
    assert result.exit_code == 0, result.output
    build = json.loads(result.stdout)["build"]
    assert build["requirements"] == str(REPO / "layers" / "sklearn" / "requirements.txt")
    assert build["zip_sha256"] == deps_layer_build.zip_sha256
    assert Path(build["zip_path"]).parent == tmp_path / "build"


@pytest.mark.parametrize("where", ["--output", "MLAYER_CACHE_DIR"])
def test_a_folder_that_cannot_be_written_is_a_usage_error(tmp_path, monkeypatch, where):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    req = tmp_path / "requirements.txt"
    req.write_text("threadpoolctl==3.6.0\n")
    monkeypatch.setenv("MLAYER_CACHE_DIR", str(tmp_path / "cache"))
    args = ["build-deps", "--builder", "pip", "--requirements", str(req)]
    if where == "--output":
        args += ["--output", str(blocker / "out")]
    else:
        monkeypatch.setenv("MLAYER_CACHE_DIR", str(blocker / "cache"))
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert f"Error: Cannot write to {blocker}" in result.stderr and "Hint: " in result.stderr
