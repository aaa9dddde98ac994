"""Lambda: layer versions, functions, versions and aliases, event-source mappings, Invoke."""

from __future__ import annotations

import base64
from typing import Any

import botocore.exceptions

from mlayer.arns import LayerVersionArn
from mlayer.errors import AwsError, NotFoundError
from mlayer.gateway.base import GatewayBase
from mlayer.gateway.translate import translate

# What an endpoint without GetLayerVersionByArn answers (moto 5.2.5: a bare HTML 500).
_NO_BY_ARN = {"500", "501", "NotImplemented", "NotImplementedException"}
_DENIED = {"AccessDeniedException", "AccessDenied"}


class LambdaCalls(GatewayBase):
    def publish_layer_version(
        self,
        name: str,
        description: str,
        *,
        s3: tuple[str, str] | None = None,
        zip_bytes: bytes | None = None,
        runtimes: list[str] | None = None,
        architectures: list[str] | None = None,
        license_info: str | None = None,
    ) -> dict[str, Any]:
        content: dict[str, Any] = (
            {"S3Bucket": s3[0], "S3Key": s3[1]} if s3 else {"ZipFile": zip_bytes}
        )
        params: dict[str, Any] = {
            "LayerName": name,
            "Description": description[:256],
            "Content": content,
        }
        if runtimes:
            params["CompatibleRuntimes"] = runtimes
        if architectures:
            params["CompatibleArchitectures"] = architectures
        if license_info:
            params["LicenseInfo"] = license_info
        return self.call("lambda", "publish_layer_version", f"Publishing layer {name}", **params)

    def list_layer_versions(self, name: str) -> list[dict[str, Any]]:
        """Every version of a layer, newest first ([] when the layer does not exist)."""
        try:
            versions = list(
                self.paginate(
                    "lambda",
                    "list_layer_versions",
                    "LayerVersions",
                    f"Listing versions of layer {name}",
                    LayerName=name,
                )
            )
        except NotFoundError:
            return []
        return sorted(versions, key=lambda v: v["Version"], reverse=True)

    def get_layer_version(self, name: str, version: int) -> dict[str, Any]:
        return self.call(
            "lambda",
            "get_layer_version",
            f"Reading layer {name} version {version}",
            LayerName=name,
            VersionNumber=int(version),
        )

    def get_layer_version_by_arn(self, arn: str) -> dict[str, Any]:
        return self.call("lambda", "get_layer_version_by_arn", f"Reading layer {arn}", Arn=arn)

    # -- Lambda functions -------------------------------------------------------------------
    def get_function_configuration(self, name: str, qualifier: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"FunctionName": name}
        if qualifier:
            params["Qualifier"] = qualifier
        try:
            return self.call(
                "lambda", "get_function_configuration", f"Reading function {name}", **params
            )
        except NotFoundError as exc:
            raise NotFoundError(
                f"Function {name} does not exist in {self.region}.",
                "Create it with `mlayer deploy-function`, or pass --function / set [function] name.",
                exc.code,
            ) from exc

    def function_exists(self, name: str) -> bool:
        try:
            self.get_function_configuration(name)
            return True
        except NotFoundError:
            return False

    def create_function(self, **params: Any) -> dict[str, Any]:
        return self.call(
            "lambda", "create_function", f"Creating function {params.get('FunctionName')}", **params
        )

    def update_function_code(
        self,
        name: str,
        zip_bytes: bytes,
        architectures: list[str] | None = None,
        revision_id: str | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"FunctionName": name, "ZipFile": zip_bytes}
        if architectures:
            params["Architectures"] = architectures
        if revision_id:
            params["RevisionId"] = revision_id
        return self.call("lambda", "update_function_code", f"Updating the code of {name}", **params)

    def update_function_configuration(
        self, name: str, revision_id: str | None = None, **params: Any
    ) -> dict[str, Any]:
        if revision_id:
            params["RevisionId"] = revision_id
        return self.call(
            "lambda",
            "update_function_configuration",
            f"Updating the configuration of {name}",
            FunctionName=name,
            **params,
        )

    def publish_function_version(
        self, name: str, description: str = "", revision_id: str | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"FunctionName": name, "Description": description[:256]}
        if revision_id:
            params["RevisionId"] = revision_id
        return self.call("lambda", "publish_version", f"Publishing a version of {name}", **params)

    def get_alias(self, name: str, alias: str) -> dict[str, Any] | None:
        try:
            return self.call(
                "lambda",
                "get_alias",
                f"Reading alias {alias} of {name}",
                FunctionName=name,
                Name=alias,
            )
        except NotFoundError:
            return None

    def put_alias(
        self, name: str, alias: str, version: str, revision_id: str | None = None
    ) -> dict[str, Any]:
        """Create the alias, or move it to ``version`` (with the RevisionId read before)."""
        if self.get_alias(name, alias) is None:
            return self.create_alias(name, alias, version)
        return self.update_alias(name, alias, version, revision_id)

    # -- event-source mappings --------------------------------------------------------------
    def list_event_source_mappings(
        self, function: str | None = None, source_arn: str | None = None
    ) -> list[dict[str, Any]]:
        """Mappings of a function (name or ARN) and/or of an event source."""
        params: dict[str, Any] = {}
        if function:
            params["FunctionName"] = function
        if source_arn:
            params["EventSourceArn"] = source_arn
        return list(
            self.paginate(
                "lambda",
                "list_event_source_mappings",
                "EventSourceMappings",
                f"Listing triggers of {function or source_arn}",
                **params,
            )
        )

    def create_event_source_mapping(self, **params: Any) -> dict[str, Any]:
        return self.call(
            "lambda", "create_event_source_mapping", "Creating the Kinesis trigger", **params
        )

    def update_event_source_mapping(self, uuid: str, **params: Any) -> dict[str, Any]:
        return self.call(
            "lambda",
            "update_event_source_mapping",
            "Updating the Kinesis trigger",
            UUID=uuid,
            **params,
        )

    def invoke_function(self, name: str, payload: bytes) -> dict[str, Any]:
        """A synchronous Invoke with the log tail: StatusCode, FunctionError, Payload bytes, LogResult."""
        try:
            resp = self.client("lambda", invoke=True).invoke(
                FunctionName=name,
                InvocationType="RequestResponse",
                LogType="Tail",
                Payload=payload,
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise translate(exc, f"Invoking {name}") from exc
        log = resp.get("LogResult")
        return {
            "StatusCode": resp.get("StatusCode"),
            "FunctionError": resp.get("FunctionError"),
            "Payload": resp["Payload"].read() if resp.get("Payload") is not None else b"",
            "LogResult": base64.b64decode(log).decode("utf-8", "replace") if log else "",
            "ExecutedVersion": resp.get("ExecutedVersion"),
        }

    # -- layers by full ARN, function versions, alias moves guarded by RevisionId -----------
    def _by_arn_available(self) -> bool:
        """GetLayerVersionByArn, except on the embedded AWS (loopback) or once it failed as absent."""
        if getattr(self, "_by_arn", None) is None:
            url = self.endpoint_url or ""
            self._by_arn = not any(h in url for h in ("127.0.0.1", "localhost", "[::1]"))
        return self._by_arn

    def read_layer_version(self, arn: str) -> dict[str, Any] | None:
        """A layer version by its full ARN (account and region), never by its name alone: a
        same-named layer of one's own is another layer. None for another account's layer that
        cannot be read here (no GetLayerVersionByArn on the embedded AWS, or its owner denies it)."""
        parsed = LayerVersionArn.parse(arn)
        mine = self.known_account()
        foreign = mine is not None and parsed.account != mine
        if self._by_arn_available():
            try:
                return self.get_layer_version_by_arn(arn)
            except AwsError as exc:
                if foreign and exc.code in _DENIED:
                    return None
                if exc.code not in _NO_BY_ARN:
                    raise
                self._by_arn = False
        if foreign:
            return None
        return self.get_layer_version(parsed.name, parsed.version)

    def list_function_versions(self, name: str) -> list[dict[str, Any]]:
        """Every published version of a function with its configuration ($LATEST left out)."""
        versions = self.paginate(
            "lambda",
            "list_versions_by_function",
            "Versions",
            f"Listing the versions of {name}",
            FunctionName=name,
        )
        return [v for v in versions if v.get("Version") != "$LATEST"]

    def create_alias(self, name: str, alias: str, version: str) -> dict[str, Any]:
        return self.call(
            "lambda",
            "create_alias",
            f"Creating alias {alias} of {name}",
            FunctionName=name,
            Name=alias,
            FunctionVersion=version,
        )

    def update_alias(
        self, name: str, alias: str, version: str, revision_id: str | None = None
    ) -> dict[str, Any]:
        """Move the alias, guarded by the RevisionId of the read the move was decided on."""
        params: dict[str, Any] = {"FunctionName": name, "Name": alias, "FunctionVersion": version}
        if revision_id:
            params["RevisionId"] = revision_id
        return self.call("lambda", "update_alias", f"Moving alias {alias} of {name}", **params)

    # -- provisioned concurrency (deploy-function; the embedded AWS does not model it) ----------
    def get_provisioned_concurrency(self, name: str, qualifier: str) -> dict[str, Any] | None:
        """The alias's provisioned-concurrency config, or None when it has none."""
        try:
            return self.call(
                "lambda",
                "get_provisioned_concurrency_config",
                f"Reading the provisioned concurrency of {name}:{qualifier}",
                FunctionName=name,
                Qualifier=qualifier,
            )
        except AwsError as exc:
            if isinstance(exc, NotFoundError) or exc.code == _NO_PC:
                return None
            raise

    def put_provisioned_concurrency(self, name: str, qualifier: str, count: int) -> dict[str, Any]:
        return self.call(
            "lambda",
            "put_provisioned_concurrency_config",
            f"Setting the provisioned concurrency of {name}:{qualifier} to {count}",
            FunctionName=name,
            Qualifier=qualifier,
            ProvisionedConcurrentExecutions=count,
        )

    def delete_provisioned_concurrency(self, name: str, qualifier: str) -> None:
        self.call(
            "lambda",
            "delete_provisioned_concurrency_config",
            f"Removing the provisioned concurrency of {name}:{qualifier}",
            FunctionName=name,
            Qualifier=qualifier,
        )


_NO_PC = "ProvisionedConcurrencyConfigNotFoundException"
