"""Helpers to run function/ as Lambda would: real models, real events, a separate process.

Two halves in one file:
- the test side: tiny real sklearn models with a FORMATS.md manifest, Kinesis/SQS event
  factories, and ``HandlerProcess``, which starts the handler in a child Python;
- the child side (``python -S -E function_support.py``): a driver whose sys.path holds only
  what Lambda's would (function code, the dependencies layer, a runtime dir with boto3), which
  imports ``handler`` (the cold start) and then answers invocations read from stdin. It can
  install faults on boto3 (throttling, unprocessed items, errors) without touching moto.

Only the standard library is imported at module level, so the child can load this file.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FUNCTION_DIR = REPO / "function"
SHARD = "shardId-000000000000"
LONG_SEQ_BASE = 49590338271490256608559692538361571095921575989136588800  # 56 digits


# ---------------------------------------------------------------- models and manifests


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_model_layer(opt: Path, steps: list, *, input_kind: str, version: str, n_features=None):
    """Save each pipeline step as its own joblib artifact with a manifest, under <opt>/mlayer."""
    import platform

    import joblib
    import numpy
    import sklearn

    folder = opt / "mlayer"
    folder.mkdir(parents=True, exist_ok=True)
    artifacts = []
    for i, step in enumerate(steps):
        role = "model" if i == len(steps) - 1 else "preprocessor"
        name = (
            f"{i:02d}-{type(step).__name__.lower() if role == 'preprocessor' else 'model'}.joblib"
        )
        path = folder / name
        joblib.dump(step, path)
        artifacts.append(
            {
                "file": name,
                "role": role,
                "sha256": _sha256(path),
                "size": path.stat().st_size,
                "class": f"{type(step).__module__}.{type(step).__name__}",
                "sklearn_version": sklearn.__version__,
            }
        )
    model = steps[-1]
    classes = getattr(model, "classes_", None)
    manifest = {
        "schema_version": 1,
        "model_version": version,
        "content_sha256": "0" * 64,
        "created_at": "2026-11-24T07:00:00Z",
        "created_by": {"user": "test", "host": "test", "git_commit": None, "git_dirty": False},
        "input_kind": input_kind,
        "artifacts": artifacts,
        "code": [],
        "outputs": {
            "predict": True,
            "predict_proba": hasattr(model, "predict_proba"),
            "classes": [c.item() if hasattr(c, "item") else c for c in classes]
            if classes is not None
            else None,
        },
        "n_features": n_features,
        "versions": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "numpy": numpy.__version__,
            "joblib": joblib.__version__,
        },
        "globals": [],
        "metrics": {},
        "description": "test model",
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return folder


SPAM = ["win money now", "free prize claim now", "cheap pills offer", "you won a free cruise"]
HAM = ["lunch at noon?", "see you at the meeting", "the report is attached", "call me tonight"]


def build_text_model(opt: Path, version: str = "v1") -> Path:
    """CountVectorizer -> TfidfTransformer -> LogisticRegression on spam/ham, three artifacts."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    texts, labels = SPAM + HAM, ["spam"] * len(SPAM) + ["ham"] * len(HAM)
    counts = CountVectorizer().fit(texts)
    tfidf = TfidfTransformer().fit(counts.transform(texts))
    clf = LogisticRegression(C=10.0).fit(tfidf.transform(counts.transform(texts)), labels)
    return write_model_layer(opt, [counts, tfidf, clf], input_kind="text", version=version)


def build_numeric_model(opt: Path, version: str = "n1") -> Path:
    """StandardScaler -> RandomForestClassifier on 4 features, integer classes."""
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    scaler = StandardScaler().fit(x)
    forest = RandomForestClassifier(n_estimators=10, random_state=0).fit(scaler.transform(x), y)
    return write_model_layer(
        opt, [scaler, forest], input_kind="features", version=version, n_features=4
    )


# ---------------------------------------------------------------- events


def b64_json(payload) -> str:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return base64.b64encode(raw).decode()


