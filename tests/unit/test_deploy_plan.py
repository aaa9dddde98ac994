"""deploy-function's pure plan, exhaustively: layers, environment, function and trigger diffs."""

from __future__ import annotations

import base64
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlayer.config import Settings, with_overrides
from mlayer.deploying.deploy_plan import (
    HANDLER,
    Change,
    desired_environment,
    desired_layers,
    plan_function,
    plan_trigger,
    trigger_settings,
)
from mlayer.errors import ConfigError
from mlayer.gateway.views import Alias, EventSourceMapping, FunctionConfig, FunctionSpec

ROLE = "arn:aws:iam::123456789012:role/mlayer-predict"
DEPS, MODEL = "mlayer-predict-deps", "mlayer-predict-model"
STREAM = "arn:aws:kinesis:us-east-1:123456789012:stream/input"
TARGET = "arn:aws:lambda:us-east-1:123456789012:function:mlayer-predict"
QUEUE = "arn:aws:sqs:us-east-1:123456789012:gave-up"
CODE = b"the code zip"
CODE_HEX = hashlib.sha256(CODE).hexdigest()


def arn(name: str, version: int = 1) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:layer:{name}:{version}"


def settings(**sections) -> Settings:
    function = {"role": ROLE, **sections.pop("function", {})}
    return with_overrides(Settings(), function=function, **sections)


def layers(current, deps_latest=None, model_latest=None):
    return desired_layers(
        current,
        deps_layer=DEPS,
        model_layer=MODEL,
        deps_latest=deps_latest,
        model_latest=model_latest,
    )


# -- desired_layers ---------------------------------------------------------------------------
def test_a_new_function_gets_the_latest_deps_then_the_latest_model():
    assert layers([], arn(DEPS, 3), arn(MODEL, 7)) == (arn(DEPS, 3), arn(MODEL, 7))


def test_the_deps_layer_moves_to_its_latest_in_place():
    current = [arn("tools"), arn(DEPS, 1), arn(MODEL, 2)]
    assert layers(current, arn(DEPS, 4), arn(MODEL, 9)) == (
        arn("tools"),
        arn(DEPS, 4),
        arn(MODEL, 2),
    )


def test_the_model_layer_keeps_its_version_publish_and_rollback_own_it():
    assert layers([arn(MODEL, 2)], None, arn(MODEL, 9)) == (arn(MODEL, 2),)


def test_without_a_published_deps_layer_the_attached_one_stays():
    assert layers([arn(DEPS, 2)], None, None) == (arn(DEPS, 2),)


def test_nothing_published_adds_nothing():
    assert layers([arn("tools")]) == (arn("tools"),)


def test_a_name_that_only_contains_an_mlayer_name_is_foreign():
    current = [arn(DEPS + "-old", 1)]
    assert layers(current, arn(DEPS, 2)) == (arn(DEPS + "-old", 1), arn(DEPS, 2))


@given(
    foreign=st.lists(st.sampled_from(["a", "b", "tools", "x-y"]), unique=True, max_size=3),
    deps_at=st.one_of(st.none(), st.integers(0, 3)),
    model_at=st.one_of(st.none(), st.integers(0, 4)),
    deps_latest=st.one_of(st.none(), st.integers(1, 9)),
    model_latest=st.one_of(st.none(), st.integers(1, 9)),
)
def test_foreign_layers_keep_their_order_and_mlayer_layers_appear_once(
    foreign, deps_at, model_at, deps_latest, model_latest
):
    current = [arn(n) for n in foreign]
    if deps_at is not None:
        current.insert(min(deps_at, len(current)), arn(DEPS, 1))
    if model_at is not None:
        current.insert(min(model_at, len(current)), arn(MODEL, 1))
    after = layers(
        current,
        arn(DEPS, deps_latest) if deps_latest else None,
        arn(MODEL, model_latest) if model_latest else None,
    )
    assert [a for a in after if a in map(arn, foreign)] == [arn(n) for n in foreign]
    assert sum(1 for a in after if f":layer:{DEPS}:" in a) == int(
        deps_at is not None or deps_latest is not None
    )
    assert sum(1 for a in after if f":layer:{MODEL}:" in a) == int(
        model_at is not None or model_latest is not None
    )
    if model_at is not None:
        assert arn(MODEL, 1) in after  # never moved by a deploy
    if deps_latest:
        assert arn(DEPS, deps_latest) in after
    assert after[: len(current)] == tuple(
        arn(DEPS, deps_latest) if deps_latest and a == arn(DEPS, 1) else a for a in current
    )


