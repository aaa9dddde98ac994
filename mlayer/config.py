"""mlayer.toml + MLAYER_<SECTION>_<KEY> environment + command flags -> one frozen Settings.

Precedence: a flag beats the environment, which beats the file, which beats the defaults.
Every value is validated here, once, so the rest of mlayer can trust Settings.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlayer.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on python3.10 only
    import tomli as tomllib

DEFAULT_CONFIG = "mlayer.toml"
ENV_PREFIX = "MLAYER_"
SUPPORTED_RUNTIMES = ("python3.10", "python3.11", "python3.12", "python3.13")
ARCHITECTURES = ("x86_64", "arm64")
BUILDERS = ("auto", "docker", "pip")
INPUT_KINDS = ("auto", "text", "features", "record")
STARTING_POSITIONS = ("LATEST", "TRIM_HORIZON")
SINK_SCHEMES = ("dynamodb://", "s3://", "kinesis://", "sqs://", "stdout://")
DEAD_LETTER_SCHEMES = ("sqs://", "s3://")
ON_FAILURE_SCHEMES = ("sqs://", "sns://", "arn:")
# What Lambda's CreateFunction accepts as Role (its documented pattern).
_ROLE_ARN = re.compile(r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")


@dataclass(frozen=True)
class FunctionSettings:
    name: str = "mlayer-predict"
    runtime: str = "python3.12"
    architecture: str = "arm64"
    memory: int = 1024
    timeout: int = 60
    role: str = ""


@dataclass(frozen=True)
class DepsSettings:
    requirements: str = "layers/sklearn/requirements.txt"
    layer: str = "mlayer-predict-deps"
    builder: str = "auto"


@dataclass(frozen=True)
class ModelSettings:
    layer: str = "mlayer-predict-model"
    # Pipeline order: preprocessors first, the estimator with `predict` last.
    artifacts: tuple[str, ...] = ()
    input: str = "auto"
    alias: str = ""


@dataclass(frozen=True)
class ArtifactsSettings:
    bucket: str = "mlayer-artifacts"


@dataclass(frozen=True)
class TriggerSettings:
    stream: str = ""
    batch_size: int = 100
    batching_window: int = 0
    starting_position: str = "LATEST"
    max_retries: int = 3
    max_record_age: int = 3600
    on_failure: str = ""


@dataclass(frozen=True)
class OutputSettings:
    sink: str = "stdout://"
    dead_letter: str = ""


@dataclass(frozen=True)
class AwsSettings:
    """Where AWS is: not in mlayer.toml (it belongs to the machine), from flags and env."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None