def kinesis_event(payloads: list, *, first_seq: int = 1, shard: str = SHARD, raw: bool = False):
    """A Kinesis event as Lambda delivers it; ``raw`` payloads are base64 data strings as is."""
    records = []
    for i, payload in enumerate(payloads):
        seq = str(first_seq + i)
        records.append(
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": f"pk-{i}",
                    "sequenceNumber": seq,
                    "data": payload if raw else b64_json(payload),
                    "approximateArrivalTimestamp": 1764000000.0,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"{shard}:{seq}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
                "awsRegion": "us-east-1",
                "eventSourceARN": "arn:aws:kinesis:us-east-1:123456789012:stream/input",
            }
        )
    return {"Records": records}


def sqs_event(bodies: list[str], *, prefix: str = "msg", queue: str = "input"):
    return {
        "Records": [
            {
                "messageId": f"{prefix}-{i}",
                "receiptHandle": f"rh-{i}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


# ---------------------------------------------------------------- the handler in a child process


class InitError(Exception):
    """The child's cold start failed; ``error`` holds errorType and errorMessage."""

    def __init__(self, error: dict) -> None:
        super().__init__(f"{error.get('errorType')}: {error.get('errorMessage')}")
        self.error = error


class InvokeError(Exception):
    def __init__(self, error: dict) -> None:
        super().__init__(f"{error.get('errorType')}: {error.get('errorMessage')}")
        self.error = error


class HandlerProcess:
    """function/mlayer_function/handler.py in a child Python whose path is only Lambda's; one per scenario."""

    def __init__(
        self,
        *,
        model_dir: Path,
        deps_layer: Path,
        runtime_dir: Path,
        workdir: Path,
        env: dict[str, str],
        faults: list[dict] | None = None,
        user_python: Path | None = None,
    ) -> None:
        """``user_python``: modules a model layer ships with ``--code`` (its /opt/python)."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "stdout.log"
        self.stderr_path = workdir / "stderr.log"
        # Lambda's order: /var/task (the function's zip), /opt/python (every layer), runtime.
        opt_python = [str(deps_layer / "python")] + ([str(user_python)] if user_python else [])
        lambda_path = [str(FUNCTION_DIR), *opt_python, str(runtime_dir)]
        child_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "AWS_LAMBDA_FUNCTION_NAME": "mlayer-predict",
            "MLAYER_MODEL_DIR": str(model_dir),
            "MLAYER_TEST_SYSPATH": json.dumps(lambda_path),
            "MLAYER_TEST_LOG": str(self.log_path),
            "MLAYER_TEST_FAULTS": json.dumps(faults or []),
            **{k: v for k, v in os.environ.items() if k.startswith("AWS_")},
            **env,
        }
        self._stderr = self.stderr_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-S", "-E", str(Path(__file__).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=child_env,
            cwd=workdir,
            text=True,
        )
        self.left_ms: int | None = None  # what the last invoke's context had left
        hello = self._read()
        if "init_error" in hello:
            self.close()
            raise InitError(hello["init_error"])

    def _read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            raise RuntimeError(
                f"handler process exited ({self.proc.returncode}): {self.stderr_path.read_text()}"
            )
        return json.loads(line)

    def _call(self, message: dict) -> dict:
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def invoke(self, event, *, timeout_ms: int | None = None) -> dict:
        """``timeout_ms``: the handler gets a context whose deadline is that far away, and
        ``left_ms`` is then what the context said was left when the handler returned."""
        answer = self._call({"op": "invoke", "event": event, "timeout_ms": timeout_ms})
        self.left_ms = answer.get("left_ms")
        if "error" in answer:
            raise InvokeError(answer["error"])
        return answer["ok"]

    def set_faults(self, faults: list[dict]) -> list[dict]:
        """Install ``faults``; returns the ones they replace, with ``_used``: calls they hit."""
        return self._call({"op": "faults", "faults": faults})["ok"]

    def info(self, imports: list[str] = ()) -> dict:
        """The child's sys.path, where its libraries come from, and ``imports`` imported there."""
        return self._call({"op": "info", "imports": list(imports)})["ok"]

    def log_lines(self) -> list[dict]:
        lines = self.log_path.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def metrics(self) -> list[dict]:
        return [line for line in self.log_lines() if "_aws" in line]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()


# ---------------------------------------------------------------- child side: faults on boto3


class _FakeHttp:
    def __init__(self, status: int, content: bytes = b"") -> None:
        self.status_code = status
        self.headers: dict = {}
        self.content = content
        self.raw = None


class _Context:
    """The part of Lambda's context the handler reads: a deadline ``timeout_ms`` from now."""

    def __init__(self, timeout_ms: int) -> None:
        import time

        self._clock = time.monotonic
        self._end = self._clock() + timeout_ms / 1000
        self.aws_request_id = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return int((self._end - self._clock()) * 1000)


def _item_ids(params: dict) -> set:
    """The ``id`` of the items a DynamoDB request writes: PutItem's Item, BatchWriteItem's puts."""
    items = [params["Item"]] if "Item" in params else []
    for requests in (params.get("RequestItems") or {}).values():
        items.extend(r["PutRequest"]["Item"] for r in requests if "PutRequest" in r)
    ids = set()
    for item in items:
        value = item.get("id", {})
        ids.add(value.get("S", value.get("N")))
    return ids


class FaultInjector:
    """Makes boto3 calls fail the way AWS does, before they reach moto.

    A fault is a dict: ``operation`` ("dynamodb.PutItem"), ``mode`` ("error": the call raises
    ``code`` with HTTP ``status``; "unprocessed": BatchWriteItem hands the matching items back
    as UnprocessedItems; "http": every HTTP request of the call, botocore's own retries
    included, is answered ``status`` with a JSON-protocol error ``code``), ``times`` (how many calls it hits; null = every call), ``ids`` (only
    requests writing an item whose ``id`` is listed: PutItem's Item, BatchWriteItem's puts).
    Calls may come from the DynamoDB sink's thread pool: counting is under a lock.
    """

    def __init__(self, faults: list[dict]) -> None:
        import threading

        self.faults = faults
        self._lock = threading.Lock()

    def _take(self, event_name: str, mode: str, params: dict | None = None) -> dict | None:
        """The fault that hits this call (and count it), or None."""
        operation = ".".join(event_name.split(".")[1:3])
        with self._lock:
            for fault in self.faults:
                if fault["operation"] != operation or fault.get("mode", "error") != mode:
                    continue
                if fault.get("times") is not None and fault.get("_used", 0) >= fault["times"]:
                    continue
                wanted = set(fault.get("ids") or [])
                if mode == "error" and wanted and params and not wanted & _item_ids(params):
                    continue
                fault["_used"] = fault.get("_used", 0) + 1
                return fault
        return None

    def before_parameter_build(self, params, event_name, context=None, **_):
        if context is None:
            return
        fault = self._take(event_name, "error", params)
        if fault is not None:
            context["mlayer_fault_error"] = fault
            return
        fault = self._take(event_name, "unprocessed")
        if fault is None:
            return
        ids = set(fault.get("ids") or [])
        held = {}
        for table, requests in params["RequestItems"].items():
            keep, hold = [], []
            for request in requests:
                item_id = request["PutRequest"]["Item"].get("id", {})
                value = item_id.get("S", item_id.get("N"))
                (hold if not ids or value in ids else keep).append(request)
            params["RequestItems"][table] = keep
            if hold:
                held[table] = hold
        context["mlayer_fault_held"] = held
        if all(not r for r in params["RequestItems"].values()):
            # Nothing left to send: keep the request valid; before_call answers for it.
            context["mlayer_fault_all"] = True
            for table, requests in held.items():
                params["RequestItems"][table] = requests

    def before_send(self, event_name, request=None, **_):
        fault = self._take(event_name, "http")
        if fault is None:
            return None
        if fault.get("delay"):  # a service slow to say no, as a throttled one may be
            import time

            time.sleep(fault["delay"])
        code = fault.get("code", "ThrottlingException")
        body = {"__type": f"com.amazonaws.test#{code}", "message": "injected by the test"}
        return _FakeHttp(fault.get("status", 400), json.dumps(body).encode())

    def before_call(self, event_name, context=None, **_):
        context = context or {}
        if context.get("mlayer_fault_all"):
            return _FakeHttp(200), {"UnprocessedItems": context["mlayer_fault_held"]}
        fault = context.get("mlayer_fault_error")
        if fault is None:
            return None
        code = fault.get("code", "ThrottlingException")
        body = {"Error": {"Code": code, "Message": "injected by the test"}}
        return _FakeHttp(fault.get("status", 400)), body

    def after_call(self, parsed, context=None, **_):
        held = (context or {}).get("mlayer_fault_held")
        if held and not (context or {}).get("mlayer_fault_all"):
            unprocessed = parsed.setdefault("UnprocessedItems", {})
            for table, requests in held.items():
                unprocessed.setdefault(table, []).extend(requests)

    def install(self, boto3_module) -> None:
        boto3_module.setup_default_session()
        events = boto3_module.DEFAULT_SESSION.events
        events.register("before-parameter-build", self.before_parameter_build)
        events.register("before-call", self.before_call)
        events.register("before-send", self.before_send)
        events.register("after-call", self.after_call)


# ---------------------------------------------------------------- child side: the driver


def _error_dict(exc: BaseException) -> dict:
    return {"errorType": type(exc).__name__, "errorMessage": str(exc)}


def driver_main() -> int:
    """Run in the child: Lambda's sys.path, cold start, then one invocation per stdin line."""
    lambda_path = json.loads(os.environ["MLAYER_TEST_SYSPATH"])
    sys.path[:1] = lambda_path  # drop this file's folder (tests/): Lambda has no such thing
    protocol = os.fdopen(os.dup(1), "w")
    log = os.open(os.environ["MLAYER_TEST_LOG"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    sys.stdout = os.fdopen(1, "w", buffering=1)

    def answer(message: dict) -> None:
        protocol.write(json.dumps(message, default=str) + "\n")
        protocol.flush()

    injector = FaultInjector(json.loads(os.environ.get("MLAYER_TEST_FAULTS") or "[]"))
    try:
        import boto3
    except ImportError:
        boto3 = None
    if boto3 is not None:
        injector.install(boto3)
    try:
        from mlayer_function import handler
    except BaseException as exc:
        answer({"init_error": _error_dict(exc)})
        return 1
    answer({"ready": True})
    for line in sys.stdin:
        message = json.loads(line)
        op = message["op"]
        if op == "invoke":
            timeout_ms = message.get("timeout_ms")
            context = _Context(timeout_ms) if timeout_ms else None
            try:
                reply = {"ok": handler.handler(message["event"], context)}
            except Exception as exc:
                reply = {"error": _error_dict(exc)}
            if context is not None:
                reply["left_ms"] = context.get_remaining_time_in_millis()
            answer(reply)
        elif op == "faults":
            previous, injector.faults = injector.faults, message["faults"]
            answer({"ok": previous})
        elif op == "info":
            import importlib

            function_dir = os.path.dirname(os.path.dirname(handler.__file__))
            answer(
                {
                    "ok": {
                        "sys_path": sys.path,
                        "modules": {
                            name: getattr(sys.modules.get(name), "__file__", None)
                            for name in ("boto3", "sklearn", "numpy", "joblib", "orjson")
                        },
                        "from_function_dir": sorted(
                            name
                            for name, module in list(sys.modules.items())
                            if (getattr(module, "__file__", None) or "").startswith(function_dir)
                        ),
                        "imported": {
                            name: importlib.import_module(name).__file__
                            for name in message.get("imports", [])
                        },
                    }
                }
            )
    return 0


if __name__ == "__main__":
    sys.exit(driver_main())
