"""The emulated container with the real runtime interface client and small fake handlers.

One container per scenario group; the runtime directory is installed once per session.
"""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest
from emulated_support import link_venv_deps

from mlayer.local.emulator import Emulator, FunctionSpec
from mlayer.local.prepare import interpreter_for
from mlayer.local.runtime_dir import runtime_dir

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
# the venv's Python, so the sklearn pickles load
RUNTIME = "python{}.{}".format(*sys.version_info[:2])

HANDLERS = textwrap.dedent("""
    import json, os, sys, time
    COLD = time.time()
    if os.environ.get("FAIL_AT_INIT"):
        raise RuntimeError("cannot start")

    def ok(event, context):
        print("handling", context.aws_request_id)
        try:
            import click  # the caller's venv has it; Lambda's runtime does not
            leaked = True
        except ImportError:
            leaked = False
        return {"event": event, "request_id": context.aws_request_id, "function": context.function_name,
                "memory": context.memory_limit_in_mb, "left_ms": context.get_remaining_time_in_millis(),
                "sys_path": sys.path, "model_dir": os.environ["MLAYER_MODEL_DIR"], "pid": os.getpid(),
                "cold": COLD, "greeting": os.environ.get("GREETING"), "leaked": leaked,
                "tmp_mb": os.environ.get("MLAYER_EPHEMERAL_STORAGE_MB"),
                "boto3": __import__("boto3").__file__, "from_opt": __import__("optmod").WHO}

    def boom(event, context):
        raise ValueError("bad input: " + str(event))

    def sleepy(event, context):
        time.sleep(event.get("sleep", 30))
        return "woke"

    def hungry(event, context):
        block = bytearray(event["mb"] * 1024 * 1024)
        block[::4096] = b"x" * len(block[::4096])  # touch every page: resident, not just reserved
        time.sleep(1)
        return len(block)

    def dies(event, context):
        os._exit(3)

    def affinity(event, context):
        return sorted(os.sched_getaffinity(0))

    def chatty(event, context):
        for i in range(event["n"]):
            print(event["tag"], i)
        return event["n"]
""")


@pytest.fixture(scope="session")
def interpreter():
    return interpreter_for(RUNTIME)


@pytest.fixture(scope="session")
def rdir(interpreter):
    root = Path(os.environ.get("MLAYER_CACHE_DIR") or REPO / ".cache" / "mlayer")
    return runtime_dir(interpreter, RUNTIME.removeprefix("python"), root=root)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    base = tmp_path_factory.mktemp("fn")
    task, opt = base / "task", base / "opt"
    task.mkdir()
    (task / "app.py").write_text(HANDLERS)
    (opt / "python").mkdir(parents=True)
    (opt / "python" / "optmod.py").write_text("WHO = 'layer'\n")
    return task, opt


def spec(dirs, handler, **kw):
    task, opt = dirs
    return FunctionSpec(
        name="fake", handler=handler, runtime=RUNTIME, task_root=task, opt_dir=opt, **kw
    )


def test_a_warm_container_runs_a_handler_as_lambda_does(dirs, interpreter, rdir):
    s = spec(
        dirs,
        "app.ok",
        memory_mb=256,
        timeout_s=5,
        environment={"GREETING": "hi", "MLAYER_EPHEMERAL_STORAGE_MB": "1"},
        ephemeral_storage_mb=2048,
    )
    with Emulator(s, interpreter, rdir) as em:
        first = em.invoke({"n": 1})
        second = em.invoke({"n": 2})
    a, b = first.payload, second.payload
    assert first.error is None and a["event"] == {"n": 1} and b["event"] == {"n": 2}
    assert a["request_id"] == first.request_id and a["function"] == "fake" and a["memory"] == "256"
    assert 0 < a["left_ms"] <= 5000
    task, opt = dirs
    v = RUNTIME.removeprefix("python")
    expected = [str(task), f"{opt}/python", f"{opt}/python/lib/python{v}/site-packages", str(rdir)]
    assert a["sys_path"][1:5] == expected  # [0] is the working directory, the task root too
    assert a["model_dir"] == f"{opt}/mlayer" and a["greeting"] == "hi" and a["from_opt"] == "layer"
    assert a["leaked"] is False  # the caller's site-packages is not on the path
    assert a["tmp_mb"] == "2048"  # /tmp's size is the function's EphemeralStorage, not a variable
    assert a["boto3"].startswith(str(rdir))  # boto3 comes from the runtime directory
    assert a["pid"] == b["pid"] and a["cold"] == b["cold"]  # warm: same process, init ran once
    assert first.report.init_ms is not None and second.report.init_ms is None
    assert any("handling" in line for line in first.logs)
    assert 0 < first.report.max_memory_mb <= 256
    assert em.cold_starts == 1


