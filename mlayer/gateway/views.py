"""What Lambda answers, as small frozen views; what mlayer asks of it, as typed specs.

Each view is parsed from the AWS answer here, in one place, and holds only the fields mlayer
reads; nothing outside the gateway (and mlayer/local/, the emulated AWS) reads an AWS response
key or spells a boto3 keyword. Pure: no boto3, so the pure modules (deploy_plan.py...) build
and compare these without loading it.

The specs' ``as_dict`` keys are AWS's names because deploy-function's ``--json`` shows its plan
in them (``configuration``, ``settings``, the changes' ``key``): that contract is kept here too.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from mlayer.model.packaging import code_sha256_to_hex

SNAPSTART_OFF = "None"
DEFAULT_ARCHITECTURE = "x86_64"
# deploy-function's change labels that are not a FunctionSpec field of the same name.
TMP_KEY = "EphemeralStorage"
RETARGET_KEY = "FunctionName"


def _hex(b64: Any) -> str:
    return code_sha256_to_hex(str(b64)) if b64 else ""


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class LayerRef:
    """A layer a function carries: its version ARN and the zip's size AWS reports."""

    arn: str
    code_size: int = 0


# What differs between $LATEST and a published version of it without changing what it serves
# (the relink's reuse of a version): everything else in the answer must be equal.
_PER_VERSION = frozenset(
    {
        "Version",
        "FunctionArn",
        "LastModified",
        "RevisionId",
        "Description",
        "State",
        "StateReason",
        "StateReasonCode",
        "LastUpdateStatus",
        "LastUpdateStatusReason",
        "LastUpdateStatusReasonCode",
        "RuntimeVersionConfig",
        "MasterArn",
        "ResponseMetadata",
        "Layers",
        "SnapStart",
    }
)


