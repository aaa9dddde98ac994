"""One request per command: what the user asked for, built once by the CLI and passed down.

Settings say *where* (function, layers, bucket, after flags like --function are applied);
a request says *what this run does*. Defaults from mlayer.toml (the [model] artifacts, the
[model] alias) are resolved by the command module that uses them, never here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, kw_only=True)
class InitRequest:
    path: str | Path = "mlayer.toml"
    force: bool = False
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class BuildDepsRequest:
    output: str | Path = "build"
    publish: bool = False
    slim: bool = True
    compile: bool = True
    force: bool = False
    cache_dir: str | Path | None = None
    budget_bytes: int | None = None
    allow_missing_libs: tuple[str, ...] = ()  # sonames Lambda will find without the layer


@dataclass(frozen=True, kw_only=True)
class RelinkRequest:
    """What publish-model and rollback share: the alias to move, the version check, dry run."""

    alias: str | None = None  # None: [model] alias
    allow_version_mismatch: bool = False
    dry_run: bool = False


@dataclass(frozen=True, kw_only=True)
class PublishRequest(RelinkRequest):
    model: str | Path | None = None  # None: [model] artifacts (the model last)
    preprocessors: tuple[str | Path, ...] = ()
    code_files: tuple[str | Path, ...] = ()
    label: str | None = None
    input_kind: str | None = None  # None: [model] input
    description: str = ""
    metrics: str | Path | None = None  # a JSON file
    link: bool = True
    store: str | None = None  # auto | layer | s3; None: [model] store (model_store.py)
    sample: str | Path | None = None  # JSON lines of input records (the self-check, the ONNX gate)
    format: str | None = None  # sklearn | onnx; None: [model] format
    parity_tolerance: float | None = None  # onnx: accept differences up to this (manifest)
    trust: tuple[str, ...] = ()  # MODULE.NAME globals accepted beyond the pickle allowlist
    rollout: str | None = None  # all-at-once | canary | linear; None: [rollout] strategy
    percent: float | None = None  # None: [rollout] percent
    interval: str | None = None  # None: [rollout] interval
    wait: bool = True  # False (--no-wait): start the rollout and return; `rollout resume` drives
    shadow: bool = False  # --shadow: attach as the function's shadow instead of relinking


@dataclass(frozen=True, kw_only=True)
class RollbackRequest(RelinkRequest):
    version: int | None = None
    previous: bool = False


@dataclass(frozen=True, kw_only=True)
class HistoryRequest:
    alias: str | None = None  # None: [model] alias


@dataclass(frozen=True, kw_only=True)
class PruneRequest:
    keep: int | None = None  # None: [prune] keep
    older_than_days: int | None = None  # None: [prune] older_than_days
    deps: bool = False  # also the dependencies layer's versions nothing carries
    dry_run: bool = False


@dataclass(frozen=True, kw_only=True)
class DeployRequest:
    dry_run: bool = False
    allow_version_mismatch: bool = False
    create_role: bool = False  # --create-role: as [function] role = "create"


@dataclass(frozen=True, kw_only=True)
class InvokeRequest:
    event_file: str | Path | None = None
    function: str | None = None
    repeat: int = 1
    local: bool = True
    s3: str | None = None  # --s3 s3://B/KEY: the S3 event for that object (local/file_invoke.py)


@dataclass(frozen=True, kw_only=True)
class PollRequest:
    stream: str | None = None
    function: str | None = None
    batch_size: int | None = None
    max_batches: int | None = None
    until_empty: bool = False
    local: bool = True


@dataclass(frozen=True, kw_only=True)
class RolloutRequest:
    action: str  # status | resume | abort
    alias: str | None = None  # None: [model] alias


@dataclass(frozen=True, kw_only=True)
class ShadowRequest:
    action: str  # status | promote | stop
    alias: str | None = None  # None: [model] alias
    dry_run: bool = False
    window_s: int = 3600  # status: the length of each window
    rollout: str | None = None  # promote: canary | linear (a rollout), None: relink at once
    percent: float | None = None  # None: [rollout] percent
    interval: str | None = None  # None: [rollout] interval
    wait: bool = True  # False (--no-wait): start the rollout and return
