"""What `mlayer prune` reads and deletes, as typed views (mlayer/prune/types.py).

Deletes are idempotent as a re-run needs them to be: a function version or object already gone
is not an error (a lost answer, then a re-run, must end where one clean run would).
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from mlayer.errors import AwsError, NotFoundError
from mlayer.gateway.functions import FunctionCalls
from mlayer.gateway.views import LayerVersion
from mlayer.prune.types import AliasView, FunctionVersionView, LayerVersionView

_WHEN = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?$")
# An endpoint without ListProvisionedConcurrencyConfigs (the embedded AWS: a bare 404 page).
_NO_API = {"404", "500", "501", "NotImplemented", "NotImplementedException"}


def version_view(
    name: str, item: LayerVersion, detail: LayerVersion, now: _dt.datetime
) -> LayerVersionView:
    """A listed layer version (``item``: its ARN and date) with what only its own read gives
    (``detail``: the zip's size and sha256), as prune judges it."""
    return LayerVersionView(
        name=name,
        version=item.version,
        arn=item.arn,
        code_size=detail.code_size or 0,
        created=parse_when(item.created, now),
        sha256=detail.code_sha256,
    )


def parse_when(text: Any, default: _dt.datetime) -> _dt.datetime:
    """Lambda's dates (``…T15:09:23.350+0000``; moto: nanoseconds and ``Z``) as aware UTC;
    ``default`` (the caller's now: too young to prune) when unreadable."""
    found = _WHEN.match(str(text or "").strip())
    if not found:
        return default
    base = _dt.datetime.strptime(found.group(1), "%Y-%m-%dT%H:%M:%S")
    zone = (found.group(3) or "Z").replace(":", "")
    offset = _dt.timedelta(0)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        offset = sign * _dt.timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5]))
    return (base - offset).replace(tzinfo=_dt.timezone.utc)


_S3_URI = re.compile(r"s3://([^/\s#?]+)/([^\s#?]+)")


def object_refs(config: dict) -> tuple[str, ...]:
    """ "bucket/key" of every s3:// URI in a configuration's environment variables (a shadow's
    candidate zip, an overflow prefix...): what that version still reads from S3."""
    variables = ((config.get("Environment") or {}).get("Variables")) or {}
    return tuple(
        sorted({f"{b}/{k}" for value in variables.values() for b, k in _S3_URI.findall(str(value))})
    )


def _qualifier(function_arn: str) -> str:
    """The qualifier of a function ARN (``…:function:name:7`` -> "7"), "" when unqualified."""
    parts = function_arn.split(":")
    return parts[7] if len(parts) > 7 else ""


