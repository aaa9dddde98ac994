"""[prune] keys: defaults, the file, MLAYER_PRUNE_* and their limits; the command's own checks."""

from __future__ import annotations

import pytest

from mlayer.config import load_settings, render_toml
from mlayer.errors import ConfigError, UsageError
from mlayer.prune.command import limits
from mlayer.request_types import PruneRequest


def test_defaults_file_and_environment(tmp_path):
    assert (load_settings(env={}).prune.keep, load_settings(env={}).prune.older_than_days) == (
        10,
        14,
    )
    toml = tmp_path / "mlayer.toml"
    toml.write_text("[prune]\nkeep = 3\nolder_than_days = 0\n")
    assert load_settings(toml, env={}).prune.keep == 3
    env = {"MLAYER_PRUNE_KEEP": "7", "MLAYER_PRUNE_OLDER_THAN_DAYS": "30"}
    settings = load_settings(toml, env=env)
    assert (settings.prune.keep, settings.prune.older_than_days) == (7, 30)
    assert "[prune]" in render_toml(settings) and "keep = 7" in render_toml(settings)


@pytest.mark.parametrize(
    "env",
    [
        {"MLAYER_PRUNE_KEEP": "0"},
        {"MLAYER_PRUNE_KEEP": "many"},
        {"MLAYER_PRUNE_OLDER_THAN_DAYS": "-1"},
    ],
)
def test_impossible_values_are_refused_naming_the_variable(env):
    with pytest.raises(ConfigError) as info:
        load_settings(env=env)
    assert next(iter(env)) in info.value.message and info.value.exit_code == 2


def test_flags_override_the_settings_and_are_checked():
    settings = load_settings(env={"MLAYER_PRUNE_KEEP": "4"})
    assert limits(settings, PruneRequest()) == (4, 14)
    assert limits(settings, PruneRequest(keep=2, older_than_days=0)) == (2, 0)
    with pytest.raises(UsageError):
        limits(settings, PruneRequest(keep=0))


def test_the_cli_refuses_keep_zero_with_exit_2():
    from click.testing import CliRunner

    from mlayer.cli import cli

    result = CliRunner().invoke(cli, ["prune", "--keep", "0", "--dry-run"])
    assert result.exit_code == 2 and "--keep" in result.output
