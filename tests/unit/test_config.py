"""Config: mlayer.toml + MLAYER_* env + flags -> one frozen Settings, every bad value named."""

from __future__ import annotations

import dataclasses

import pytest

from mlayer.config import Settings, load_settings, render_toml, with_overrides
from mlayer.errors import ConfigError


def write(tmp_path, text: str):
    path = tmp_path / "mlayer.toml"
    path.write_text(text)
    return path


def test_defaults_match_the_design(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(env={})
    assert s.source == "defaults"
    assert (s.function.name, s.function.runtime, s.function.architecture) == (
        "mlayer-predict",
        "python3.12",
        "arm64",
    )
    assert (s.function.memory, s.function.timeout, s.function.role) == (1024, 60, "")
    assert (s.deps.requirements, s.deps.layer, s.deps.builder) == (
        "layers/sklearn/requirements.txt",
        "mlayer-predict-deps",
        "auto",
    )
    assert s.model.layer == "mlayer-predict-model"
    assert s.artifacts.bucket == ""  # mlayer-<account>-<region>, named by the gateway
    t = s.trigger
    assert (t.stream, t.batch_size, t.batching_window, t.starting_position) == (
        "",
        100,
        0,
        "LATEST",
    )
    assert (t.max_retries, t.max_record_age, t.on_failure) == (3, 3600, "")
    assert (s.output.sink, s.output.dead_letter) == ("stdout://", "")


def test_file_values_are_read(tmp_path):
    path = write(
        tmp_path,
        '[function]\nname = "fraud"\nmemory = 2048\narchitecture = "x86_64"\n'
        '[trigger]\nstream = "events"\nbatch_size = 500\n[output]\nsink = "dynamodb://preds"\n',
    )
    s = load_settings(path, env={})
    assert s.function.name == "fraud" and s.function.memory == 2048
    assert s.function.architecture == "x86_64"
    assert s.trigger.stream == "events" and s.trigger.batch_size == 500
    assert s.output.sink == "dynamodb://preds"
    assert s.source == str(path)
    assert s.root == tmp_path.resolve()


def test_env_beats_file_and_flags_beat_env(tmp_path):
    path = write(tmp_path, '[function]\nname = "from-file"\nmemory = 512\n')
    env = {
        "MLAYER_FUNCTION_NAME": "from-env",
        "MLAYER_FUNCTION_MEMORY": "3008",
        "MLAYER_ARTIFACTS_BUCKET": "acme-ml",
    }
    s = load_settings(path, env=env)
    assert s.function.name == "from-env"
    assert s.function.memory == 3008
    assert s.artifacts.bucket == "acme-ml"
    flagged = with_overrides(s, function={"name": "from-flag", "memory": None})
    assert flagged.function.name == "from-flag"
    assert flagged.function.memory == 3008  # None = flag not given


def test_settings_are_frozen(tmp_path):
    s = load_settings(write(tmp_path, ""), env={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.function.name = "x"  # type: ignore[misc]


def test_missing_default_file_is_fine_but_a_named_one_is_an_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings(env={}).function.name == "mlayer-predict"
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path / "nope.toml", env={})
    assert "nope.toml does not exist" in err.value.message
    assert "mlayer init" in err.value.hint


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("[function]\nmemory = 64\n", "function.memory"),
        ("[function]\nmemory = 20000\n", "function.memory"),
        ('[function]\narchitecture = "i386"\n', "function.architecture"),
        ('[function]\nruntime = "python3.9"\n', "function.runtime"),
        ("[function]\ntimeout = 0\n", "function.timeout"),
        ('[function]\nrole = "mlayer-role"\n', "function.role"),
        ('[function]\nmemory = "big"\n', "function.memory"),
        ('[function]\nnmae = "typo"\n', "function.nmae"),
        ('[deps]\nbuilder = "conda"\n', "deps.builder"),
        ("[trigger]\nmax_retries = -1\n", "trigger.max_retries"),
        ('[trigger]\nstarting_position = "AT_TIMESTAMP"\n', "trigger.starting_position"),
        ('[output]\nsink = "ftp://x"\n', "output.sink"),
        ('[output]\ndead_letter = "dynamodb://t"\n', "output.dead_letter"),
        ('[model]\nartifacts = "model.joblib"\n', "model.artifacts"),
        ('[artifacts]\nbucket = "s3://acme-ml"\n', "artifacts.bucket"),
        ('[output]\ndead_letter_overflow = "sqs://big"\n', "output.dead_letter_overflow"),
        ('[output]\ndead_letter_overflow = "s3://"\n', "output.dead_letter_overflow"),
        ('[trigger]\non_failure = "kinesis://x"\n', "trigger.on_failure"),
    ],
)
def test_bad_values_name_the_key_and_the_file(tmp_path, text, named):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_settings(path, env={})
    assert named in err.value.message
    assert str(path) in err.value.message
    assert err.value.hint
    assert err.value.exit_code == 2


