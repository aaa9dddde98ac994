"""A commented mlayer.toml holding every key, for `mlayer init`."""

from __future__ import annotations

import dataclasses
from typing import Any

from mlayer.config.sections import SECTIONS, Settings


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
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
    "function.provisioned_concurrency": "on the alias; needs [model] alias (0: none)",
    "function.snapstart": "python3.12+; on published versions; needs [model] alias",
    "deps.requirements": "what the dependencies layer installs",
    "deps.layer": "name of the dependencies layer",
    "deps.builder": "auto | docker | pip",
    "model.layer": "name of the model layer",
    "model.artifacts": "pipeline in order, preprocessors first, the model last",
    "model.input": "auto | text | features | record | table",
    "model.alias": "function alias moved by publish-model/rollback (empty: none)",
    "model.store": "auto | layer | s3 (big models: the layer holds the manifest)",
    "model.format": "sklearn | onnx (onnx: python3.12+, checked against --sample)",
    "model.shadow_sample": "publish-model --shadow: the share of batches the candidate sees (0..1]",
    "artifacts.bucket": "S3 bucket for zips, locks, manifests; empty: mlayer-<account>-<region>",
    "trigger.stream": "Kinesis stream name or ARN",
    "trigger.batch_size": "records per invocation, 1..10000",
    "trigger.batching_window": "s, 0..300",
    "trigger.starting_position": "LATEST | TRIM_HORIZON",
    "trigger.max_retries": "finite: one poison record must not stall a shard",
    "trigger.max_record_age": "s, 60..604800",
    "trigger.on_failure": "sqs://, sns:// or s3:// for what Lambda gives up on (empty: the "
    "dead-letter queue, else the artifact bucket)",
    "output.sink": "dynamodb://T | s3://B/P | kinesis://S | sqs://Q | stdout://",
    "output.dead_letter": "sqs://Q | s3://B/P for records that can never succeed",
    "output.dead_letter_overflow": "s3://B/P for dead letters too big for their sink "
    "(empty: the artifact bucket, dead-letters/)",
    "prune.keep": "newest model and function versions mlayer prune always keeps (1..10000)",
    "prune.older_than_days": "and nothing younger than this goes (0..36500)",
    "rollout.strategy": "all-at-once | canary | linear",
    "rollout.percent": "canary: P% then 100%; linear: +P% per step",
    "rollout.interval": "how long each step is watched (30s, 5m, 1h)",
    "rollout.min_records": "records each version must handle in a step before a gate passes",
    "rollout.max_extensions": "a step short of records is watched again this often, then fails",
    "rollout.max_error_increase": "gate: new error rate minus the old one's",
    "rollout.max_dead_letter_increase": "gate: new dead-lettered share minus the old one's",
    "rollout.max_latency_ratio": "gate: new p99 Duration over the old one's",
    "rollout.latency_slack_ms": "and at least this many ms slower",
    "rollout.max_psi": "gate: population stability index of the predictions",
    "rollout.metric_period": "how long CloudWatch's metrics take to be complete",
}

_SECTION_HEADERS = {
    "function": "The Lambda function that serves predictions",
    "deps": "The dependencies layer (mlayer build-deps)",
    "model": "The model layer (mlayer publish-model / rollback)",
    "artifacts": "Where mlayer keeps what it publishes",
    "trigger": "The Kinesis event-source mapping (mlayer deploy-function)",
    "output": "Where the function writes (MLAYER_OUTPUT_SINK / MLAYER_OUTPUT_DEAD_LETTER)",
    "prune": "What mlayer prune keeps (MLAYER_PRUNE_KEEP / MLAYER_PRUNE_OLDER_THAN_DAYS)",
    "rollout": "publish-model --rollout: traffic moved by steps, each judged (needs [model] alias)",
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
