"""The shape of mlayer.toml: one frozen dataclass per section, with the defaults of the design."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from mlayer.model.manifest import INPUT_KINDS as MODEL_INPUT_KINDS

DEFAULT_CONFIG = "mlayer.toml"
ENV_PREFIX = "MLAYER_"
SUPPORTED_RUNTIMES = ("python3.10", "python3.11", "python3.12", "python3.13")
ARCHITECTURES = ("x86_64", "arm64")
BUILDERS = ("auto", "docker", "pip")
INPUT_KINDS = ("auto", *MODEL_INPUT_KINDS)  # the manifest's kinds, plus auto-detection
STARTING_POSITIONS = ("LATEST", "TRIM_HORIZON")
SINK_SCHEMES = ("dynamodb://", "s3://", "kinesis://", "sqs://", "stdout://")
DEAD_LETTER_SCHEMES = ("sqs://", "s3://")
ON_FAILURE_SCHEMES = ("sqs://", "sns://", "s3://", "arn:")
OVERFLOW_SCHEMES = ("s3://",)
# The function reads its overflow location from this variable (deploy-function sets it).
FUNCTION_DEAD_LETTER_OVERFLOW_ENV = "MLAYER_DEAD_LETTER_OVERFLOW"
DEAD_LETTER_PREFIX = "dead-letters/"
# SnapStart: the runtimes that have it, and the largest /tmp it allows (MB).
SNAPSTART_RUNTIMES = ("python3.12", "python3.13")
SNAPSTART_MAX_TMP_MB = 512
MAX_PROVISIONED_CONCURRENCY = 10_000


@dataclass(frozen=True)
class FunctionSettings:
    name: str = "mlayer-predict"
    runtime: str = "python3.12"
    architecture: str = "arm64"
    memory: int = 1024
    timeout: int = 60
    role: str = ""
    # Both act on published versions, so both need [model] alias (validation.py).
    provisioned_concurrency: int = 0  # environments kept initialized on the alias; 0: none
    snapstart: bool = False  # SnapStart on published versions (python3.12+)


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
    store: str = "auto"  # auto | layer | s3 (model_store.py)
    format: str = "sklearn"  # sklearn | onnx (mlayer.onnx.support.FORMATS)
    shadow_sample: float = 1.0  # publish-model --shadow: the share of batches the candidate sees


@dataclass(frozen=True)
class ArtifactsSettings:
    # Empty: mlayer-<account>-<region> (S3 names are global: a fixed default is someone else's).
    bucket: str = ""


@dataclass(frozen=True)
class TriggerSettings:
    stream: str = ""
    batch_size: int = 100
    batching_window: int = 0
    starting_position: str = "LATEST"
    max_retries: int = 3
    max_record_age: int = 3600
    on_failure: str = ""
    s3: str = ""  # s3://bucket/prefix/: score objects created there (file_trigger.py)
    s3_suffixes: tuple[str, ...] = (".csv", ".jsonl")
    chunk_records: int = 5000  # rows per vectorized predict when scoring a file


@dataclass(frozen=True)
class OutputSettings:
    sink: str = "stdout://"
    dead_letter: str = ""
    # s3://B/P for dead letters too big for their sink; empty: the artifact bucket, dead-letters/
    dead_letter_overflow: str = ""


@dataclass(frozen=True)
class PruneSettings:
    """`mlayer prune`: a version goes only when outside the newest ``keep`` AND older than this."""

    keep: int = 10  # newest model (and function) versions always kept
    older_than_days: int = 14  # and nothing younger than this goes


@dataclass(frozen=True)
class RolloutSettings:
    """publish-model --rollout: how traffic moves to a new version and the gates it must pass
    (docs/FORMATS.md lists each key; checked by mlayer/rollout/settings.py)."""

    strategy: str = "all-at-once"  # all-at-once | canary | linear
    percent: float = 10.0  # canary: P% then 100%; linear: +P% per step
    interval: str = "5m"  # how long each step is watched
    min_records: int = 100  # records each version must handle in a step before a gate passes
    max_extensions: int = 3  # a step short of records is watched again this often, then fails
    max_error_increase: float = 0.01  # new version's error rate minus the old one's
    max_dead_letter_increase: float = 0.05  # its dead-lettered share minus the old one's
    max_latency_ratio: float = 1.5  # its p99 Duration over the old one's
    latency_slack_ms: float = 25.0  # and at least this many ms slower
    max_psi: float = 0.2  # population stability index of its predictions against the old's
    metric_period: str = "1m"  # how long CloudWatch's metrics take to be complete


@dataclass(frozen=True)
class AwsSettings:
    """Where AWS is: not in mlayer.toml (it belongs to the machine), from flags and env."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    # Chosen for a CLI: an endpoint that never answers is reported in about 30 s (2 x 15 s).
    connect_timeout: float = 5.0  # s, MLAYER_AWS_CONNECT_TIMEOUT
    read_timeout: float = 15.0  # s, MLAYER_AWS_READ_TIMEOUT
    max_attempts: int = 2  # the first try included, MLAYER_AWS_MAX_ATTEMPTS


@dataclass(frozen=True)
class Settings:
    function: FunctionSettings = field(default_factory=FunctionSettings)
    deps: DepsSettings = field(default_factory=DepsSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    artifacts: ArtifactsSettings = field(default_factory=ArtifactsSettings)
    trigger: TriggerSettings = field(default_factory=TriggerSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    prune: PruneSettings = field(default_factory=PruneSettings)
    rollout: RolloutSettings = field(default_factory=RolloutSettings)
    aws: AwsSettings = field(default_factory=AwsSettings)
    source: str = "defaults"  # the file the settings came from, for messages
    root: Path = field(default_factory=Path.cwd)  # relative paths resolve against this

    def path(self, value: str) -> Path:
        """Resolve a path from the config against the config file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.root / p

    def with_bucket(self, bucket: str) -> Settings:
        """A copy whose artifact bucket is ``bucket`` (the default, once the account is known)."""
        if bucket == self.artifacts.bucket:
            return self
        return dataclasses.replace(
            self, artifacts=dataclasses.replace(self.artifacts, bucket=bucket)
        )

    def dead_letter_overflow_url(self) -> str:
        """Where the function puts dead letters too big for their sink (the value of
        MLAYER_DEAD_LETTER_OVERFLOW): [output] dead_letter_overflow, else the artifact bucket
        under dead-letters/ (name the bucket first: ``with_bucket``)."""
        if self.output.dead_letter_overflow:
            return self.output.dead_letter_overflow
        if not self.artifacts.bucket:
            raise ValueError("the artifact bucket is not named yet: call with_bucket first")
        return f"s3://{self.artifacts.bucket}/{DEAD_LETTER_PREFIX}"

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
    "prune": PruneSettings,
    "rollout": RolloutSettings,
}