def test_unknown_section_and_bad_toml(tmp_path):
    with pytest.raises(ConfigError, match=r"Unknown section \[lambda\]"):
        load_settings(write(tmp_path, "[lambda]\nname = 'x'\n"), env={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[function\nname = 'x'\n"), env={})


def test_bad_env_value_names_the_environment():
    with pytest.raises(ConfigError) as err:
        load_settings(None, env={"MLAYER_FUNCTION_MEMORY": "lots"})
    assert "function.memory in environment" in err.value.message


def test_bad_env_value_names_the_variable_to_fix():
    with pytest.raises(ConfigError) as err:
        load_settings(None, env={"MLAYER_FUNCTION_MEMORY": "lots"})
    assert "MLAYER_FUNCTION_MEMORY" in err.value.message
    with pytest.raises(ConfigError) as err:
        load_settings(None, env={"MLAYER_TRIGGER_BATCH_SIZE": "0"})
    assert "MLAYER_TRIGGER_BATCH_SIZE" in err.value.message


def test_role_must_be_an_iam_role_arn():
    role = "arn:aws:iam::123456789012:role/service-role/mlayer-predict"
    assert load_settings(None, env={"MLAYER_FUNCTION_ROLE": role}).function.role == role
    with pytest.raises(ConfigError, match="function.role .* must be an IAM role ARN") as err:
        load_settings(None, env={"MLAYER_FUNCTION_ROLE": "arn:aws:iam::123:user/ana"})
    assert "arn:aws:iam::" in err.value.hint


def test_list_from_env_is_comma_separated():
    s = load_settings(None, env={"MLAYER_MODEL_ARTIFACTS": "a.joblib, b.joblib"})
    assert s.model.artifacts == ("a.joblib", "b.joblib")


def test_aws_location_from_env_and_flags():
    env = {
        "AWS_REGION": "eu-west-1",
        "AWS_PROFILE": "ml",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
    }
    s = load_settings(None, env=env)
    assert (s.aws.region, s.aws.profile, s.aws.endpoint_url) == (
        "eu-west-1",
        "ml",
        "http://127.0.0.1:5000",
    )
    s = load_settings(None, env=env, region="us-west-2", profile="other", endpoint_url="http://x")
    assert (s.aws.region, s.aws.profile, s.aws.endpoint_url) == ("us-west-2", "other", "http://x")


def test_aws_timeouts_and_attempts_default_for_a_cli_and_come_from_the_environment():
    s = load_settings(None, env={})
    assert (s.aws.connect_timeout, s.aws.read_timeout, s.aws.max_attempts) == (5.0, 15.0, 2)
    # an endpoint that never answers is reported in about 30 s
    assert s.aws.read_timeout * s.aws.max_attempts <= 30
    env = {
        "MLAYER_AWS_CONNECT_TIMEOUT": "1.5",
        "MLAYER_AWS_READ_TIMEOUT": "60",
        "MLAYER_AWS_MAX_ATTEMPTS": "4",
    }
    s = load_settings(None, env=env)
    assert (s.aws.connect_timeout, s.aws.read_timeout, s.aws.max_attempts) == (1.5, 60.0, 4)


@pytest.mark.parametrize(
    "name, value",
    [
        ("MLAYER_AWS_READ_TIMEOUT", "soon"),
        ("MLAYER_AWS_READ_TIMEOUT", "0"),
        ("MLAYER_AWS_CONNECT_TIMEOUT", "-3"),
        ("MLAYER_AWS_MAX_ATTEMPTS", "2.5"),
        ("MLAYER_AWS_MAX_ATTEMPTS", "100"),
    ],
)
def test_bad_aws_limits_name_the_variable(name, value):
    with pytest.raises(ConfigError) as err:
        load_settings(None, env={name: value})
    assert name in err.value.message and repr(value) in err.value.message
    assert name in err.value.hint


def test_an_empty_bucket_is_the_default_and_with_bucket_names_it():
    s = load_settings(None, env={"MLAYER_ARTIFACTS_BUCKET": ""})
    assert s.artifacts.bucket == ""
    named = s.with_bucket("mlayer-123456789012-us-east-1")
    assert named.artifacts.bucket == "mlayer-123456789012-us-east-1"
    assert named.function == s.function and s.with_bucket("") is s


def test_dead_letter_overflow_defaults_to_the_artifact_bucket_and_is_overridable():
    from mlayer.config import FUNCTION_DEAD_LETTER_OVERFLOW_ENV

    s = load_settings(None, env={"MLAYER_ARTIFACTS_BUCKET": "acme-ml"})
    assert s.output.dead_letter_overflow == ""
    assert s.dead_letter_overflow_url() == "s3://acme-ml/dead-letters/"
    s = load_settings(None, env={"MLAYER_OUTPUT_DEAD_LETTER_OVERFLOW": "s3://big/letters/"})
    assert s.dead_letter_overflow_url() == "s3://big/letters/"
    assert FUNCTION_DEAD_LETTER_OVERFLOW_ENV == "MLAYER_DEAD_LETTER_OVERFLOW"
    with pytest.raises(ConfigError) as err:
        load_settings(None, env={"MLAYER_OUTPUT_DEAD_LETTER_OVERFLOW": "dynamodb://t"})
    assert "MLAYER_OUTPUT_DEAD_LETTER_OVERFLOW" in err.value.message and "s3://" in err.value.hint


def test_an_s3_bucket_is_an_on_failure_destination():
    s = load_settings(None, env={"MLAYER_TRIGGER_ON_FAILURE": "s3://failures"})
    assert s.trigger.on_failure == "s3://failures"


def test_rendered_toml_reads_back_to_the_same_settings(tmp_path):
    original = with_overrides(
        Settings(),
        function={"name": "fraud", "memory": 2048},
        model={"artifacts": ["a.joblib", "m.joblib"]},
    )
    path = write(tmp_path, render_toml(original))
    again = load_settings(path, env={})
    for section in ("function", "deps", "model", "artifacts", "trigger", "output"):
        assert getattr(again, section) == getattr(original, section)
    assert "# MB, 128..10240" in path.read_text()


def test_relative_paths_resolve_against_the_config_folder(tmp_path):
    sub = tmp_path / "proj"
    sub.mkdir()
    path = sub / "mlayer.toml"
    path.write_text('[deps]\nrequirements = "reqs.txt"\n')
    s = load_settings(path, env={})
    assert s.path(s.deps.requirements) == sub.resolve() / "reqs.txt"