@dataclass(frozen=True)
class FunctionConfig:
    """GetFunctionConfiguration's answer (also a version's, and a write's): the fields mlayer
    reads. Absent values stay None ("" for strings), as partial answers (Stubber's) leave them."""

    name: str = ""
    arn: str = ""
    version: str | None = None
    runtime: str | None = None
    handler: str | None = None
    architectures: tuple[str, ...] = ()
    memory: int | None = None
    timeout: int | None = None
    role: str | None = None
    layers: tuple[LayerRef, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    snapstart: str = SNAPSTART_OFF  # SnapStart's ApplyOn
    tmp_mb: int | None = None  # EphemeralStorage's Size
    code_sha256: str = ""  # hex
    code_size: int = 0
    revision_id: str | None = None
    state: str | None = None
    state_reason: str | None = None
    state_reason_code: str | None = None
    update_status: str | None = None  # LastUpdateStatus
    update_reason: str | None = None
    update_reason_code: str | None = None
    # What makes two versions serve alike beyond layers and SnapStart (see _PER_VERSION).
    fingerprint: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @classmethod
    def parse(cls, answer: Mapping[str, Any]) -> FunctionConfig:
        storage = answer.get("EphemeralStorage") or {}
        return cls(
            name=str(answer.get("FunctionName") or ""),
            arn=str(answer.get("FunctionArn") or ""),
            version=None if answer.get("Version") is None else str(answer["Version"]),
            runtime=answer.get("Runtime"),
            handler=answer.get("Handler"),
            architectures=tuple(answer.get("Architectures") or ()),
            memory=_int(answer.get("MemorySize")),
            timeout=_int(answer.get("Timeout")),
            role=answer.get("Role"),
            layers=tuple(
                LayerRef(str(layer["Arn"]), int(layer.get("CodeSize") or 0))
                for layer in answer.get("Layers") or []
            ),
            environment=dict((answer.get("Environment") or {}).get("Variables") or {}),
            snapstart=str((answer.get("SnapStart") or {}).get("ApplyOn") or SNAPSTART_OFF),
            tmp_mb=_int(storage.get("Size")),
            code_sha256=_hex(answer.get("CodeSha256")),
            code_size=int(answer.get("CodeSize") or 0),
            revision_id=answer.get("RevisionId"),
            state=answer.get("State"),
            state_reason=answer.get("StateReason"),
            state_reason_code=answer.get("StateReasonCode"),
            update_status=answer.get("LastUpdateStatus"),
            update_reason=answer.get("LastUpdateStatusReason"),
            update_reason_code=answer.get("LastUpdateStatusReasonCode"),
            fingerprint=tuple(
                sorted((k, repr(v)) for k, v in answer.items() if k not in _PER_VERSION)
            ),
        )

    @property
    def layer_arns(self) -> tuple[str, ...]:
        return tuple(layer.arn for layer in self.layers)

    @property
    def updatable(self) -> bool:
        """No update in progress and not Pending: Lambda accepts the next update."""
        return self.update_status != "InProgress" and self.state != "Pending"

    def relinked(self, layers: Sequence[str], tmp_mb: int | None = None) -> FunctionConfig:
        """This configuration as a relink to ``layers`` (and /tmp, when given) leaves it: what a
        published version must carry to be reused for that relink (serves_like)."""
        prints = dict(self.fingerprint)
        if tmp_mb:
            prints[TMP_KEY] = repr({"Size": tmp_mb})
        return replace(
            self,
            layers=tuple(LayerRef(arn) for arn in layers),
            tmp_mb=tmp_mb or self.tmp_mb,
            fingerprint=tuple(sorted(prints.items())),
        )

    def serves_like(self, other: FunctionConfig) -> bool:
        """Same code, layers (in order), SnapStart and settings: one can stand for the other."""
        return (self.layer_arns, self.snapstart, self.fingerprint) == (
            other.layer_arns,
            other.snapstart,
            other.fingerprint,
        )


@dataclass(frozen=True)
class LayerVersion:
    """A layer version as ListLayerVersions lists it; GetLayerVersion adds sha256 and size."""

    arn: str
    version: int
    description: str = ""
    created: str = ""
    code_sha256: str = ""  # hex; "" when only listed
    code_size: int | None = None  # None when only listed

    @classmethod
    def parse(cls, answer: Mapping[str, Any]) -> LayerVersion:
        content = answer.get("Content") or {}
        size = content.get("CodeSize")
        return cls(
            arn=str(answer["LayerVersionArn"]),
            version=int(answer["Version"]),
            description=str(answer.get("Description") or ""),
            created=str(answer.get("CreatedDate") or ""),
            code_sha256=_hex(content.get("CodeSha256")),
            code_size=None if size is None else int(size),
        )


@dataclass(frozen=True)
class Alias:
    """An alias: the version it points to, its RevisionId, its canary weights."""

    name: str
    function_version: str
    revision_id: str | None = None
    weights: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, answer: Mapping[str, Any]) -> Alias:
        routing = (answer.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
        return cls(
            name=str(answer.get("Name") or ""),
            function_version=str(answer.get("FunctionVersion") or ""),
            revision_id=answer.get("RevisionId"),
            weights={str(k): float(w) for k, w in routing.items()},
        )


@dataclass(frozen=True)
class TriggerSpec:
    """An event-source mapping's settings mlayer owns (``StartingPosition`` only on create)."""

    batch_size: int | None
    batching_window: int | None
    response_types: tuple[str, ...]
    bisect: bool | None
    max_retries: int | None
    max_record_age: int | None
    on_failure: str | None  # the destination's ARN
    starting_position: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """In AWS's names: deploy-function's ``--json`` ``settings`` and its changes' keys."""
        out: dict[str, Any] = {
            "BatchSize": self.batch_size,
            "MaximumBatchingWindowInSeconds": self.batching_window,
            "FunctionResponseTypes": list(self.response_types),
            "BisectBatchOnFunctionError": self.bisect,
            "MaximumRetryAttempts": self.max_retries,
            "MaximumRecordAgeInSeconds": self.max_record_age,
            "DestinationConfig": {"OnFailure": {"Destination": self.on_failure}}
            if self.on_failure
            else {"OnFailure": {}},
        }
        if self.starting_position is not None:
            out["StartingPosition"] = self.starting_position
        return out


@dataclass(frozen=True)
class EventSourceMapping:
    """A mapping as Lambda lists it: its source, target and the settings mlayer compares."""

    uuid: str
    source_arn: str
    function_arn: str
    starting_position: str | None
    settings: TriggerSpec

    @classmethod
    def parse(cls, answer: Mapping[str, Any]) -> EventSourceMapping:
        destination = ((answer.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
            "Destination"
        )
        return cls(
            uuid=str(answer["UUID"]),
            source_arn=str(answer.get("EventSourceArn") or ""),
            function_arn=str(answer.get("FunctionArn") or ""),
            starting_position=answer.get("StartingPosition"),
            settings=TriggerSpec(
                batch_size=answer.get("BatchSize"),
                batching_window=answer.get("MaximumBatchingWindowInSeconds"),
                response_types=tuple(answer.get("FunctionResponseTypes") or ()),
                bisect=answer.get("BisectBatchOnFunctionError"),
                max_retries=answer.get("MaximumRetryAttempts"),
                max_record_age=answer.get("MaximumRecordAgeInSeconds"),
                on_failure=destination or None,
            ),
        )


@dataclass(frozen=True)
class FunctionSpec:
    """A function's configuration as deploy-function wants it (or as it is, ``of``)."""

    runtime: str | None
    handler: str | None
    architectures: tuple[str, ...]
    memory: int | None
    timeout: int | None
    role: str | None
    layers: tuple[str, ...]
    environment: Mapping[str, str]
    snapstart: str | None = None  # None: not sent (off and never turned on)
    tmp_mb: int | None = None  # None: not sent (left as it is)

    @classmethod
    def of(cls, config: FunctionConfig) -> FunctionSpec:
        """The comparable part of a live configuration (AWS leaves out x86_64 and SnapStart)."""
        return cls(
            runtime=config.runtime,
            handler=config.handler,
            architectures=config.architectures or (DEFAULT_ARCHITECTURE,),
            memory=config.memory,
            timeout=config.timeout,
            role=config.role,
            layers=config.layer_arns,
            environment=dict(config.environment),
            snapstart=config.snapstart,
        )

    def with_tmp(self, size_mb: int) -> FunctionSpec:
        return replace(self, tmp_mb=size_mb)

    def as_dict(self) -> dict[str, Any]:
        """In AWS's names, in this order: deploy-function's ``--json`` ``configuration`` and
        its changes' keys. SnapStart and EphemeralStorage only when sent."""
        out: dict[str, Any] = {
            "Runtime": self.runtime,
            "Handler": self.handler,
            "Architectures": list(self.architectures),
            "MemorySize": self.memory,
            "Timeout": self.timeout,
            "Role": self.role,
            "Layers": list(self.layers),
            "Environment": dict(self.environment),
        }
        if self.snapstart is not None:
            out["SnapStart"] = self.snapstart
        if self.tmp_mb is not None:
            out[TMP_KEY] = self.tmp_mb
        return out

    def differences(self, current: FunctionSpec) -> tuple[tuple[str, Any, Any], ...]:
        """(key, before, after) for every key this spec sends that ``current`` differs in."""
        now = current.as_dict()
        return tuple((k, now.get(k), v) for k, v in self.as_dict().items() if now.get(k) != v)

    def agrees(self, config: FunctionConfig, keys: Collection[str]) -> bool:
        """The live configuration has this spec's values for ``keys`` (what an update sent)."""
        live, want = FunctionSpec.of(config).as_dict(), self.as_dict()
        return all(live.get(k) == want.get(k) for k in keys)