class InventoryCalls(FunctionCalls):
    def latest_view(self, name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """$LATEST's layer ARNs, and the "bucket/key" objects its environment names."""
        config = self.call(
            "lambda", "get_function_configuration", f"Reading function {name}", FunctionName=name
        )
        return tuple(layer["Arn"] for layer in config.get("Layers") or []), object_refs(config)

    def latest_layers(self, name: str) -> tuple[str, ...]:
        return self.latest_view(name)[0]

    def function_version_views(
        self, name: str, now: _dt.datetime
    ) -> tuple[FunctionVersionView, ...]:
        """Every published version of the function, oldest first."""
        out = []
        for v in self.paginate(
            "lambda",
            "list_versions_by_function",
            "Versions",
            f"Listing the versions of {name}",
            FunctionName=name,
        ):
            if not str(v.get("Version", "")).isdigit():
                continue
            out.append(
                FunctionVersionView(
                    version=int(v["Version"]),
                    code_size=int(v.get("CodeSize") or 0),
                    last_modified=parse_when(v.get("LastModified"), now),
                    layers=tuple(layer["Arn"] for layer in v.get("Layers") or []),
                    object_refs=object_refs(v),
                )
            )
        return tuple(sorted(out, key=lambda f: f.version))

    def alias_views(self, name: str) -> tuple[AliasView, ...]:
        aliases = self.paginate(
            "lambda", "list_aliases", "Aliases", f"Listing the aliases of {name}", FunctionName=name
        )
        return tuple(
            AliasView(
                name=a["Name"],
                version=str(a.get("FunctionVersion", "")),
                weights={
                    str(k): float(w)
                    for k, w in (
                        (a.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
                    ).items()
                },
            )
            for a in aliases
        )

    def provisioned_qualifiers(self, name: str) -> tuple[str, ...] | None:
        """Qualifiers with provisioned concurrency; None where the endpoint cannot list them."""
        try:
            configs = list(
                self.paginate(
                    "lambda",
                    "list_provisioned_concurrency_configs",
                    "ProvisionedConcurrencyConfigs",
                    f"Listing the provisioned concurrency of {name}",
                    FunctionName=name,
                )
            )
        except AwsError as exc:
            if exc.code in _NO_API:
                return None
            raise
        return tuple(_qualifier(c.get("FunctionArn", "")) for c in configs)

    def mapping_qualifiers(self, name: str) -> tuple[str, ...]:
        """The qualifier every event-source mapping of the function targets ("" unqualified).

        All mappings are listed: a filter by the bare name may leave out qualified targets."""
        mappings = self.paginate(
            "lambda",
            "list_event_source_mappings",
            "EventSourceMappings",
            f"Listing the triggers of {name}",
        )
        out = []
        for m in mappings:
            arn = str(m.get("FunctionArn", ""))
            parts = arn.split(":")
            if len(parts) > 6 and parts[6] == name:
                out.append(_qualifier(arn))
        return tuple(out)

    def layer_version_views(self, name: str, now: _dt.datetime) -> tuple[LayerVersionView, ...]:
        """Every version of a layer with its zip's sha256 and size (one GetLayerVersion each),
        from the one pager of ListLayerVersions (functions.layer_versions)."""
        out = []
        for item in self.layer_versions(name):
            try:
                detail = self.layer_version_detail(name, item.version)
            except NotFoundError:  # deleted between the list and the read
                continue
            out.append(version_view(name, item, detail, now))
        return tuple(sorted(out, key=lambda lv: lv.version))

    def layer_names(self) -> tuple[str, ...]:
        """Every layer of the account in this region (its other functions' layers too)."""
        layers = self.paginate("lambda", "list_layers", "Layers", "Listing the layers")
        return tuple(sorted({str(layer["LayerName"]) for layer in layers}))

    def object_sizes(self, bucket: str, prefix: str) -> dict[str, int]:
        """Key -> size of every object under ``prefix`` ({} when the bucket is absent)."""
        try:
            items = list(
                self.paginate(
                    "s3",
                    "list_objects_v2",
                    "Contents",
                    f"Listing s3://{bucket}/{prefix}",
                    Bucket=bucket,
                    Prefix=prefix,
                    **self.bucket_owner(),
                )
            )
        except NotFoundError:
            return {}
        return {o["Key"]: int(o.get("Size") or 0) for o in items}

    def delete_function_version(self, name: str, version: int) -> bool:
        """Delete one published version; False when it was already gone."""
        try:
            self.call(
                "lambda",
                "delete_function",
                f"Deleting version {version} of {name}",
                FunctionName=name,
                Qualifier=str(int(version)),
            )
        except NotFoundError:
            return False
        return True

    def delete_layer_version(self, name: str, version: int) -> None:
        """Delete one layer version (Lambda answers the same whether or not it still existed)."""
        self.call(
            "lambda",
            "delete_layer_version",
            f"Deleting layer {name} version {version}",
            LayerName=name,
            VersionNumber=int(version),
        )

    def delete_object(self, bucket: str, key: str) -> None:
        """Delete one object (S3 answers the same whether or not it existed)."""
        self.call(
            "s3",
            "delete_object",
            f"Deleting s3://{bucket}/{key}",
            Bucket=bucket,
            Key=key,
            **self.bucket_owner(),
        )
