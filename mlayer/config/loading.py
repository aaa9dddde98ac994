"""Reading mlayer.toml and MLAYER_<SECTION>_<KEY>, coercing each value to its key's type.

Precedence: a flag beats the environment, which beats the file, which beats the defaults.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlayer.config.sections import (
    DEFAULT_CONFIG,
    ENV_PREFIX,
    SECTIONS,
    AwsSettings,
    Settings,
)
from mlayer.config.validation import validate, where
from mlayer.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on python3.10 only
    import tomli as tomllib


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
    env_values = _env_overrides(env)
    # Keys that depend on each other are checked once the environment had its say.
    settings = build(base, data, origin=source, combinations=not env_values)
    if env_values:
        settings = build(settings, env_values, origin="environment")
    aws = AwsSettings(
        region=region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        profile=profile or env.get("AWS_PROFILE") or None,
        endpoint_url=endpoint_url or env.get("AWS_ENDPOINT_URL") or None,
        **aws_limits(env),
    )
    return dataclasses.replace(settings, aws=aws)


# MLAYER_AWS_* (the machine's network, not the project: never in mlayer.toml) -> (key, max).
AWS_LIMITS = {
    "MLAYER_AWS_CONNECT_TIMEOUT": ("connect_timeout", 3600),
    "MLAYER_AWS_READ_TIMEOUT": ("read_timeout", 3600),
    "MLAYER_AWS_MAX_ATTEMPTS": ("max_attempts", 20),
}


def aws_limits(env: Mapping[str, str]) -> dict[str, Any]:
    """Timeouts (s) and attempts from MLAYER_AWS_*; the defaults of AwsSettings when unset."""
    out: dict[str, Any] = {}
    for name, (key, high) in AWS_LIMITS.items():
        raw = (env.get(name) or "").strip()
        if not raw:
            continue
        try:
            value = int(raw) if key == "max_attempts" else float(raw)
        except ValueError:
            value = None
        if value is None or not 0 < value <= high:
            kind = "a whole number" if key == "max_attempts" else "a number of seconds"
            raise ConfigError(
                f"{name} is {raw!r}; it must be {kind} above 0 and at most {high}.",
                f"Unset {name} for the default ({getattr(AwsSettings, key)}), or set e.g. "
                f"{name}={getattr(AwsSettings, key)}.",
            )
        out[key] = value
    return out


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            name = f"{ENV_PREFIX}{section.upper()}_{f.name.upper()}"
            if name in env:
                out.setdefault(section, {})[f.name] = env[name]
    return out


def with_overrides(settings: Settings, **sections: Mapping[str, Any]) -> Settings:
    """A copy of ``settings`` with flag values applied (None means 'not given'), validated
    again. A function here, not a Settings method: validation reads sections, not the reverse."""
    raw = {
        name: {k: v for k, v in values.items() if v is not None}
        for name, values in sections.items()
    }
    return build(settings, raw, origin="command-line flag")


def build(
    base: Settings, raw: Mapping[str, Any], *, origin: str, combinations: bool = True
) -> Settings:
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
            changes[key] = coerce(section, key, value, getattr(current, key), origin)
        updates[section] = dataclasses.replace(current, **changes)
    settings = dataclasses.replace(base, **updates)
    validate(settings, origin, combinations=combinations)
    return settings


_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


def coerce(section: str, key: str, value: Any, default: Any, origin: str) -> Any:
    at = where(f"{section}.{key}", origin)
    from_env = isinstance(value, str) and origin == "environment"
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if from_env or origin == "command-line flag":
            word = str(value).strip().lower()
            if word in _TRUE or word in _FALSE:
                return word in _TRUE
        raise ConfigError(f"{at} must be true or false, not {value!r}.", "Use true or false.")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_env or origin == "command-line flag":
            try:
                return int(str(value).strip())
            except ValueError:
                pass
        raise ConfigError(f"{at} must be a whole number, not {value!r}.", f"Set {key} = <number>.")
    if isinstance(default, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if from_env or origin == "command-line flag":
            try:
                return float(str(value).strip())
            except ValueError:
                pass
        raise ConfigError(f"{at} must be a number, not {value!r}.", f"Set {key} = <number>.")
    if isinstance(default, tuple):
        if isinstance(value, str) and (from_env or origin == "command-line flag"):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return tuple(value)
        raise ConfigError(
            f"{at} must be a list of strings, not {value!r}.", f'Set {key} = ["a", "b"].'
        )
    if not isinstance(value, str):
        raise ConfigError(f"{at} must be a string, not {value!r}.", f'Set {key} = "...".')
    return value
