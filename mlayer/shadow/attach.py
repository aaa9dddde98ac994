"""publish-model --shadow: publish the candidate as a model layer version (the same checks as
any publish: publish.py, with no relink), then attach it to the function as its shadow.

Every refusal comes before the first write: the candidate is published as a dry run first (trust
scan, compatibility with the deps layer, ONNX parity, samples), then checked to read the live
model's records and to fit beside it (fit.py); only then is it published for real, the
function's variables set ($LATEST, then a version and the alias when [model] alias is set, with
the RevisionId read, relink.py) and the state file written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from mlayer.arns import layer_name
from mlayer.errors import AwsError, ConfigError, ModelError, NotFoundError, UsageError
from mlayer.gateway.views import FunctionConfig
from mlayer.model.artifacts import utc_now
from mlayer.publishing.models import RelinkOutcome, RelinkPlan
from mlayer.publishing.relink import LinkSettings, Relinker
from mlayer.publishing.store import ArtifactStore, zip_key
from mlayer.results.shadow import ShadowAttachResult
from mlayer.shadow import fit, state


def sample_share(settings: Any) -> float:
    share = float(settings.model.shadow_sample)
    if not 0.0 < share <= 1.0:
        raise ConfigError(
            f"[model] shadow_sample is {share:g}; it must be a share in (0, 1].",
            "E.g. shadow_sample = 0.1: the candidate sees one batch in ten.",
        )
    return share


def live_model(gw: Any, settings: Any) -> tuple[FunctionConfig, str, dict]:
    """(configuration, live model layer ARN, its manifest); refusals when there is none."""
    function, layer = settings.function.name, settings.model.layer
    try:
        config = gw.function_config(function)
    except NotFoundError as exc:
        raise NotFoundError(
            f"Function {function} does not exist: a shadow runs beside a live model.",
            "Deploy it and publish its live model first (`mlayer deploy-function`, "
            "`mlayer publish-model`).",
            exc.code,
        ) from exc
    live = next((a for a in config.layer_arns if layer_name(a) == layer), None)
    if live is None:
        raise UsageError(
            f"{function} carries no version of {layer}: a shadow runs beside a live model.",
            "Publish the live model first (`mlayer publish-model`).",
        )
    store = ArtifactStore(gw, settings.artifacts.bucket)
    manifest = store.manifest(store.layer_sha(live))
    if manifest is None:
        raise ModelError(
            f"The live model {live} has no mlayer manifest in s3://{settings.artifacts.bucket}.",
            "Publish the live model with mlayer first.",
        )
    return config, live, manifest


def set_variables(
    gw: Any, function: str, config: FunctionConfig, env: dict[str, str], alias: str | None
) -> RelinkOutcome:
    """The function's variables, its layers unchanged (guarded: relink.py), and the alias."""
    layers = config.layer_arns
    anchor = layers[-1] if layers else ""
    plan = RelinkPlan(function, "", layers, layers, anchor, anchor, 0)
    return Relinker(gw).apply(plan, alias=alias, settings=LinkSettings(environment=env))


def publish_shadow(
    gw: Any,
    settings: Any,
    request: Any,
    *,
    publish: Callable[..., Any],
    confirm: Callable[[str], None],
    now: Callable[[], str] = utc_now,
) -> ShadowAttachResult:
    """The whole of publish-model --shadow; ``publish`` is publish.publish_model."""
    _refuse_rollout(request)
    function, bucket = settings.function.name, settings.artifacts.bucket
    alias = request.alias or settings.model.alias or None
    sample = sample_share(settings)
    config, live_arn, live_manifest = live_model(gw, settings)
    unaliased = dataclasses.replace(settings, model=dataclasses.replace(settings.model, alias=""))
    quiet = dataclasses.replace(request, alias=None, link=False, rollout=None)
    dry, sizes = _dry_run(gw, unaliased, quiet, publish, live_manifest, config)
    previous = state.load(gw, bucket, function)
    replaced = previous if previous and previous.active else None
    if request.dry_run:
        return ShadowAttachResult(dry, None, sizes, replaced=replaced, dry_run=True)
    question = f"Publish {dry.label} and attach it to {function} as its shadow"
    confirm(question + (f" (replacing {replaced.model_version})?" if replaced else "?"))
    published = publish(gw, unaliased, quiet)
    _check_zip(gw, bucket, published)
    uri = state.layer_uri(bucket, published.zip_sha256)
    env = state.with_shadow(state.environment(config), uri, sample)
    outcome = _attach(gw, function, config, env, alias, published)
    live = (live_arn, live_manifest)
    shadow = _shadow_state(function, published, live, sample, alias, outcome, replaced, now())
    state.save(gw, bucket, shadow)
    return ShadowAttachResult(published, shadow, sizes, replaced=replaced, outcome=outcome)


