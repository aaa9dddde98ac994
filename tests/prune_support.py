"""Helpers for the prune tests: a function with many published model versions behind an alias,
and what boto3 itself lists (to check prune's arithmetic and guards independently of mlayer)."""

from __future__ import annotations

from publish_support import BUCKET, DEPS, FUNCTION, MODEL, create_function, publish, publish_deps


def publish_many(gw, models: list, alias: str = "live") -> list[str]:
    """A function with a deps layer and one publish per model (each moves ``alias``)."""
    deps = publish_deps(gw)
    create_function(gw, [deps])
    arns = []
    for paths in models:
        result, doc = publish(paths, "--alias", alias)
        assert result.exit_code == 0, result.output
        arns.append(doc["layer_version_arn"])
    return arns


def canary(gw, version: str, weight: float, alias: str = "live") -> str:
    """``weight`` of ``alias``'s traffic to function ``version``, beside its primary (returned)."""
    lam = gw.client("lambda")
    primary = lam.get_alias(FunctionName=FUNCTION, Name=alias)["FunctionVersion"]
    lam.update_alias(
        FunctionName=FUNCTION,
        Name=alias,
        FunctionVersion=primary,
        RoutingConfig={"AdditionalVersionWeights": {version: weight}},
    )
    return str(primary)


def listing(gw) -> dict[tuple[str, str], int]:
    """(kind, name) -> bytes of every function version, layer version and bucket object."""
    lam, s3 = gw.client("lambda"), gw.client("s3")
    out: dict[tuple[str, str], int] = {}
    for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=FUNCTION):
        for v in page["Versions"]:
            if v["Version"] != "$LATEST":
                out[("function_version", v["Version"])] = v["CodeSize"]
    for layer, kind in ((MODEL, "model_layer_version"), (DEPS, "deps_layer_version")):
        for v in lam.list_layer_versions(LayerName=layer).get("LayerVersions", []):
            got = lam.get_layer_version(LayerName=layer, VersionNumber=v["Version"])
            out[(kind, f"{layer}:{v['Version']}")] = got["Content"]["CodeSize"]
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for o in page.get("Contents", []):
            if not o["Key"].startswith("pruned/"):
                out[("object", o["Key"])] = o["Size"]
    return out


def carried(gw) -> set[str]:
    """Every layer ARN $LATEST, an alias or a published version of the function carries."""
    lam = gw.client("lambda")
    arns = {ly["Arn"] for ly in lam.get_function_configuration(FunctionName=FUNCTION)["Layers"]}
    for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=FUNCTION):
        for v in page["Versions"]:
            arns |= {ly["Arn"] for ly in v.get("Layers", [])}
    return arns


def alias_versions(gw) -> set[str]:
    lam = gw.client("lambda")
    out = set()
    for a in lam.list_aliases(FunctionName=FUNCTION)["Aliases"]:
        out.add(a["FunctionVersion"])
        out |= set((a.get("RoutingConfig") or {}).get("AdditionalVersionWeights", {}))
    return out


def assert_everything_resolves(gw) -> None:
    """Every alias (and its canary) and $LATEST name versions and layer versions that exist."""
    lam = gw.client("lambda")
    present = {
        v["Version"]
        for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=FUNCTION)
        for v in page["Versions"]
    }
    assert alias_versions(gw) <= present
    for arn in carried(gw):
        name, number = arn.split(":")[6], int(arn.split(":")[7])
        lam.get_layer_version(LayerName=name, VersionNumber=number)  # raises when deleted


__all__ = ["BUCKET", "listing", "publish_many"]