@dataclass(frozen=True)
class Settings:
    function: FunctionSettings = field(default_factory=FunctionSettings)
    deps: DepsSettings = field(default_factory=DepsSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    artifacts: ArtifactsSettings = field(default_factory=ArtifactsSettings)
    trigger: TriggerSettings = field(default_factory=TriggerSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    aws: AwsSettings = field(default_factory=AwsSettings)
    source: str = "defaults"  # the file the settings came from, for messages
    root: Path = field(default_factory=Path.cwd)  # relative paths resolve against this

    def path(self, value: str) -> Path:
        """Resolve a path from the config against the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.root / p

    def with_overrides(self, **sections: Mapping[str, Any]) -> Settings:
        """A copy with flag values applied (None means 'not given') and validated again."""
        raw = {
            name: {k: v for k, v in values.items() if v is not None}
            for name, values in sections.items()
        }
        return _build(self, raw, origin="command-line flag")

    def to_dict(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = (
                dataclasses.asdict(value) if dataclasses.is_dataclass(value) else str(value)
            )
        return out


SECTIONS: dict[str, type] = {
    "function": FunctionSettings,
    "deps": DepsSettings,
    "model": ModelSettings,
    "artifacts": ArtifactsSettings,
    "trigger": TriggerSettings,
    "output": OutputSettings,
}


def load_settings(
    config_path: str | os.PathLike | None = None,
    *,
    env: Mapping[str, str] | None = None,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
) -> Settings:
    """Read the file (optional when not named), apply MLAYER_* env, and validate.

    ``config_path`` None means ./mlayer.toml if it exists; a path that was named explicitly
    must exist.
    """
    env = os.environ if env is None else env
    explicit = config_path is not None
    path = Path(config_path if explicit else DEFAULT_CONFIG).expanduser()
    data: dict[str, Any] = {}
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"{path} is not valid TOML: {exc}",
                "Fix the syntax, or run `mlayer init --force` to write a fresh file.",
            ) from exc
        except OSError as exc:
            raise ConfigError(
                f"Cannot read {path}: {exc.strerror}", "Check the file's permissions."
            ) from exc
        source = str(path)
        root = path.resolve().parent
    elif explicit:
        raise ConfigError(
            f"Config file {path} does not exist.",
            "Run `mlayer init` to write one, or drop --config to use ./mlayer.toml and defaults.",
        )
    else:
        source, root = "defaults", Path.cwd()

    base = Settings(source=source, root=root)
    settings = _build(base, data, origin=source)
    env_values = _env_overrides(env)
    if env_values:
        settings = _build(settings, env_values, origin="environment")
    aws = AwsSettings(
        region=region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        profile=profile or env.get("AWS_PROFILE") or None,
        endpoint_url=endpoint_url or env.get("AWS_ENDPOINT_URL") or None,
    )
    return dataclasses.replace(settings, aws=aws)


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            name = f"{ENV_PREFIX}{section.upper()}_{f.name.upper()}"
            if name in env:
                out.setdefault(section, {})[f.name] = env[name]
    return out


def _build(base: Settings, raw: Mapping[str, Any], *, origin: str) -> Settings:
    updates: dict[str, Any] = {}
    for section, values in raw.items():
        if section not in SECTIONS:
            raise ConfigError(
                f"Unknown section [{section}] in {origin}.",
                f"Known sections: {', '.join(SECTIONS)}.",
            )
        if not isinstance(values, Mapping):
            raise ConfigError(
                f"[{section}] in {origin} must be a table.", "Write it as [" + section + "]."
            )
        cls = SECTIONS[section]
        current = getattr(base, section)
        known = {f.name: f for f in dataclasses.fields(cls)}
        changes = {}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(
                    f"Unknown key {section}.{key} in {origin}.",
                    f"Known keys of [{section}]: {', '.join(known)}.",
                )
            changes[key] = _coerce(section, key, value, getattr(current, key), origin)
        updates[section] = dataclasses.replace(current, **changes)
    settings = dataclasses.replace(base, **updates)
    _validate(settings, origin)
    return settings


def _where(key: str, origin: str) -> str:
    """``section.key in <origin>``; from the environment, also the variable that set it."""
    if origin == "environment":
        return f"{key} in environment ({ENV_PREFIX}{key.replace('.', '_').upper()})"
    return f"{key} in {origin}"


def _coerce(section: str, key: str, value: Any, default: Any, origin: str) -> Any:
    where = _where(f"{section}.{key}", origin)
    from_env = isinstance(value, str) and origin == "environment"
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} must be true or false, not {value!r}.", "Use true or false.")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_env or origin == "command-line flag":
            try:
                return int(str(value).strip())
            except ValueError:
                pass
        raise ConfigError(
            f"{where} must be a whole number, not {value!r}.", f"Set {key} = <number>."
        )
    if isinstance(default, tuple):
        if isinstance(value, str) and (from_env or origin == "command-line flag"):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(
            f"{where} must be a list of strings, not {value!r}.", f'Set {key} = ["a", "b"].'
        )
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, not {value!r}.", f'Set {key} = "...".')
    return value


def _choice(value: str, allowed: tuple[str, ...], where: str) -> None:
    if value not in allowed:
        raise ConfigError(
            f"{where} is {value!r}; it must be one of: {', '.join(allowed)}.",
            f"Set it to one of {', '.join(allowed)}.",
        )


def _between(value: int, low: int, high: int, where: str, unit: str = "") -> None:
    if not low <= value <= high:
        raise ConfigError(
            f"{where} is {value}{unit}; it must be between {low} and {high}{unit}.",
            f"Pick a value in {low}..{high}.",
        )


def _scheme(value: str, schemes: tuple[str, ...], where: str, allow_empty: bool) -> None:
    if allow_empty and value == "":
        return
    if not value.startswith(schemes) or value in (
        "s3://",
        "sqs://",
        "dynamodb://",
        "kinesis://",
        "sns://",
    ):
        raise ConfigError(
            f"{where} is {value!r}; it must look like {' or '.join(s + ('…' if s != 'stdout://' else '') for s in schemes)}.",
            "For example " + " or ".join(_EXAMPLES[s] for s in schemes if s in _EXAMPLES) + ".",
        )


_EXAMPLES = {
    "dynamodb://": "dynamodb://predictions",
    "s3://": "s3://bucket/prefix",
    "kinesis://": "kinesis://results",
    "sqs://": "sqs://my-queue",
    "sns://": "sns://my-topic",
    "arn:": "an SQS queue or SNS topic ARN",
    "stdout://": "stdout://",
}


def _validate(s: Settings, origin: str) -> None:
    def at(key: str) -> str:
        return _where(key, origin)

    if not s.function.name.strip():
        raise ConfigError(f"{at('function.name')} is empty.", "Name the Lambda function.")
    _choice(s.function.runtime, SUPPORTED_RUNTIMES, at("function.runtime"))
    _choice(s.function.architecture, ARCHITECTURES, at("function.architecture"))
    _between(s.function.memory, 128, 10240, at("function.memory"), " MB")
    _between(s.function.timeout, 1, 900, at("function.timeout"), " s")
    if s.function.role and not _ROLE_ARN.fullmatch(s.function.role):
        raise ConfigError(
            f"{at('function.role')} is {s.function.role!r}; it must be an IAM role ARN.",
            "Set it to the function's role, e.g. arn:aws:iam::123456789012:role/mlayer-predict.",
        )
    _choice(s.deps.builder, BUILDERS, at("deps.builder"))
    for key, value in (("deps.layer", s.deps.layer), ("model.layer", s.model.layer)):
        if not value.strip():
            raise ConfigError(f"{at(key)} is empty.", "Name the layer.")
    _choice(s.model.input, INPUT_KINDS, at("model.input"))
    if not s.artifacts.bucket.strip():
        raise ConfigError(
            f"{at('artifacts.bucket')} is empty.", "Name an S3 bucket for layer zips."
        )
    t = s.trigger
    _between(t.batch_size, 1, 10000, at("trigger.batch_size"))
    _between(t.batching_window, 0, 300, at("trigger.batching_window"), " s")
    _choice(t.starting_position, STARTING_POSITIONS, at("trigger.starting_position"))
    # Lambda's own defaults (-1: forever) let one poison record stall a shard: mlayer wants finite.
    _between(t.max_retries, 0, 10000, at("trigger.max_retries"))
    _between(t.max_record_age, 60, 604800, at("trigger.max_record_age"), " s")
    _scheme(t.on_failure, ON_FAILURE_SCHEMES, at("trigger.on_failure"), allow_empty=True)
    _scheme(s.output.sink, SINK_SCHEMES, at("output.sink"), allow_empty=False)
    _scheme(s.output.dead_letter, DEAD_LETTER_SCHEMES, at("output.dead_letter"), allow_empty=True)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


_COMMENTS = {
    "function.name": "the Lambda function",
    "function.runtime": "python3.10 .. python3.13",
    "function.architecture": "arm64 | x86_64",
    "function.memory": "MB, 128..10240",
    "function.timeout": "s, 1..900",
    "function.role": "IAM role ARN, needed by deploy-function",
    "deps.requirements": "what the dependencies layer installs",
    "deps.layer": "name of the dependencies layer",
    "deps.builder": "auto | docker | pip",
    "model.layer": "name of the model layer",
    "model.artifacts": "pipeline in order, preprocessors first, the model last",
    "model.input": "auto | text | features | record",
    "model.alias": "function alias moved by publish-model/rollback (empty: none)",
    "artifacts.bucket": "S3 bucket for layer zips, locks and manifests (created if absent)",
    "trigger.stream": "Kinesis stream name or ARN",
    "trigger.batch_size": "records per invocation, 1..10000",
    "trigger.batching_window": "s, 0..300",
    "trigger.starting_position": "LATEST | TRIM_HORIZON",
    "trigger.max_retries": "finite: one poison record must not stall a shard",
    "trigger.max_record_age": "s, 60..604800",
    "trigger.on_failure": "sqs:// or sns:// destination for what Lambda gives up on",
    "output.sink": "dynamodb://T | s3://B/P | kinesis://S | sqs://Q | stdout://",
    "output.dead_letter": "sqs://Q | s3://B/P for records that can never succeed",
}

_SECTION_HEADERS = {
    "function": "The Lambda function that serves predictions",
    "deps": "The dependencies layer (mlayer build-deps)",
    "model": "The model layer (mlayer publish-model / rollback)",
    "artifacts": "Where mlayer keeps what it publishes",
    "trigger": "The Kinesis event-source mapping (mlayer deploy-function)",
    "output": "Where the function writes (MLAYER_OUTPUT_SINK / MLAYER_OUTPUT_DEAD_LETTER)",
}


def render_toml(settings: Settings) -> str:
    """A commented mlayer.toml holding every key (env MLAYER_<SECTION>_<KEY> overrides each)."""
    lines = [
        "# mlayer configuration. Any key can be overridden by MLAYER_<SECTION>_<KEY> in the",
        "# environment (e.g. MLAYER_FUNCTION_NAME), and a command flag overrides both.",
    ]
    for section, cls in SECTIONS.items():
        lines += ["", f"# {_SECTION_HEADERS[section]}", f"[{section}]"]
        values = getattr(settings, section)
        for f in dataclasses.fields(cls):
            assignment = f"{f.name} = {_toml_value(getattr(values, f.name))}"
            comment = _COMMENTS.get(f"{section}.{f.name}")
            lines.append(f"{assignment:<40} # {comment}" if comment else assignment)
    return "\n".join(lines) + "\n"