# -- desired_environment / current_function_view ------------------------------------------------
def test_mlayer_sets_its_own_variables_and_leaves_the_others():
    current = {
        "MLAYER_OUTPUT_SINK": "stdout://",
        "MLAYER_OUTPUT_DEAD_LETTER": "sqs://old",
        "X": "1",
    }
    env = desired_environment(current, settings(output={"sink": "sqs://out"}))
    assert env == {"X": "1", "MLAYER_OUTPUT_SINK": "sqs://out"}
    env = desired_environment({}, settings(output={"dead_letter": "s3://b/p"}))
    assert env == {"MLAYER_OUTPUT_SINK": "stdout://", "MLAYER_OUTPUT_DEAD_LETTER": "s3://b/p"}


def test_the_function_view_fills_what_aws_leaves_out():
    assert FunctionSpec.of(FunctionConfig.parse({"Runtime": "python3.12"})).as_dict() == {
        "Runtime": "python3.12",
        "Handler": None,
        "Architectures": ["x86_64"],
        "MemorySize": None,
        "Timeout": None,
        "Role": None,
        "Layers": [],
        "Environment": {},
        "SnapStart": "None",
    }


# -- plan_function ----------------------------------------------------------------------------------
def live(s: Settings, **overrides) -> dict:
    """A GetFunctionConfiguration answer that matches ``s`` exactly (with the deps and model)."""
    config = {
        "FunctionArn": TARGET,
        "Runtime": s.function.runtime,
        "Handler": HANDLER,
        "Architectures": [s.function.architecture],
        "MemorySize": s.function.memory,
        "Timeout": s.function.timeout,
        "Role": ROLE,
        "Layers": [{"Arn": arn(DEPS, 1)}, {"Arn": arn(MODEL, 1)}],
        "Environment": {"Variables": {"MLAYER_OUTPUT_SINK": s.output.sink}},
        "CodeSha256": base64.b64encode(bytes.fromhex(CODE_HEX)).decode(),
    }
    return {**config, **overrides}


def view(config: dict | None) -> FunctionConfig | None:
    return None if config is None else FunctionConfig.parse(config)


def plan(s: Settings, config, deps=None, model=None, code=CODE_HEX):
    return plan_function(s, view(config), code_sha=code, deps_latest=deps, model_latest=model)


def test_a_function_that_does_not_exist_needs_a_role():
    with pytest.raises(ConfigError, match="no IAM role") as err:
        plan(Settings(), None)
    assert "--role" in err.value.hint


def test_a_new_function_is_created_with_every_key_as_a_change():
    s = settings()
    p = plan(s, None, arn(DEPS, 2), arn(MODEL, 3))
    assert p.create and p.code_changed and p.changed
    assert {c.key for c in p.changes} == set(p.desired.as_dict())
    assert all(c.before is None for c in p.changes)
    assert p.desired.handler == HANDLER and p.desired.role == ROLE
    assert p.desired.layers == (arn(DEPS, 2), arn(MODEL, 3))
    assert p.desired.architectures == (s.function.architecture,)
    assert p.notes == ()


def test_a_function_as_configured_has_nothing_to_change():
    s = settings()
    p = plan(s, live(s), arn(DEPS, 1), arn(MODEL, 5))
    assert not p.changed and p.changes == () and not p.code_changed and not p.create


def test_new_code_alone_is_a_code_change():
    s = settings()
    p = plan(s, live(s), code=hashlib.sha256(b"other").hexdigest())
    assert p.code_changed and p.changes == () and p.changed


def test_each_differing_key_is_one_change_with_before_and_after():
    s = settings(function={"memory": 2048})
    config = live(s, MemorySize=1024, Handler="old.handler")
    p = plan(s, config, arn(DEPS, 2))
    assert p.changes == (  # in the order of the configuration's keys
        Change("Handler", "old.handler", HANDLER),
        Change("MemorySize", 1024, 2048),
        Change("Layers", [arn(DEPS, 1), arn(MODEL, 1)], [arn(DEPS, 2), arn(MODEL, 1)]),
    )