def test_errors_have_lambdas_shapes(dirs, interpreter, rdir):
    with Emulator(spec(dirs, "app.boom"), interpreter, rdir) as em:
        result = em.invoke({"x": 1})
        assert result.function_error == "Unhandled"
        assert result.error["errorType"] == "ValueError"
        assert result.error["errorMessage"] == "bad input: {'x': 1}"
        assert isinstance(result.error["stackTrace"], list)
        assert em.invoke({}).report.init_ms is None  # a handled error keeps the container warm

    failing = spec(dirs, "app.ok", environment={"FAIL_AT_INIT": "1"})
    with Emulator(failing, interpreter, rdir) as em:
        result = em.invoke({})
        assert (
            result.error["errorType"] == "RuntimeError"
            and "cannot start" in result.error["errorMessage"]
        )

    with Emulator(spec(dirs, "nosuchmodule.handler"), interpreter, rdir) as em:
        assert em.invoke({}).error["errorType"] == "Runtime.ImportModuleError"

    with Emulator(spec(dirs, "app.dies"), interpreter, rdir) as em:
        result = em.invoke({})
        assert result.error["errorType"] == "Runtime.ExitError"
        assert "exit status 3" in result.error["errorMessage"]


def test_a_handler_past_its_timeout_is_killed_and_the_next_invoke_is_cold(dirs, interpreter, rdir):
    with Emulator(spec(dirs, "app.sleepy", timeout_s=1), interpreter, rdir) as em:
        result = em.invoke({"sleep": 30})
        assert result.error == {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {result.request_id} Error: Task timed out after 1.00 seconds",
        }
        assert result.report.duration_ms == 1000.0 and em.pid is None
        again = em.invoke({"sleep": 0})
        assert again.payload == "woke" and again.report.init_ms is not None and em.cold_starts == 2


def test_a_handler_past_its_memory_is_stopped_as_out_of_memory(dirs, interpreter, rdir):
    with Emulator(spec(dirs, "app.hungry", memory_mb=128, timeout_s=10), interpreter, rdir) as em:
        assert em.invoke({"mb": 16}).payload == 16 * 1024 * 1024
        result = em.invoke({"mb": 300})
        assert result.error["errorType"] == "Runtime.OutOfMemory"
        assert "Runtime exited with error: signal: killed" in result.error["errorMessage"]
        assert result.report.max_memory_mb == 128 and result.report.duration_ms < 5000
        assert em.pid is None