def _refuse_rollout(request: Any) -> None:
    """A shadow and a rollout are two stages: asked for together, neither starts."""
    if request.rollout and request.rollout != "all-at-once":
        raise UsageError(
            "--shadow and --rollout are two stages: the shadow first, then the rollout.",
            "Publish with --shadow; `mlayer shadow promote --rollout` starts the rollout.",
        )


def _dry_run(
    gw: Any,
    settings: Any,
    quiet: Any,
    publish: Callable[..., Any],
    live_manifest: dict,
    config: FunctionConfig,
) -> tuple[Any, fit.Fit]:
    """The candidate published as a dry run (every publish check), then checked to read the
    live model's records and to fit beside it: every refusal before the first write."""
    dry = publish(gw, settings, dataclasses.replace(quiet, dry_run=True))
    fit.check_same_input(live_manifest, dry.manifest)
    sizes = fit.check_fit(live_manifest, dry.manifest, dry.zipped_size, dry.unzipped_size, config)
    return dry, sizes


def _check_zip(gw: Any, bucket: str, published: Any) -> None:
    """The candidate's zip must be in the bucket: the function fetches the shadow from there."""
    if gw.object_size(bucket, zip_key(published.zip_sha256)) is None:
        raise ModelError(
            f"s3://{bucket}/{zip_key(published.zip_sha256)} (the candidate's layer zip) is "
            "missing: the function could not fetch it.",
            "Publish the candidate with mlayer again (a new label makes a new zip).",
        )


def _attach(
    gw: Any,
    function: str,
    config: FunctionConfig,
    env: dict[str, str],
    alias: str | None,
    published: Any,
) -> RelinkOutcome:
    """The shadow's variables set; a failure says the version was published but not attached,
    and that running the command again reuses it."""
    try:
        return set_variables(gw, function, config, env, alias)
    except AwsError as exc:
        raise type(exc)(
            f"{published.layer_name} version {published.version} was published but NOT "
            f"attached as {function}'s shadow: {exc.message}",
            f"Run the same command again (the version is reused). {exc.hint}".strip(),
            exc.code,
        ) from exc


def _shadow_state(
    function: str,
    published: Any,
    live: tuple[str, dict],
    sample: float,
    alias: str | None,
    outcome: RelinkOutcome,
    replaced: state.ShadowState | None,
    started_at: str,
) -> state.ShadowState:
    """The state file's content, written only once the function carries the shadow: the
    candidate and the live model (``live``: its layer version ARN and manifest) beside it."""
    live_arn, live_manifest = live
    classes = (published.manifest.get("outputs") or {}).get("classes") or ()
    return state.ShadowState(
        function=function,
        status=state.ACTIVE,
        layer_version_arn=published.layer_version_arn,
        model_version=published.label,
        zip_sha256=published.zip_sha256,
        content_sha256=published.content_sha256,
        live_layer_version_arn=live_arn,
        live_model_version=str(live_manifest.get("model_version") or ""),
        sample=sample,
        started_at=started_at,
        classes=tuple(str(c) for c in classes),
        alias=alias or "",
        function_version=str(outcome.function_version or ""),
        note=f"replaced {replaced.model_version}" if replaced else "",
    )
