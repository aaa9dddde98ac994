"""The CLI's shared behaviour: help, global options, error output and exit codes, init."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from mlayer.cli import cli
from mlayer.config import load_settings

COMMANDS = [
    "init",
    "build-deps",
    "publish-model",
    "rollback",
    "history",
    "status",
    "deploy-function",
    "invoke",
    "poll",
    "local-aws",
    "demo",
]


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def probe():
    """A hidden command that loads settings like every real command does, and records them."""
    import mlayer.cli as cli_module

    seen: dict = {}

    @cli_module.cli.command("_probe", hidden=True)
    @cli_module.pass_app
    def _probe(app):
        seen["settings"] = app.settings

    yield seen
    cli_module.cli.commands.pop("_probe", None)


def test_every_command_of_the_contract_is_registered_with_help(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert name in result.output
        sub = runner.invoke(cli, [name, "--help"])
        assert sub.exit_code == 0, (name, sub.output)
        assert "Usage: mlayer " + name in sub.output


def test_global_options_are_listed(runner):
    out = runner.invoke(cli, ["--help"]).output
    for option in ("--config", "--region", "--profile", "--endpoint-url", "--json", "--verbose"):
        assert option in out


def test_init_writes_a_file_that_loads_back(runner, tmp_path):
    path = tmp_path / "mlayer.toml"
    result = runner.invoke(
        cli,
        [
            "--config",
            str(path),
            "init",
            "--function",
            "fraud",
            "--arch",
            "x86_64",
            "--memory",
            "2048",
            "--stream",
            "events",
            "--sink",
            "dynamodb://preds",
            "--artifact",
            "pre.joblib",
            "--artifact",
            "m.joblib",
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"Wrote {path}" in result.output
    s = load_settings(path, env={})
    assert (
        s.function.name == "fraud"
        and s.function.architecture == "x86_64"
        and s.function.memory == 2048
    )
    assert s.trigger.stream == "events" and s.output.sink == "dynamodb://preds"
    assert s.model.artifacts == ("pre.joblib", "m.joblib")


def test_init_json_names_the_file_it_wrote(runner, tmp_path):
    path = tmp_path / "sub" / "mlayer.toml"
    result = runner.invoke(cli, ["--json", "--config", str(path), "init", "--function", "fraud"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["path"] == str(path) and doc["overwritten"] is False
    assert doc["settings"]["source"] == str(path)
    assert doc["settings"]["root"] == str(path.parent.resolve())
    assert doc["settings"]["function"]["name"] == "fraud"


def test_init_refuses_to_overwrite_without_force(runner, tmp_path):
    path = tmp_path / "mlayer.toml"
    path.write_text("# mine\n")
    result = runner.invoke(cli, ["--config", str(path), "init"])
    assert result.exit_code == 2
    assert "Error: " in result.stderr and "already exists" in result.stderr
    assert "Hint: Pass --force" in result.stderr
    assert path.read_text() == "# mine\n"
    forced = runner.invoke(cli, ["--config", str(path), "init", "--force"])
    assert forced.exit_code == 0 and "Overwrote" in forced.output
    assert "[function]" in path.read_text()


def test_init_rejects_an_impossible_value_and_writes_nothing(runner, tmp_path):
    path = tmp_path / "mlayer.toml"
    result = runner.invoke(cli, ["--config", str(path), "init", "--memory", "64"])
    assert result.exit_code == 2
    assert "function.memory" in result.stderr and "128 and 10240" in result.stderr
    assert not path.exists()


def test_config_error_exits_2_with_error_and_hint_and_no_traceback(runner, probe, tmp_path):
    bad = tmp_path / "mlayer.toml"
    bad.write_text('[function]\narchitecture = "sparc"\n')
    result = runner.invoke(cli, ["--config", str(bad), "_probe"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: function.architecture")
    assert str(bad) in result.stderr
    assert "Hint: " in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_named_config_is_a_usage_error(runner, probe, tmp_path):
    result = runner.invoke(cli, ["--config", str(tmp_path / "absent.toml"), "_probe"])
    assert result.exit_code == 2
    assert "absent.toml does not exist" in result.stderr


def test_json_errors_are_machine_readable_on_stdout(runner, probe, tmp_path):
    result = runner.invoke(cli, ["--json", "--config", str(tmp_path / "absent.toml"), "_probe"])
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["error"] == "ConfigError" and "absent.toml" in doc["message"] and doc["hint"]


def test_verbose_shows_the_traceback(runner, probe, tmp_path):
    result = runner.invoke(cli, ["-v", "--config", str(tmp_path / "absent.toml"), "_probe"])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr


def test_click_usage_errors_exit_2(runner):
    result = runner.invoke(cli, ["build-deps", "--arch", "sparc"])
    assert result.exit_code == 2
    assert "Invalid value for '--arch'" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["build-deps", "--arch", "sparc"],
        ["init", "--memory", "lots"],
        ["status", "--bogus"],
        ["no-such-command"],
        ["--bogus", "status"],
    ],
)
def test_click_usage_errors_have_error_and_hint_and_json(runner, args):
    result = runner.invoke(cli, args)
    assert result.exit_code == 2
    assert "Error: " in result.stderr and "Hint: Run `mlayer" in result.stderr
    assert "Traceback" not in result.stderr
    as_json = runner.invoke(cli, ["--json", *args])
    assert as_json.exit_code == 2
    doc = json.loads(as_json.stdout)
    assert doc["error"] == "UsageError" and doc["message"] and "--help" in doc["hint"]


def test_aws_location_comes_from_env_and_flags(runner, probe, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("AWS_PROFILE", "ml")
    assert runner.invoke(cli, ["_probe"]).exit_code == 0
    aws = probe["settings"].aws
    assert (aws.endpoint_url, aws.region, aws.profile) == (
        "http://127.0.0.1:4566",
        "us-east-1",
        "ml",
    )
    args = [
        "--endpoint-url",
        "http://127.0.0.1:1",
        "--region",
        "eu-west-1",
        "--profile",
        "p2",
        "_probe",
    ]
    assert runner.invoke(cli, args).exit_code == 0
    aws = probe["settings"].aws
    assert (aws.endpoint_url, aws.region, aws.profile) == ("http://127.0.0.1:1", "eu-west-1", "p2")


def test_env_overrides_reach_commands(runner, probe, monkeypatch, tmp_path):
    path = tmp_path / "mlayer.toml"
    path.write_text('[function]\nname = "from-file"\n')
    monkeypatch.setenv("MLAYER_FUNCTION_NAME", "fraud-score")
    assert runner.invoke(cli, ["--config", str(path), "_probe"]).exit_code == 0
    assert probe["settings"].function.name == "fraud-score"


def test_progress_shows_bars_at_quarters_in_a_log_and_nothing_with_json(capsys):
    from mlayer.cli import App

    step = App(None, None, None, None, json_output=False, verbose=False).progress()
    step("install: resolving wheels")
    for pct in range(0, 101, 5):
        step(f"upload: uploading layers/abc.zip {pct}%")
    step("publish: publishing layer deps")
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "  install: resolving wheels",
        "  upload: uploading layers/abc.zip 0%",
        "  upload: uploading layers/abc.zip 25%",
        "  upload: uploading layers/abc.zip 50%",
        "  upload: uploading layers/abc.zip 75%",
        "  upload: uploading layers/abc.zip 100%",
        "  publish: publishing layer deps",
    ]
    quiet = App(None, None, None, None, json_output=True, verbose=False).progress()
    quiet("install: resolving wheels")
    assert capsys.readouterr().err == ""


def test_warnings_go_to_stderr_and_stay_in_the_json(capsys):
    from dataclasses import dataclass

    from mlayer.cli import App

    @dataclass
    class Result:
        warnings: tuple[str, ...]

        def render(self) -> str:
            return "Published v2."

    App(None, None, None, None, json_output=False, verbose=False).emit(Result(("versions differ",)))
    out = capsys.readouterr()
    assert out.out == "Published v2.\n"
    assert out.err == "Warning: versions differ\n"
    App(None, None, None, None, json_output=True, verbose=False).emit(Result(("versions differ",)))
    out = capsys.readouterr()
    assert json.loads(out.out) == {"warnings": ["versions differ"]} and out.err == ""
