"""Every value of Settings checked once, each refusal naming the key and where it was set."""

from __future__ import annotations

import re
from typing import Any

from mlayer.config.file_trigger import validate_file_trigger
from mlayer.config.sections import (
    ARCHITECTURES,
    BUILDERS,
    DEAD_LETTER_SCHEMES,
    ENV_PREFIX,
    INPUT_KINDS,
    MAX_PROVISIONED_CONCURRENCY,
    ON_FAILURE_SCHEMES,
    OVERFLOW_SCHEMES,
    SINK_SCHEMES,
    SNAPSTART_RUNTIMES,
    STARTING_POSITIONS,
    SUPPORTED_RUNTIMES,
)
from mlayer.errors import ConfigError
from mlayer.onnx.support import FORMATS

# What Lambda's CreateFunction accepts as Role (its documented pattern).
_ROLE_ARN = re.compile(r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")


def where(key: str, origin: str) -> str:
    """``section.key in <origin>``; from the environment, also the variable that set it."""
    if origin == "environment":
        return f"{key} in environment ({ENV_PREFIX}{key.replace('.', '_').upper()})"
    return f"{key} in {origin}"


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
    "arn:": "an SQS queue, SNS topic or S3 bucket ARN",
    "stdout://": "stdout://",
}


def validate(s: Any, origin: str, *, combinations: bool = True) -> None:
    """Each value, then (``combinations``) the keys that depend on each other: the loader
    skips those while a later layer (the environment) may still set the other key."""

    def at(key: str) -> str:
        return where(key, origin)

    if not s.function.name.strip():
        raise ConfigError(f"{at('function.name')} is empty.", "Name the Lambda function.")
    _choice(s.function.runtime, SUPPORTED_RUNTIMES, at("function.runtime"))
    _choice(s.function.architecture, ARCHITECTURES, at("function.architecture"))
    _between(s.function.memory, 128, 10240, at("function.memory"), " MB")
    _between(s.function.timeout, 1, 900, at("function.timeout"), " s")
    if s.function.role not in ("", "create") and not _ROLE_ARN.fullmatch(s.function.role):
        raise ConfigError(
            f"{at('function.role')} is {s.function.role!r}; it must be an IAM role ARN or "
            '"create" (mlayer-<function>, least privilege).',
            "Set it to the function's role, e.g. arn:aws:iam::123456789012:role/mlayer-predict.",
        )
    _choice(s.deps.builder, BUILDERS, at("deps.builder"))
    for key, value in (("deps.layer", s.deps.layer), ("model.layer", s.model.layer)):
        if not value.strip():
            raise ConfigError(f"{at(key)} is empty.", "Name the layer.")
    _choice(s.model.input, INPUT_KINDS, at("model.input"))
    _choice(s.model.store, ("auto", "layer", "s3"), at("model.store"))
    _choice(s.model.format, FORMATS, at("model.format"))
    if s.artifacts.bucket != s.artifacts.bucket.strip() or s.artifacts.bucket.startswith("s3://"):
        raise ConfigError(
            f"{at('artifacts.bucket')} is {s.artifacts.bucket!r}; it must be a bare bucket name.",
            "Write the name alone (no s3://, no spaces), or leave it empty for "
            "mlayer-<account>-<region>.",
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
    _scheme(
        s.output.dead_letter_overflow,
        OVERFLOW_SCHEMES,
        at("output.dead_letter_overflow"),
        allow_empty=True,
    )
    _between(
        s.function.provisioned_concurrency,
        0,
        MAX_PROVISIONED_CONCURRENCY,
        at("function.provisioned_concurrency"),
    )
    _between(s.prune.keep, 1, 10000, at("prune.keep"))
    _between(s.prune.older_than_days, 0, 36500, at("prune.older_than_days"), " days")
    if combinations:
        published_versions(s, origin)
        validate_file_trigger(s.trigger, s.output, at)


def published_versions(s: Any, origin: str) -> None:
    """Provisioned concurrency and SnapStart act on published versions, through the alias."""
    fn = s.function
    wanted = [
        key
        for key, on in (
            ("function.provisioned_concurrency", fn.provisioned_concurrency > 0),
            ("function.snapstart", fn.snapstart),
        )
        if on
    ]
    if wanted and not s.model.alias.strip():
        raise ConfigError(
            f"{where(wanted[0], origin)} needs [model] alias: it acts on published function "
            "versions, and the alias is what mlayer publishes and moves.",
            'Set [model] alias (e.g. alias = "live", or MLAYER_MODEL_ALIAS=live), or turn '
            f"{wanted[0]} off.",
        )
    if not fn.snapstart:
        return
    if fn.runtime not in SNAPSTART_RUNTIMES:
        raise ConfigError(
            f"{where('function.snapstart', origin)} is true but function.runtime is "
            f"{fn.runtime}: Lambda offers SnapStart for Python from "
            f"{SNAPSTART_RUNTIMES[0]} on.",
            f"Set [function] runtime to one of {', '.join(SNAPSTART_RUNTIMES)}, or snapstart = false.",
        )
    if fn.provisioned_concurrency > 0:
        raise ConfigError(
            f"{where('function.snapstart', origin)} is true and function.provisioned_concurrency "
            f"is {fn.provisioned_concurrency}: Lambda refuses both on one version (provisioned "
            "environments are already initialized; a snapshot would not be used).",
            "Keep one: provisioned_concurrency = 0, or snapstart = false.",
        )
