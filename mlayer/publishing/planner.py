"""Pure relink decisions: the function's layer list after a publish or a rollback.

Rules (Lambda's, enforced here because the embedded AWS does not):
- only the layer whose name is the model layer's changes; every other layer keeps its place;
- an absent model layer is appended (it goes last, so it may shadow nothing mlayer does not own);
- two versions of the model layer on one function is an error a human must fix;
- at most 5 layers, and at most 250 MB unzipped for the function's code and all its layers.
No I/O: sizes come in as a mapping, so every rule is unit-tested without AWS.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlayer.arns import LayerVersionArn, layer_name
from mlayer.errors import BudgetError, PlanError
from mlayer.publishing.models import FunctionLayers, LayerSize, RelinkPlan
from mlayer.runtimes import MAX_LAYERS, MAX_UNZIPPED_BYTES


def _mb(n: int) -> str:
    """Lambda's own MB (its "250 MB" limit is 262,144,000 bytes), as status and history show."""
    return f"{n / (1024 * 1024):.1f} MB"


def same_layer(arn: str, target: LayerVersionArn) -> bool:
    """A version of the target's layer: same name *and* account (another account's layer of the
    same name is another layer, and stays where it is)."""
    parsed = LayerVersionArn.try_parse(arn)
    return parsed is not None and (parsed.name, parsed.account) == (target.name, target.account)


def relink_layers(current: tuple[str, ...], model_layer: str, new_arn: str) -> tuple[str, ...]:
    """The new layer list: swap the model layer's ARN in place, or append it when absent."""
    target = LayerVersionArn.parse(new_arn)  # a malformed target is a bug upstream, never sent
    if target.name != model_layer:
        raise PlanError(
            f"{new_arn} is not a version of the model layer {model_layer}.",
            "Pass the model layer's name with --layer-name.",
        )
    positions = [i for i, arn in enumerate(current) if same_layer(arn, target)]
    if len(positions) > 1:
        raise PlanError(
            f"The function carries {len(positions)} versions of layer {model_layer}.",
            "Remove all but one in the Lambda console or with update-function-configuration.",
        )
    if positions:
        after = list(current)
        after[positions[0]] = new_arn
        return tuple(after)
    return (*current, new_arn)


def plan_relink(
    function: str,
    current: FunctionLayers,
    model_layer: str,
    new_arn: str,
    sizes: Mapping[str, LayerSize],
    *,
    function_size: LayerSize | None = None,
    max_layers: int = MAX_LAYERS,
    limit_bytes: int = MAX_UNZIPPED_BYTES,
) -> RelinkPlan:
    """Plan one relink (a publish or a rollback: same rules), or raise PlanError/BudgetError when Lambda would refuse the result."""
    after = relink_layers(current.arns, model_layer, new_arn)
    if len(after) > max_layers:
        raise BudgetError(
            f"Function {function} already has {len(current.arns)} layers; adding {model_layer} "
            f"would make {len(after)} (Lambda allows {max_layers}).",
            "Remove a layer you no longer need from the function, or merge two of them.",
        )
    missing = [arn for arn in after if arn not in sizes]
    if missing:
        raise PlanError(
            f"No size known for {missing[0]}.", "This is a bug in mlayer; please report it."
        )
    fsize = function_size or LayerSize(current.code_size, exact=False)
    total = fsize.unzipped + sum(sizes[arn].unzipped for arn in after)
    exact = fsize.exact and all(sizes[arn].exact for arn in after)
    unknown = tuple(arn for arn in after if not sizes[arn].known)
    if total > limit_bytes:
        parts = ", ".join(
            f"{layer_name(a) or a} " + (_mb(sizes[a].unzipped) if sizes[a].known else "unknown")
            for a in after
        )
        raise BudgetError(
            f"Function {function} with these layers would be {_mb(total)} unzipped; Lambda allows "
            f"{_mb(limit_bytes)} (code {_mb(fsize.unzipped)}, {parts}).",
            "Make the model smaller (compress=3 in joblib.dump does not help: sizes are unzipped), "
            "or slim the dependencies layer.",
        )
    target = LayerVersionArn.parse(new_arn)
    old = next((arn for arn in current.arns if same_layer(arn, target)), None)
    return RelinkPlan(
        function=function,
        layer_name=model_layer,
        before=current.arns,
        after=after,
        old_arn=old,
        new_arn=new_arn,
        total_unzipped=total,
        sizes_exact=exact,
        limit_bytes=limit_bytes,
        max_layers=max_layers,
        unknown_sizes=unknown,
    )


def unknown_size_warning(arns: tuple[str, ...] | list[str], budget_left: int) -> str | None:
    """What a budget that leaves out unreadable layers (other accounts', here) means."""
    if not arns:
        return None
    return (
        f"The size of {', '.join(arns)} (another account's layer) cannot be read here, so the "
        f"budget counts it as 0: the function has at most {_mb(budget_left)} left, and Lambda "
        "refuses the update if it is over its 250 MB."
    )


def previous_version(versions: list[int], live: int | None) -> int:
    """The newest existing version older than the live one (what `rollback --previous` means)."""
    if live is None:
        raise PlanError(
            "The function has no model layer, so there is no previous version.",
            "Pass --version N (see `mlayer history`).",
        )
    older = [v for v in versions if v < live]
    if not older:
        raise PlanError(
            f"Version {live} is the oldest model-layer version; there is nothing before it.",
            "See `mlayer history` for the versions that exist.",
        )
    return max(older)