def test_a_real_sklearn_model_loads_from_opt(tmp_path, interpreter, rdir):
    """The deps come from /opt/python only (links to the venv's packages stand in for the layer)."""
    joblib = pytest.importorskip("joblib")
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    texts = ["win money now", "cheap pills offer", "lunch at noon?", "see you at the meeting"] * 5
    labels = ["spam", "spam", "ham", "ham"] * 5
    model = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, labels)
    task, opt = tmp_path / "task", tmp_path / "opt"
    (opt / "python").mkdir(parents=True)
    (opt / "mlayer").mkdir()
    joblib.dump(model, opt / "mlayer" / "model.joblib")
    link_venv_deps(opt)
    task.mkdir()
    (task / "predict.py").write_text(
        textwrap.dedent("""
        import os, joblib
        MODEL = joblib.load(os.path.join(os.environ["MLAYER_MODEL_DIR"], "model.joblib"))
        def handler(event, context):
            return {"predictions": MODEL.predict(event["texts"]).tolist(), "sklearn": __import__("sklearn").__file__}
    """)
    )
    s = FunctionSpec(
        name="sk",
        handler="predict.handler",
        runtime=RUNTIME,
        task_root=task,
        opt_dir=opt,
        memory_mb=1024,
        timeout_s=30,
    )
    with Emulator(s, interpreter, rdir) as em:
        result = em.invoke({"texts": ["cheap money offer", "meeting at noon"]})
    assert result.error is None, result.payload
    assert (
        result.payload["predictions"]
        == model.predict(["cheap money offer", "meeting at noon"]).tolist()
    )
    assert result.payload["sklearn"].startswith(str(opt / "python"))
    assert result.report.max_memory_mb > 30 and result.report.init_ms > 0


def test_the_real_handler_writes_to_the_aws_the_gateway_talks_to(
    aws, tmp_path, interpreter, rdir, model_layers
):
    """mlayer's own function code, by its Handler string, with the endpoint and credentials of
    the gateway only (the caller's environment holds no AWS_* at all): its sink reaches moto."""
    import json
    import shutil

    from function_support import kinesis_event

    from mlayer.deploying.deploy import HANDLER, build_code_zip
    from mlayer.gateway import Gateway
    from mlayer.local import sandbox
    from mlayer.local.environment import function_aws_env
    from mlayer.local.opt import extract

    gateway = Gateway(region=aws.region, endpoint_url=aws.endpoint_url)
    sandbox.ensure_queue(gateway, "predictions")
    code, _sha = build_code_zip(tmp_path / "code.zip")
    extract(code, tmp_path / "task")
    opt = tmp_path / "opt"
    shutil.copytree(model_layers["text"], opt / "mlayer")
    link_venv_deps(opt)
    s = FunctionSpec(
        name="real",
        handler=HANDLER,
        runtime=RUNTIME,
        task_root=tmp_path / "task",
        opt_dir=opt,
        memory_mb=1024,
        timeout_s=30,
        environment={"MLAYER_OUTPUT_SINK": "sqs://predictions"},
        region=aws.region,
    )
    caller = {"PATH": os.environ["PATH"]}
    aws_env = function_aws_env(gateway)
    assert aws_env["AWS_ENDPOINT_URL"] == aws.endpoint_url and aws_env["AWS_ACCESS_KEY_ID"]
    with Emulator(s, interpreter, rdir, caller_env=caller, aws_env=aws_env) as em:
        result = em.invoke(
            kinesis_event([{"id": "a", "text": "win money now"}, {"id": "b", "text": "lunch?"}])
        )
    assert result.error is None, result.payload
    assert result.payload == {"batchItemFailures": []}
    written = sorted(
        (json.loads(m)["id"], json.loads(m)["prediction"])
        for m in sandbox.receive_all(gateway, "predictions")
    )
    assert written == [("a", "spam"), ("b", "ham")]


# ------------------------------------------------------------------ the REPORT line's clocks


def test_report_duration_is_the_runtimes_time_only(dirs, interpreter, rdir):
    """Duration covers the handler (a 0.3 s sleep), Init the module's import, as Lambda times them."""
    s = spec(dirs, "app.sleepy", timeout_s=5)
    with Emulator(s, interpreter, rdir) as em:
        first = em.invoke({"sleep": 0.3})
        warm = em.invoke({"sleep": 0.3})
    assert first.payload == warm.payload == "woke"
    assert warm.report.duration_ms >= 300 and first.report.init_ms > 0
    assert f"Duration: {warm.report.duration_ms:.2f} ms" in warm.report.line()


