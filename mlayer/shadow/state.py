"""A function's shadow: where it is recorded and how the function learns of it.

The function learns of its candidate from two variables on its configuration (set on $LATEST,
then on the alias's new version when [model] alias is set): ``MLAYER_SHADOW_LAYER`` =
``s3://<bucket>/layers/<zip sha256>.zip#<zip sha256>`` (the candidate's model layer zip, as
publish-model stored it) and ``MLAYER_SHADOW_SAMPLE``. What mlayer reads back (status, history,
promote, prune) is the state file ``shadows/<function>/shadow.json`` in the artifact bucket;
its ``status`` is ``active``, ``stopped`` or ``promoted`` (prune_read.py: finished states
protect nothing). docs/FORMATS.md, "Shadow".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlayer.gateway.views import FunctionConfig

ENV_LAYER = "MLAYER_SHADOW_LAYER"
ENV_SAMPLE = "MLAYER_SHADOW_SAMPLE"
ACTIVE, STOPPED, PROMOTED = "active", "stopped", "promoted"
SCHEMA = 1


def state_key(function: str) -> str:
    return f"shadows/{function}/shadow.json"


def layer_uri(bucket: str, zip_sha256: str) -> str:
    return f"s3://{bucket}/layers/{zip_sha256}.zip#{zip_sha256}"


def environment(config: FunctionConfig | None) -> dict[str, str]:
    """The function's variables (none when there is no function)."""
    return dict(config.environment) if config else {}


def with_shadow(env: Mapping[str, str], uri: str | None, sample: float = 1.0) -> dict[str, str]:
    """``env`` with the shadow's variables set (``uri`` None: removed), others left alone."""
    out = {k: v for k, v in env.items() if k not in (ENV_LAYER, ENV_SAMPLE)}
    if uri:
        out[ENV_LAYER] = uri
        out[ENV_SAMPLE] = format(sample, "g")
    return out


@dataclass(frozen=True)
class ShadowState:
    """The state file: the candidate, the live model it was attached beside, and how it ended."""

    function: str
    status: str
    layer_version_arn: str  # the candidate's model layer version (promote links it)
    model_version: str  # the candidate's label
    zip_sha256: str
    content_sha256: str
    live_layer_version_arn: str
    live_model_version: str
    sample: float
    started_at: str
    classes: tuple[str, ...] = ()  # empty: a regressor
    alias: str = ""
    function_version: str = ""  # the version the alias got with the shadow on it
    ended_at: str = ""
    note: str = ""
    schema_version: int = SCHEMA

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    @property
    def classifier(self) -> bool:
        return bool(self.classes)

    def ended(self, status: str, at: str, note: str = "") -> ShadowState:
        return dataclasses.replace(self, status=status, ended_at=at, note=note)

    def to_dict(self) -> dict:
        doc = dataclasses.asdict(self)
        doc["classes"] = list(self.classes)
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ShadowState:
        names = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in doc.items() if k in names}
        fields["classes"] = tuple(str(c) for c in fields.get("classes") or ())
        fields["sample"] = float(fields.get("sample") or 1.0)
        return cls(**fields)


def load(gw: Any, bucket: str, function: str) -> ShadowState | None:
    """The function's shadow state, or None when it never had one."""
    doc = gw.get_json_if_exists(bucket, state_key(function))
    if not isinstance(doc, dict) or doc.get("function") != function:
        return None
    try:
        return ShadowState.from_dict(doc)
    except (TypeError, ValueError):
        return None


def save(gw: Any, bucket: str, state: ShadowState) -> None:
    gw.put_json(bucket, state_key(state.function), state.to_dict())