def test_the_live_role_is_kept_when_none_is_configured():
    s = Settings()
    p = plan(s, live(settings(), Role=ROLE + "-live"))
    assert p.desired.role == ROLE + "-live" and not p.changes


def test_missing_mlayer_layers_are_noted_not_refused():
    p = plan(settings(), None)
    assert p.create and len(p.notes) == 2
    assert "build-deps --publish" in p.notes[0] and "publish-model" in p.notes[1]


# -- trigger ----------------------------------------------------------------------------------------
def test_trigger_settings_are_finite_and_report_partial_failures():
    desired = trigger_settings(settings(), None).as_dict()
    assert desired["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert desired["BisectBatchOnFunctionError"] is True
    assert desired["MaximumRetryAttempts"] == 3 and desired["MaximumRecordAgeInSeconds"] == 3600
    assert desired["DestinationConfig"] == {"OnFailure": {}}
    with_dest = trigger_settings(settings(), QUEUE).as_dict()
    assert with_dest["DestinationConfig"] == {"OnFailure": {"Destination": QUEUE}}


def trigger(s, mappings, on_failure=None, same_target=()):
    return plan_trigger(
        s,
        [EventSourceMapping.parse(m) for m in mappings],
        stream_arn=STREAM,
        target=TARGET,
        on_failure_arn=on_failure,
        same_target=same_target,
    )


def mapping(s, **overrides) -> dict:
    """A mapping as AWS lists it, matching ``s``."""
    m = {
        "UUID": "u-1",
        "EventSourceArn": STREAM,
        "FunctionArn": TARGET,
        "StartingPosition": s.trigger.starting_position,
        **{
            k: v for k, v in trigger_settings(s, None).as_dict().items() if k != "DestinationConfig"
        },
        "DestinationConfig": {"OnFailure": {}},
    }
    return {**m, **overrides}


def test_no_mapping_on_the_stream_creates_one_with_its_starting_position():
    s = settings()
    for mappings in ([], [mapping(s, EventSourceArn=STREAM + "-other")]):
        p = trigger(s, mappings)
        assert p.create and p.uuid is None and p.changed
        assert p.desired.starting_position == "LATEST"
        assert {c.key for c in p.changes} == set(p.desired.as_dict())


def test_a_mapping_as_configured_is_unchanged():
    s = settings()
    p = trigger(s, [mapping(s)])
    assert not p.create and not p.changed and p.uuid == "u-1" and p.notes == ()


def test_a_differing_setting_is_one_change():
    s = settings(trigger={"batch_size": 10})
    p = trigger(s, [mapping(settings(), BatchSize=100)])
    assert p.changes == (Change("BatchSize", 100, 10),)


def test_an_on_failure_destination_is_compared_by_its_arn():
    s = settings()
    p = trigger(s, [mapping(s)], on_failure=QUEUE)
    assert p.changes == (
        Change("DestinationConfig", {"OnFailure": {}}, {"OnFailure": {"Destination": QUEUE}}),
    )
    same = mapping(s, DestinationConfig={"OnFailure": {"Destination": QUEUE}})
    assert not trigger(s, [same], on_failure=QUEUE).changed


def test_a_mapping_on_another_function_is_repointed_unless_it_means_the_target():
    s = settings()
    elsewhere = mapping(s, FunctionArn=TARGET + ":7")
    assert trigger(s, [elsewhere]).changes == (Change("FunctionName", TARGET + ":7", TARGET),)
    assert not trigger(s, [elsewhere], same_target=[TARGET + ":7"]).changed


def test_a_new_starting_position_is_a_note_not_a_change():
    s = settings(trigger={"starting_position": "TRIM_HORIZON"})
    p = trigger(s, [mapping(settings())])
    assert not p.changed and "TRIM_HORIZON" in p.notes[0] and "LATEST" in p.notes[0]


# -- on-failure default, overflow variable, SnapStart, the alias (issues 11, 16) -------------------
def test_the_on_failure_destination_defaults_to_the_sqs_dead_letter_queue_else_the_bucket():
    from mlayer.deploying.deploy_plan import on_failure_url

    bucketed = settings().with_bucket("acme")
    assert on_failure_url(bucketed) == "s3://acme"
    with_dlq = with_overrides(bucketed, output={"dead_letter": "sqs://dead"})
    assert on_failure_url(with_dlq) == "sqs://dead"
    s3_dlq = with_overrides(bucketed, output={"dead_letter": "s3://letters/p"})
    assert on_failure_url(s3_dlq) == "s3://acme"  # an S3 dead-letter sink is not a destination
    named = with_overrides(with_dlq, trigger={"on_failure": "sns://ops"})
    assert on_failure_url(named) == "sns://ops"


def test_the_function_is_told_where_oversized_dead_letters_go():
    s = settings().with_bucket("acme")
    env = desired_environment({"MLAYER_DEAD_LETTER_OVERFLOW": "s3://old/x/"}, s)
    assert env["MLAYER_DEAD_LETTER_OVERFLOW"] == "s3://acme/dead-letters/"
    s = with_overrides(s, output={"dead_letter_overflow": "s3://big/letters/"})
    assert desired_environment({}, s)["MLAYER_DEAD_LETTER_OVERFLOW"] == "s3://big/letters/"


def test_snapstart_is_a_configuration_change_only_when_asked_or_to_turn_it_off():
    alias = {"model": {"alias": "live"}}
    off = settings(**alias)
    assert plan(off, live(off)).desired.snapstart is None
    on = settings(function={"snapstart": True}, **alias)
    p = plan(on, live(on))
    assert p.changes == (Change("SnapStart", "None", "PublishedVersions"),)
    was_on = live(off, SnapStart={"ApplyOn": "PublishedVersions"})
    assert plan(off, was_on).changes == (Change("SnapStart", "PublishedVersions", "None"),)


def test_with_an_alias_the_model_layer_is_the_one_the_alias_serves():
    current = [arn(DEPS, 1), arn(MODEL, 5)]
    kept = desired_layers(
        current,
        deps_layer=DEPS,
        model_layer=MODEL,
        deps_latest=None,
        model_latest=arn(MODEL, 9),
        model_live=arn(MODEL, 4),
    )
    assert kept == (arn(DEPS, 1), arn(MODEL, 4))


def test_the_alias_is_published_and_moved_only_when_it_lags_latest():
    from mlayer.deploying.deploy_plan import plan_alias

    s = settings(model={"alias": "live"}, function={"provisioned_concurrency": 2})
    config = live(s)
    p = plan(s, config)
    alias = Alias.parse({"FunctionVersion": "3", "RevisionId": "a1"})
    latest = view(config)
    same = plan_alias(s, p, latest, alias, view(dict(config, Version="3")), 0)
    assert not same.publish and same.pc_changed and (same.pc_before, same.pc_after) == (0, 2)
    lagging = plan_alias(s, p, latest, alias, view(dict(config, MemorySize=128)), 0)
    assert lagging.publish and lagging.revision_id == "a1"
    missing = plan_alias(s, p, latest, None, None, 0)
    assert missing.publish and missing.version is None
    assert not plan_alias(s, p, latest, alias, latest, 2).changed
    assert plan_alias(settings(), p, latest, alias, latest, 0) is None


def test_snapstart_refuses_more_than_512_mb_of_tmp_naming_the_key():
    from dataclasses import replace

    from mlayer.deploying.deploy import _snapstart_tmp

    s = settings(model={"alias": "live"}, function={"snapstart": True})
    p = plan(s, live(s))
    _snapstart_tmp(s, p, view(live(s)))  # Lambda's default 512 MB is fine
    grown = replace(p, desired=p.desired.with_tmp(1024))
    with pytest.raises(ConfigError, match="function.snapstart.*1024 MB of /tmp") as err:
        _snapstart_tmp(s, grown, view(live(s)))
    assert err.value.exit_code == 2 and "snapstart = false" in err.value.hint
    with pytest.raises(ConfigError):
        _snapstart_tmp(s, p, view(live(s, EphemeralStorage={"Size": 2048})))
