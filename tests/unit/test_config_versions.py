"""[function] provisioned_concurrency and snapstart: read from file, environment and flags, and
each refusal (no alias, runtime, both at once) naming the key, as a config error (exit 2)."""

from __future__ import annotations

import pytest

from mlayer.config import Settings, load_settings, render_toml, with_overrides
from mlayer.errors import ConfigError


def write(tmp_path, text: str):
    path = tmp_path / "mlayer.toml"
    path.write_text(text)
    return path


def test_both_are_off_by_default():
    s = Settings()
    assert (s.function.provisioned_concurrency, s.function.snapstart) == (0, False)


def test_from_the_file_with_an_alias(tmp_path):
    path = write(
        tmp_path,
        '[function]\nprovisioned_concurrency = 3\n[model]\nalias = "live"\n',
    )
    assert load_settings(path, env={}).function.provisioned_concurrency == 3
    path = write(tmp_path, '[function]\nsnapstart = true\n[model]\nalias = "live"\n')
    assert load_settings(path, env={}).function.snapstart is True


@pytest.mark.parametrize(
    "word,value", [("true", True), ("1", True), ("False", False), ("no", False)]
)
def test_from_the_environment(tmp_path, word, value):
    env = {"MLAYER_FUNCTION_SNAPSTART": word, "MLAYER_MODEL_ALIAS": "live"}
    assert load_settings(write(tmp_path, ""), env=env).function.snapstart is value
    env = {"MLAYER_FUNCTION_PROVISIONED_CONCURRENCY": "5", "MLAYER_MODEL_ALIAS": "live"}
    assert load_settings(write(tmp_path, ""), env=env).function.provisioned_concurrency == 5


def test_the_alias_may_come_from_the_environment_when_the_file_asks_for_snapstart(tmp_path):
    path = write(tmp_path, "[function]\nsnapstart = true\n")
    assert load_settings(path, env={"MLAYER_MODEL_ALIAS": "live"}).function.snapstart


def test_a_word_that_is_not_a_boolean_is_refused_naming_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="MLAYER_FUNCTION_SNAPSTART") as err:
        load_settings(write(tmp_path, ""), env={"MLAYER_FUNCTION_SNAPSTART": "maybe"})
    assert err.value.exit_code == 2


@pytest.mark.parametrize(
    "text,env",
    [
        ("[function]\nprovisioned_concurrency = 2\n", {}),
        ("", {"MLAYER_FUNCTION_PROVISIONED_CONCURRENCY": "2"}),
    ],
)
def test_provisioned_concurrency_needs_an_alias(tmp_path, text, env):
    with pytest.raises(
        ConfigError, match="function.provisioned_concurrency.*needs \\[model\\] alias"
    ) as err:
        load_settings(write(tmp_path, text), env=env)
    assert err.value.exit_code == 2 and "alias" in err.value.hint


def test_snapstart_needs_an_alias(tmp_path):
    with pytest.raises(ConfigError, match="function.snapstart.*needs \\[model\\] alias"):
        load_settings(write(tmp_path, "[function]\nsnapstart = true\n"), env={})


@pytest.mark.parametrize("runtime", ["python3.10", "python3.11"])
def test_snapstart_needs_python_3_12(tmp_path, runtime):
    text = f'[function]\nsnapstart = true\nruntime = "{runtime}"\n[model]\nalias = "live"\n'
    with pytest.raises(ConfigError, match=f"function.runtime is {runtime}.*python3.12") as err:
        load_settings(write(tmp_path, text), env={})
    assert "runtime" in err.value.hint


def test_a_runtime_flag_below_3_12_is_refused_when_the_file_asks_for_snapstart(tmp_path):
    text = '[function]\nsnapstart = true\n[model]\nalias = "live"\n'
    s = load_settings(write(tmp_path, text), env={})
    with pytest.raises(ConfigError, match="SnapStart"):
        with_overrides(s, function={"runtime": "python3.11"})


def test_snapstart_and_provisioned_concurrency_are_refused_together(tmp_path):
    text = '[function]\nsnapstart = true\nprovisioned_concurrency = 1\n[model]\nalias = "live"\n'
    with pytest.raises(ConfigError, match="provisioned_concurrency is 1") as err:
        load_settings(write(tmp_path, text), env={})
    assert "Keep one" in err.value.hint


@pytest.mark.parametrize("value", [-1, 10_001])
def test_provisioned_concurrency_is_bounded(tmp_path, value):
    text = f'[function]\nprovisioned_concurrency = {value}\n[model]\nalias = "live"\n'
    with pytest.raises(ConfigError, match="function.provisioned_concurrency"):
        load_settings(write(tmp_path, text), env={})


def test_init_writes_both_keys_with_their_comments(tmp_path):
    text = render_toml(Settings())
    assert "provisioned_concurrency = 0" in text and "snapstart = false" in text
    assert load_settings(write(tmp_path, text), env={}).function.snapstart is False