def test_the_emulators_own_delays_stay_out_of_duration():
    """The Runtime API reads Lambda's two clocks itself: an emulator slow to collect the answer
    (here: 0.6 s late) does not lengthen the Duration of a 0.1 s invocation."""
    import http.client
    import threading
    import time

    from mlayer.local.runtime_api import Invocation, RuntimeApi

    api = RuntimeApi().start()
    host, port = api.address.split(":")

    def runtime() -> None:
        conn = http.client.HTTPConnection(host, int(port))
        conn.request("GET", "/2018-06-01/runtime/invocation/next")
        resp = conn.getresponse()
        request_id = resp.getheader("Lambda-Runtime-Aws-Request-Id")
        resp.read()
        time.sleep(0.1)  # the function's work
        conn.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", body=b"1")
        conn.getresponse().read()
        conn.close()

    try:
        thread = threading.Thread(target=runtime)
        thread.start()
        api.invocations.put(Invocation("r-1", b"{}", 0, "arn", "trace"))
        thread.join(10)
        time.sleep(0.6)  # the emulator busy elsewhere
        outcomes = [api.outcomes.get(timeout=5) for _ in range(2)]
        [answer] = [o for o in outcomes if o.kind == "response"]
        duration = answer.at - api.handed_out["r-1"]
        assert 0.1 <= duration < 0.6
    finally:
        api.close()


def test_the_runtime_keeps_one_connection_and_duration_starts_before_it_can_answer():
    """Like Lambda's Runtime API: keep-alive (no connect per call, which Duration would count),
    and the Duration clock is read before the event's body goes out, so an answer, however fast,
    never arrives before it (an instant answer once measured 0.0 ms)."""
    import http.client

    from mlayer.local.runtime_api import Invocation, RuntimeApi

    api = RuntimeApi().start()
    host, port = api.address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        sockets = set()
        for n in range(3):
            api.invocations.put(Invocation(f"r-{n}", b'{"n": %d}' % n, 0, "arn", "trace"))
            conn.request("GET", "/2018-06-01/runtime/invocation/next")
            resp = conn.getresponse()
            assert resp.read() == b'{"n": %d}' % n
            sockets.add(id(conn.sock))
            conn.request("POST", f"/2018-06-01/runtime/invocation/r-{n}/response", body=b"1")
            posted = conn.getresponse()
            assert (posted.status, posted.read()) == (202, b'{"status":"OK"}')
            sockets.add(id(conn.sock))
        answers = [api.outcomes.get(timeout=5) for _ in range(6)]
        responses = [o for o in answers if o.kind == "response"]
        assert [o.request_id for o in responses] == ["r-0", "r-1", "r-2"]
        assert all(o.at > api.handed_out[o.request_id] for o in responses)
        assert len(sockets) == 1, "the server closed the runtime's connection"
    finally:
        conn.close()
        api.close()


def test_a_runtime_can_be_pinned_to_the_cpus_a_benchmark_shares_with_its_baseline(
    dirs, interpreter, rdir
):
    """Every thread of the runtime runs on the CPUs given (benchmarks pin the function and its
    baseline to one CPU); without them the runtime may run anywhere this process may."""
    one = frozenset({max(os.sched_getaffinity(0))})
    with Emulator(spec(dirs, "app.affinity"), interpreter, rdir, cpus=one) as em:
        assert em.invoke({}).payload == sorted(one)
        threads = [int(t) for t in os.listdir(f"/proc/{em.pid}/task")]
        assert all(os.sched_getaffinity(t) == one for t in threads)
    with Emulator(spec(dirs, "app.affinity"), interpreter, rdir) as em:
        assert em.invoke({}).payload == sorted(os.sched_getaffinity(0))


def test_every_line_printed_before_the_answer_is_in_that_invocations_logs(dirs, interpreter, rdir):
    """Logs are read in bursts (never per line, mid-invocation), yet complete and in order."""
    with Emulator(spec(dirs, "app.chatty", timeout_s=10), interpreter, rdir) as em:
        first = em.invoke({"n": 2000, "tag": "a"})
        second = em.invoke({"n": 3, "tag": "b"})
    assert [line for line in first.logs if line.startswith("a ")] == [f"a {i}" for i in range(2000)]
    assert [line for line in second.logs if line.startswith(("a ", "b "))] == ["b 0", "b 1", "b 2"]
