"""Lambda's functions, versions, aliases, layer versions and mappings, typed (views.py).

The reads answer frozen views; the writes take specs, so no caller spells a boto3 keyword.
Built on lambdas.py's calls (their errors and hints).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from mlayer.gateway.lambdas import LambdaCalls
from mlayer.gateway.views import (
    RETARGET_KEY,
    TMP_KEY,
    Alias,
    EventSourceMapping,
    FunctionConfig,
    FunctionSpec,
    LayerVersion,
    TriggerSpec,
)


def configuration_params(spec: FunctionSpec, keys: Collection[str]) -> dict[str, Any]:
    """UpdateFunctionConfiguration's (or CreateFunction's) parameters for ``keys`` of ``spec``."""
    wanted = {k: v for k, v in spec.as_dict().items() if k in keys}
    if "Environment" in wanted:
        wanted["Environment"] = {"Variables": wanted["Environment"]}
    if TMP_KEY in wanted:
        wanted[TMP_KEY] = {"Size": wanted[TMP_KEY]}
    if "SnapStart" in wanted:
        wanted["SnapStart"] = {"ApplyOn": wanted["SnapStart"]}
    return wanted


class FunctionCalls(LambdaCalls):
    def function_config(self, name: str, qualifier: str | None = None) -> FunctionConfig:
        """$LATEST's configuration, or a version's (NotFoundError with a hint when absent)."""
        return FunctionConfig.parse(self.get_function_configuration(name, qualifier))

    def layer_versions(self, name: str) -> tuple[LayerVersion, ...]:
        """Every version of a layer, newest first (() when the layer does not exist)."""
        return tuple(LayerVersion.parse(v) for v in self.list_layer_versions(name))

    def latest_layer_arn(self, name: str) -> str | None:
        """The newest version's ARN of a layer, None when it has none."""
        versions = self.layer_versions(name)
        return versions[0].arn if versions else None

    def layer_version_of(self, arn: str) -> LayerVersion | None:
        """One layer version by its full ARN, with its sha256 and size (lambdas.read_layer_version:
        None for another account's layer that cannot be read here)."""
        answer = self.read_layer_version(arn)
        return None if answer is None else LayerVersion.parse(answer)

    def layer_version_detail(self, name: str, version: int) -> LayerVersion:
        return LayerVersion.parse(self.get_layer_version(name, version))

    def new_layer_version(
        self,
        name: str,
        description: str,
        *,
        s3: tuple[str, str],
        runtimes: list[str] | None = None,
        architectures: list[str] | None = None,
    ) -> LayerVersion:
        """PublishLayerVersion from an S3 object; the version made (its sha256 and size).
        Without ``runtimes``/``architectures`` the version declares none (the model layer's)."""
        return LayerVersion.parse(
            self.publish_layer_version(
                name, description, s3=s3, runtimes=runtimes, architectures=architectures
            )
        )

    def latest_layer_version(self, name: str) -> LayerVersion | None:
        """The newest version of a layer with its sha256 and size; None when it has none."""
        versions = self.layer_versions(name)
        return self.layer_version_detail(name, versions[0].version) if versions else None

    def alias(self, name: str, alias: str) -> Alias | None:
        answer = self.get_alias(name, alias)
        return None if answer is None else Alias.parse(answer)

    def function_versions(self, name: str) -> tuple[FunctionConfig, ...]:
        """Every published version's configuration ($LATEST left out)."""
        return tuple(FunctionConfig.parse(v) for v in self.list_function_versions(name))

    def publish_version(
        self, name: str, description: str = "", revision_id: str | None = None
    ) -> FunctionConfig:
        return FunctionConfig.parse(self.publish_function_version(name, description, revision_id))

    def provisioned_concurrency(self, name: str, qualifier: str) -> int:
        """The requested provisioned concurrency of an alias or version (0: none)."""
        answer = self.get_provisioned_concurrency(name, qualifier)
        return int((answer or {}).get("RequestedProvisionedConcurrentExecutions") or 0)

    def create_function_from(
        self, name: str, spec: FunctionSpec, code: bytes, description: str
    ) -> FunctionConfig:
        params = configuration_params(spec, spec.as_dict())
        if params.get("SnapStart") == {"ApplyOn": "None"}:
            del params["SnapStart"]  # the default: not sent on create
        return FunctionConfig.parse(
            self.call(
                "lambda",
                "create_function",
                f"Creating function {name}",
                FunctionName=name,
                Code={"ZipFile": code},
                Description=description,
                **params,
            )
        )

    def configure_function(
        self,
        name: str,
        spec: FunctionSpec,
        keys: Collection[str],
        revision_id: str | None = None,
    ) -> FunctionConfig:
        """UpdateFunctionConfiguration of ``keys`` (deploy-function's change keys) to ``spec``."""
        return FunctionConfig.parse(
            self.update_function_configuration(
                name, revision_id=revision_id, **configuration_params(spec, keys)
            )
        )

    def relink_function(
        self,
        name: str,
        layers: tuple[str, ...],
        revision_id: str | None,
        *,
        tmp_mb: int | None = None,
        environment: dict[str, str] | None = None,
    ) -> None:
        """One UpdateFunctionConfiguration of the layers, with what they need (/tmp, variables)."""
        params: dict[str, Any] = {"Layers": list(layers)}
        if tmp_mb is not None:
            params[TMP_KEY] = {"Size": tmp_mb}
        if environment is not None:
            params["Environment"] = {"Variables": environment}
        self.update_function_configuration(name, revision_id=revision_id, **params)

    def event_source_mappings(
        self, function: str | None = None, source_arn: str | None = None
    ) -> tuple[EventSourceMapping, ...]:
        return tuple(
            EventSourceMapping.parse(m)
            for m in self.list_event_source_mappings(function, source_arn)
        )

    def create_mapping(self, source_arn: str, target: str, spec: TriggerSpec) -> str:
        """A new mapping of ``source_arn`` to ``target`` with ``spec``; its UUID."""
        params = spec.as_dict()
        if not spec.on_failure:
            del params["DestinationConfig"]
        answer = self.create_event_source_mapping(
            EventSourceArn=source_arn, FunctionName=target, **params
        )
        return str(answer["UUID"])

    def update_mapping(
        self, uuid: str, spec: TriggerSpec, keys: Collection[str], target: str
    ) -> None:
        """Update ``keys`` of a mapping to ``spec`` (RETARGET_KEY re-points it at ``target``)."""
        params = {k: v for k, v in spec.as_dict().items() if k in keys}
        if RETARGET_KEY in keys:
            params[RETARGET_KEY] = target
        self.update_event_source_mapping(uuid, **params)
