"""deploy-function under fault injection, against the embedded AWS (moto's server).

A Gateway that raises on its Nth AWS call, for every N of a deploy that changes configuration,
layers, code, the handler, the alias and the trigger at once: after each failure the function
is wholly old, wholly new, or exactly the intermediate state the error names (``stage``), and
re-running deploy-function completes it. The embedded AWS ignores RevisionId, so the 412 that AWS
answers to a write after someone else's is in test_deploy_stubber.py (botocore's Stubber).
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import botocore.exceptions
import pytest
from publish_support import fake_zip
from replay_support import Writes

from mlayer.config import load_settings
from mlayer.deploying.deploy import DeployIncompleteError, deploy_function
from mlayer.deploying.function_code import function_code_dir
from mlayer.errors import ConflictError, MlayerError
from mlayer.gateway import Gateway
from mlayer.gateway.translate import translate
from mlayer.local import sandbox
from mlayer.publishing.relink import Relinker
from mlayer.request_types import DeployRequest

NAME, ALIAS, BUCKET, STREAM, DLQ = "scorer", "live", "artifacts", "input", "dead"


class FailingGateway(Gateway):
    """Raises on its Nth AWS call (reads, writes and listings alike), or (``lose_at``) makes
    the Nth call and then loses its answer (a read timeout); ``before`` hooks run just before a
    named operation (another user's change landing in between)."""

    def __init__(self, *args, fail_at=None, error=None, before=None, lose_at=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fail_at, self.error, self.before = fail_at, error, dict(before or {})
        self.lose_at = lose_at
        self.ops: list[str] = []

    def _tick(self, operation: str) -> None:
        self.ops.append(operation)
        if operation in self.before:
            self.before.pop(operation)()
        if self.fail_at is not None and len(self.ops) == self.fail_at:
            raise self.error or translate(
                botocore.exceptions.ClientError(
                    {"Error": {"Code": "ServiceException", "Message": "injected"}}, operation
                ),
                f"Calling {operation}",
            )

    def call(self, service, operation, action, **params):
        self._tick(operation)
        out = super().call(service, operation, action, **params)
        if self.lose_at is not None and len(self.ops) == self.lose_at:
            # AWS served the call; its answer never came back.
            raise translate(
                botocore.exceptions.ReadTimeoutError(endpoint_url=self.endpoint_url), action
            )
        return out

    def paginate(self, service, operation, key, action, **params):
        self._tick(operation)
        yield from super().paginate(service, operation, key, action, **params)


def write_config(tmp_path: Path, role: str, *, memory: int, retries: int, sink: str) -> Path:
    path = tmp_path / "mlayer.toml"
    path.write_text(
        f"""
[function]
name = "{NAME}"
runtime = "python3.12"
memory = {memory}
role = "{role}"
[deps]
layer = "scorer-deps"
[model]
layer = "scorer-model"
alias = "{ALIAS}"
[artifacts]
bucket = "{BUCKET}"
[trigger]
stream = "{STREAM}"
max_retries = {retries}
[output]
sink = "{sink}"
dead_letter = "sqs://{DLQ}"
"""
    )
    return path


def code_dirs(tmp_path: Path) -> tuple[Path, Path]:
    """The function's code as shipped (old) and with one more module (new)."""
    old, new = tmp_path / "code-old", tmp_path / "code-new"
    for d in (old, new):
        shutil.copytree(function_code_dir() / "mlayer_function", d / "mlayer_function")
    (new / "mlayer_function" / "extra.py").write_text("EXTRA = 1\n")
    return old, new


def run(gw, config: Path, code: Path, tmp_path: Path):
    settings = load_settings(config, env={})
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return deploy_function(
        gw, settings, DeployRequest(), workdir=work, function_dir=code, relinker=Relinker(gw)
    )


def view(config: dict | None) -> dict | None:
    if config is None:
        return None
    return {
        "code": config.get("CodeSha256"),
        "handler": config.get("Handler"),
        "memory": config.get("MemorySize"),
        "layers": [layer["Arn"] for layer in config.get("Layers") or []],
        "env": (config.get("Environment") or {}).get("Variables"),
    }


def snapshot(gw: Gateway) -> dict:
    alias = gw.get_alias(NAME, ALIAS)
    (mapping,) = gw.client("lambda").list_event_source_mappings()["EventSourceMappings"]
    return {
        "latest": view(gw.get_function_configuration(NAME)),
        "alias": view(gw.get_function_configuration(NAME, qualifier=alias["FunctionVersion"])),
        "trigger": (
            mapping["MaximumRetryAttempts"],
            mapping["DestinationConfig"]["OnFailure"].get("Destination"),
        ),
    }


@pytest.fixture(scope="module")
def first() -> dict:
    """The module's first build: its role, its writes and the state they made."""
    return {}


@pytest.fixture
def scene(aws, tmp_path, monkeypatch, first):
    """Builds the old state from scratch (moto reset each time): the function deployed with the
    old code, memory, sink, deps v1 and a legacy handler, its alias in step; then the new
    config (deps v2 published, memory, sink, retries, code and handler all differ).

    The module's first build runs deploy-function and records the writes; later builds (of
    every test) make the same writes again (replay_support) through one Gateway and check that
    the state is the first build's."""
    import urllib.request

    monkeypatch.chdir(tmp_path)
    old_code, new_code = code_dirs(tmp_path)
    gw = Gateway(region=aws.region, endpoint_url=aws.endpoint_url)

    def reset() -> None:
        urllib.request.urlopen(
            urllib.request.Request(f"{aws.endpoint_url}/moto-api/reset", method="POST")
        ).read()

    def record() -> None:
        writes = Writes()
        with writes.recording(monkeypatch):
            sandbox.ensure_stream(gw, STREAM)
            sandbox.ensure_queue(gw, DLQ)
            role = sandbox.ensure_lambda_role(gw, "scorer-role")
            for layer in ("scorer-deps", "scorer-model"):
                gw.publish_layer_version(
                    layer, "v1", zip_bytes=fake_zip({"python/x.py": "X = 1\n"})
                )
            old = write_config(tmp_path, role, memory=512, retries=2, sink="stdout://")
            run(gw, old, old_code, tmp_path)
            gw.update_function_configuration(NAME, Handler="legacy.handler")
            version = gw.publish_function_version(NAME)["Version"]
            gw.put_alias(NAME, ALIAS, version, gw.get_alias(NAME, ALIAS)["RevisionId"])
            gw.publish_layer_version(
                "scorer-deps", "v2", zip_bytes=fake_zip({"python/y.py": "Y=2\n"})
            )
        first.update(role=role, writes=writes, state=snapshot(gw))

    def build() -> tuple[Gateway, Path]:
        reset()
        if not first:
            record()
        else:
            first["writes"].replay(gw)
            assert snapshot(gw) == first["state"]
        return gw, write_config(tmp_path, first["role"], memory=1024, retries=5, sink="sqs://out")

    return build, old_code, new_code


def expected(stage: str, old: dict, new: dict) -> dict:
    """The state a DeployIncompleteError's ``stage`` names (docs: mlayer/deploying/deploy_progress.py)."""
    latest = {
        "nothing": old["latest"],
        "configuration": {
            **new["latest"],
            "code": old["latest"]["code"],
            "handler": "legacy.handler",
        },
        "code": {**new["latest"], "handler": "legacy.handler"},
    }.get(stage, new["latest"])
    alias = new["alias"] if stage in ("alias", "function") else old["alias"]
    return {"latest": latest, "alias": alias, "trigger": old["trigger"]}


def test_every_injected_failure_leaves_a_named_state_and_a_rerun_completes_it(scene, tmp_path):
    build, _, new_code = scene
    gw, new_config = build()
    old = snapshot(gw)
    counting = FailingGateway(region=gw.region, endpoint_url=gw.endpoint_url)
    run(counting, new_config, new_code, tmp_path)
    total = len(counting.ops)
    new = snapshot(gw)
    # The new state really is new in every part the stages tell apart.
    assert new["latest"]["code"] != old["latest"]["code"] and new["trigger"] != old["trigger"]
    assert new["latest"]["handler"] == "mlayer_function.handler.handler"
    assert new["alias"] == new["latest"] and old["alias"] == old["latest"]
    writes = [
        "update_function_configuration",
        "update_function_code",
        "publish_version",
        "update_alias",
        "update_event_source_mapping",
    ]
    assert [op for op in counting.ops if op in writes] == [
        "update_function_configuration",  # configuration first: old code runs with it
        "update_function_code",
        "update_function_configuration",  # the handler, alone and last
        "publish_version",
        "update_alias",
        "update_event_source_mapping",
    ]

    stages = set()
    for n in range(1, total + 1):
        gw, new_config = build()
        failing = FailingGateway(region=gw.region, endpoint_url=gw.endpoint_url, fail_at=n)
        try:
            run(failing, new_config, new_code, tmp_path)
        except MlayerError as exc:
            err = pytest.ExceptionInfo.from_exc_info((type(exc), exc, exc.__traceback__))
        else:
            raise AssertionError(f"call {n} did not fail: {failing.ops}")
        state = snapshot(gw)
        stage = getattr(err.value, "stage", "nothing")
        stages.add(stage)
        assert state == expected(stage, old, new), (n, failing.ops[-1], err.value.message)
        if isinstance(err.value, DeployIncompleteError):
            assert "`mlayer deploy-function` again" in err.value.hint, err.value.hint
            assert "deploy-function stopped while" in err.value.message
        result = run(gw, new_config, new_code, tmp_path)  # the re-run completes it
        assert result.applied and snapshot(gw) == new, (n, failing.ops[-1])
        assert not run(gw, new_config, new_code, tmp_path).changed
    assert stages == {"nothing", "configuration", "code", "latest", "function"}


def test_a_relink_between_the_configuration_and_the_code_is_never_undone(scene, tmp_path):
    """The code update cannot carry layers, so another user's relink in between stays; the
    alias then serves it (on AWS the code update's RevisionId would refuse it: Stubber test)."""
    build, _, new_code = scene
    gw, new_config = build()
    model_v2 = gw.publish_layer_version("scorer-model", "v2", zip_bytes=fake_zip({"m": "2"}))

    def relink() -> None:
        layers = [layer["Arn"] for layer in gw.get_function_configuration(NAME)["Layers"]]
        gw.update_function_configuration(NAME, Layers=[layers[0], model_v2["LayerVersionArn"]])

    racing = FailingGateway(
        region=gw.region, endpoint_url=gw.endpoint_url, before={"update_function_code": relink}
    )
    run(racing, new_config, new_code, tmp_path)
    live = snapshot(gw)
    assert live["latest"]["layers"][1] == model_v2["LayerVersionArn"]
    assert live["alias"] == live["latest"]


def test_a_precondition_failure_says_someone_changed_the_function(scene, tmp_path):
    build, _, new_code = scene
    gw, new_config = build()
    old = snapshot(gw)
    counting = FailingGateway(region=gw.region, endpoint_url=gw.endpoint_url)
    run(counting, new_config, new_code, tmp_path)
    first_write = counting.ops.index("update_function_configuration") + 1

    gw, new_config = build()
    precondition = translate(
        botocore.exceptions.ClientError(
            {"Error": {"Code": "PreconditionFailedException", "Message": "RevisionId differs"}},
            "UpdateFunctionConfiguration",
        ),
        f"Updating the configuration of {NAME}",
    )
    assert isinstance(precondition, ConflictError)
    failing = FailingGateway(
        region=gw.region, endpoint_url=gw.endpoint_url, fail_at=first_write, error=precondition
    )
    with pytest.raises(DeployIncompleteError) as err:
        run(failing, new_config, new_code, tmp_path)
    assert err.value.stage == "nothing" and err.value.exit_code == 1
    assert "someone else changed scorer" in err.value.message
    assert "nothing of theirs was undone" in err.value.message
    assert "Nothing was changed" in err.value.message
    assert err.value.hint.startswith("Run `mlayer deploy-function` again (same configuration")
    assert snapshot(gw) == old


def test_the_default_on_failure_destination_is_the_sqs_dead_letter_queue(scene, gw):
    build, _, _ = scene
    gw, _ = build()
    assert snapshot(gw)["trigger"][1] == gw.queue_arn(DLQ)


def test_without_an_sqs_dead_letter_the_bucket_receives_what_lambda_gives_up(scene, tmp_path):
    build, old_code, _ = scene
    gw, new_config = build()
    new_config.write_text(new_config.read_text().replace(f'dead_letter = "sqs://{DLQ}"', ""))
    doc = run(gw, new_config, old_code, tmp_path).to_dict()
    assert doc["trigger"]["settings"]["DestinationConfig"] == {
        "OnFailure": {"Destination": f"arn:aws:s3:::{BUCKET}"}
    }
    assert snapshot(gw)["trigger"][1] == f"arn:aws:s3:::{BUCKET}"
    env = gw.get_function_configuration(NAME)["Environment"]["Variables"]
    assert env["MLAYER_DEAD_LETTER_OVERFLOW"] == f"s3://{BUCKET}/dead-letters/"
    assert "MLAYER_OUTPUT_DEAD_LETTER" not in env


def test_a_named_on_failure_destination_wins(scene, tmp_path):
    build, old_code, _ = scene
    gw, new_config = build()
    sandbox.ensure_queue(gw, "gave-up")
    text = new_config.read_text().replace(
        "max_retries = 5", 'max_retries = 5\non_failure = "sqs://gave-up"'
    )
    new_config.write_text(text)
    run(gw, new_config, old_code, tmp_path)
    assert snapshot(gw)["trigger"][1] == gw.queue_arn("gave-up")


def test_an_alias_moved_back_by_a_rollback_keeps_its_model(scene, tmp_path):
    """With an alias, the alias serves: a deploy keeps the model layer of the alias's version."""
    build, old_code, _ = scene
    gw, new_config = build()
    v1 = gw.get_alias(NAME, ALIAS)["FunctionVersion"]
    layers = [layer["Arn"] for layer in gw.get_function_configuration(NAME)["Layers"]]
    model_v2 = gw.publish_layer_version("scorer-model", "v2", zip_bytes=fake_zip({"m": "2"}))
    gw.update_function_configuration(NAME, Layers=[layers[0], model_v2["LayerVersionArn"]])
    gw.publish_function_version(NAME)  # published, but the alias stays on v1 (a rollback)
    run(gw, new_config, old_code, tmp_path)
    live = snapshot(gw)
    assert live["alias"]["layers"][1] == layers[1] and live["latest"]["layers"][1] == layers[1]
    assert gw.get_alias(NAME, ALIAS)["FunctionVersion"] != v1


def test_code_sha_is_reported_in_hex(scene, tmp_path):
    build, _, new_code = scene
    gw, new_config = build()
    doc = run(gw, new_config, new_code, tmp_path).to_dict()
    live = gw.get_function_configuration(NAME)["CodeSha256"]
    assert doc["code"]["sha256"] == base64.b64decode(live).hex()
    assert doc["alias"]["action"] == "moved"


WRITES = {
    "update_function_configuration",
    "update_function_code",
    "update_alias",
    "update_event_source_mapping",
}


def test_a_write_whose_answer_is_lost_names_both_states_it_may_have_left(scene, tmp_path):
    """AWS applied the call but the answer never came: the error names the state before and
    the state after (``maybe_stage``), the function is in one of them, a re-run completes it."""
    build, _, new_code = scene
    gw, new_config = build()
    old = snapshot(gw)
    counting = FailingGateway(region=gw.region, endpoint_url=gw.endpoint_url)
    run(counting, new_config, new_code, tmp_path)
    new = snapshot(gw)
    writes = [n for n, op in enumerate(counting.ops, 1) if op in WRITES]
    assert len(writes) == 5
    for n in writes:
        gw, new_config = build()
        losing = FailingGateway(region=gw.region, endpoint_url=gw.endpoint_url, lose_at=n)
        with pytest.raises(DeployIncompleteError) as err:
            run(losing, new_config, new_code, tmp_path)
        assert err.value.code == "ReadTimeoutError" and err.value.maybe_stage, n
        assert "answer was lost, so AWS may have applied that call: either" in err.value.message
        assert err.value.to_dict()["maybe_stage"] == err.value.maybe_stage
        if err.value.maybe_stage != "complete":
            assert snapshot(gw) == expected(err.value.maybe_stage, old, new), n
        run(gw, new_config, new_code, tmp_path)
        assert snapshot(gw) == new and not run(gw, new_config, new_code, tmp_path).changed
