"""The gateway's typed views parsed from real answers of the embedded AWS (moto over HTTP), and
its typed requests checked against botocore's service model."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile

import botocore.session
import pytest
from botocore.validate import ParamValidator

from mlayer.gateway.functions import configuration_params
from mlayer.gateway.views import (
    TMP_KEY,
    Alias,
    EventSourceMapping,
    FunctionConfig,
    FunctionSpec,
    LayerVersion,
    TriggerSpec,
)
from mlayer.local import sandbox


def _zip(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(zipfile.ZipInfo("python/x.py", (2020, 1, 1, 0, 0, 0)), text)
    return buffer.getvalue()


def _validate(operation: str, params: dict) -> None:
    """Raise when ``params`` do not fit the operation's input shape in botocore's model."""
    model = botocore.session.get_session().get_service_model("lambda")
    report = ParamValidator().validate(params, model.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()


@pytest.fixture
def deployed(gw):
    """A function with two layers, variables, 1 GB of /tmp, an alias with a canary weight."""
    role = sandbox.ensure_lambda_role(gw, "views-role")
    deps = gw.publish_layer_version("views-deps", "deps", zip_bytes=_zip("d"))
    model = gw.publish_layer_version("views-model", "model v1", zip_bytes=_zip("m"))
    code = _zip("def handler(e, c):\n    return e\n")
    gw.call(
        "lambda",
        "create_function",
        "test set-up",
        FunctionName="views",
        Runtime="python3.12",
        Role=role,
        Handler="x.handler",
        Code={"ZipFile": code},
        MemorySize=1024,
        Timeout=30,
        Layers=[deps["LayerVersionArn"], model["LayerVersionArn"]],
        Environment={"Variables": {"A": "1"}},
        EphemeralStorage={"Size": 1024},
    )
    return deps, model, code


def test_a_function_configuration_is_read_whole(gw, deployed):
    deps, model, code = deployed
    config = gw.function_config("views")
    assert config.name == "views" and config.arn.endswith(":function:views")
    assert config.runtime == "python3.12" and config.handler == "x.handler"
    assert (config.memory, config.timeout, config.tmp_mb) == (1024, 30, 1024)
    assert config.layer_arns == (deps["LayerVersionArn"], model["LayerVersionArn"])
    assert all(layer.code_size > 0 for layer in config.layers)
    assert config.environment == {"A": "1"}
    assert config.code_sha256 == hashlib.sha256(code).hexdigest()  # hex, not AWS's base64
    assert config.updatable  # (moto 5.2.5 reports no RevisionId: the Stubber tests do)
    spec = FunctionSpec.of(config)
    assert spec.architectures == ("x86_64",) and spec.snapstart == "None"


def test_layer_versions_are_listed_newest_first_and_detailed_by_arn(gw, deployed):
    _, model, _ = deployed
    second = gw.publish_layer_version("views-model", "model v2", zip_bytes=_zip("m2"))
    listed = gw.layer_versions("views-model")
    assert [v.version for v in listed] == [2, 1]
    assert listed[0].arn == second["LayerVersionArn"] and listed[0].description == "model v2"
    assert gw.latest_layer_arn("views-model") == second["LayerVersionArn"]
    assert gw.layer_versions("no-such-layer") == () and gw.latest_layer_arn("no-such") is None
    detail = gw.layer_version_of(model["LayerVersionArn"])
    assert detail is not None and detail.version == 1
    assert detail.code_sha256 == hashlib.sha256(_zip("m")).hexdigest()
    assert detail.code_size == len(_zip("m"))


def test_versions_aliases_and_the_serving_fingerprint(gw, deployed):
    latest = gw.function_config("views")
    published = gw.publish_version("views", "v1", revision_id=latest.revision_id)
    assert published.version == "1"
    (only,) = gw.function_versions("views")
    assert only.version == "1" and only.serves_like(latest)
    gw.create_alias("views", "live", "1")
    alias = gw.alias("views", "live")
    assert alias == Alias("live", "1", alias.revision_id, {})
    assert gw.alias("views", "absent") is None
    answer = gw.get_function_configuration("views")
    assert FunctionConfig.parse({**answer, "RevisionId": "other"}).serves_like(latest)
    assert not FunctionConfig.parse({**answer, "MemorySize": 2048}).serves_like(latest)
    assert not FunctionConfig.parse({**answer, "Layers": []}).serves_like(latest)
    after = {
        "Layers": [{"Arn": "arn:aws:lambda:r:1:layer:x:2"}],
        "EphemeralStorage": {"Size": 2048},
    }
    as_parsed = FunctionConfig.parse({**answer, **after})
    relinked = latest.relinked(["arn:aws:lambda:r:1:layer:x:2"], 2048)
    assert relinked.serves_like(as_parsed) and as_parsed.serves_like(relinked)
    assert relinked.tmp_mb == 2048 and not relinked.serves_like(latest)
    assert latest.relinked(latest.layer_arns).serves_like(latest)


def test_an_event_source_mapping_is_read_with_its_settings(gw, deployed):
    stream = sandbox.ensure_stream(gw, "views-in")["StreamARN"]
    sandbox.ensure_queue(gw, "views-gave-up")
    queue = gw.queue_arn("views-gave-up")
    target = gw.function_config("views").arn
    spec = TriggerSpec(10, 1, ("ReportBatchItemFailures",), True, 2, 600, queue, "LATEST")
    uuid = gw.create_mapping(stream, target, spec)
    (mapping,) = gw.event_source_mappings(target, stream)
    assert mapping.uuid == uuid and mapping.source_arn == stream
    assert mapping.function_arn == target and mapping.starting_position == "LATEST"
    assert mapping.settings == TriggerSpec(10, 1, ("ReportBatchItemFailures",), True, 2, 600, queue)


def test_partial_answers_parse_with_what_they_hold():
    """Stubber's and a write's answers hold a few keys: the rest is absent, not an error."""
    pending = FunctionConfig.parse({"FunctionName": "f", "State": "Pending"})
    assert pending.state == "Pending" and not pending.updatable and pending.layers == ()
    assert FunctionConfig.parse({"LastUpdateStatus": "InProgress"}).updatable is False
    failed = FunctionConfig.parse(
        {
            "LastUpdateStatus": "Failed",
            "LastUpdateStatusReason": "bad layer",
            "LastUpdateStatusReasonCode": "InvalidLayer",
            "SnapStart": {"ApplyOn": "PublishedVersions"},
            "CodeSha256": base64.b64encode(b"\x01" * 32).decode(),
        }
    )
    assert (failed.update_reason, failed.update_reason_code) == ("bad layer", "InvalidLayer")
    assert failed.snapstart == "PublishedVersions" and failed.code_sha256 == "01" * 32
    listed = LayerVersion.parse({"LayerVersionArn": "arn:aws:lambda:r:1:layer:l:3", "Version": 3})
    assert listed.code_size is None and listed.code_sha256 == ""
    mapping = EventSourceMapping.parse({"UUID": "u", "DestinationConfig": {"OnFailure": {}}})
    assert mapping.settings.on_failure is None
    weighted = Alias.parse(
        {
            "Name": "a",
            "FunctionVersion": "2",
            "RoutingConfig": {"AdditionalVersionWeights": {"3": 0.1}},
        }
    )
    assert weighted.weights == {"3": 0.1}


SPEC = FunctionSpec(
    runtime="python3.12",
    handler="h.handler",
    architectures=("arm64",),
    memory=512,
    timeout=60,
    role="arn:aws:iam::123456789012:role/r",
    layers=("arn:aws:lambda:us-east-1:123456789012:layer:l:1",),
    environment={"A": "1"},
    snapstart="PublishedVersions",
    tmp_mb=2048,
)


def test_every_configuration_update_is_valid_for_botocore():
    keys = [k for k in SPEC.as_dict() if k != "Architectures"]  # code's, not configuration's
    for n in range(1, len(keys) + 1):
        params = configuration_params(SPEC, keys[:n])
        _validate("UpdateFunctionConfiguration", {"FunctionName": "f", **params})
    assert configuration_params(SPEC, [TMP_KEY]) == {TMP_KEY: {"Size": 2048}}


def test_a_new_function_and_a_new_mapping_are_valid_for_botocore():
    params = configuration_params(SPEC, SPEC.as_dict())
    _validate(
        "CreateFunction",
        {"FunctionName": "f", "Code": {"ZipFile": b"z"}, "Description": "d", **params},
    )
    trigger = TriggerSpec(10, 1, ("ReportBatchItemFailures",), True, 2, 600, "arn:q", "LATEST")
    _validate(
        "CreateEventSourceMapping",
        {"EventSourceArn": "arn:s", "FunctionName": "f", **trigger.as_dict()},
    )


def test_differences_name_each_key_once_with_before_and_after():
    same = FunctionSpec.of(
        FunctionConfig(
            runtime="python3.12",
            handler="h.handler",
            architectures=("arm64",),
            memory=512,
            timeout=60,
            role=SPEC.role,
            layers=(),
            environment={"A": "1"},
        )
    )
    diff = {k: (before, after) for k, before, after in SPEC.differences(same)}
    assert diff == {
        "Layers": ([], list(SPEC.layers)),
        "SnapStart": ("None", "PublishedVersions"),
        TMP_KEY: (None, 2048),
    }
