"""Issue 23 case 8 as a user meets it: the function's code zip in mlayer's Lambda emulation (the
real runtime interface client over the Runtime API, Lambda's timeout enforced: "Task timed out"
kills the container), its DynamoDB throttled by an HTTP proxy in front of the embedded AWS.

The proxy answers every BatchWriteItem 400 ProvisionedThroughputExceededException, slowly, as a
throttled table does; everything else goes through to moto. With a 5 s timeout the function
must answer batchItemFailures (not time out), print its accounting line, and write each dead
letter once across the batch and Lambda's retry of it: the standard SQS queue keeps every
message it is sent, so counting messages counts writes.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from emulated_support import RUNTIME, function_folders, interpreter_and_runtime
from function_support import kinesis_event
from handler_aws_support import aws_client, create_table_and_queue, letters_by_event

from mlayer.local.emulator import Emulator, FunctionSpec

pytestmark = pytest.mark.slow
TABLE, DLQ = "throttled-predictions", "throttled-dead-letters"
SHARD = "shardId-000000000000"
THROTTLE = b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"throttled by the test proxy"}'  # noqa: E501


class ThrottlingProxy:
    """HTTP in front of the embedded AWS: DynamoDB BatchWriteItem is refused while ``on``."""

    def __init__(self, upstream: str, delay: float) -> None:
        self.upstream = urlsplit(upstream)
        self.delay, self.on, self.refused = delay, True, 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target = self.headers.get("X-Amz-Target", "")
                if proxy.on and target.endswith(".BatchWriteItem"):
                    proxy.refused += 1
                    threading.Event().wait(proxy.delay)
                    self._answer(400, {"Content-Type": "application/x-amz-json-1.0"}, THROTTLE)
                    return
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port)
                conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                reply = conn.getresponse()
                data = reply.read()
                headers = {
                    k: v for k, v in reply.getheaders() if k.lower() not in ("transfer-encoding",)
                }
                headers["Content-Length"] = str(len(data))
                conn.close()
                self._answer(reply.status, headers, data)

            def _answer(self, status: int, headers: dict, data: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    if key.lower() not in ("content-length", "connection", "server", "date"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _forward

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ThrottlingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_throttled_table_answers_batch_item_failures_within_lambdas_timeout(
    aws, tmp_path, model_layers
):
    from mlayer.deploying.deploy import HANDLER
    from mlayer.gateway import Gateway
    from mlayer.local.environment import function_aws_env

    create_table_and_queue(aws, TABLE, DLQ)
    task, opt = function_folders(tmp_path, model_layers["text"])
    interpreter, rdir = interpreter_and_runtime()
    spec = FunctionSpec(
        name="throttled",
        handler=HANDLER,
        runtime=RUNTIME,
        task_root=task,
        opt_dir=opt,
        memory_mb=1024,
        timeout_s=5,
        environment={
            "MLAYER_OUTPUT_SINK": f"dynamodb://{TABLE}",
            "MLAYER_OUTPUT_DEAD_LETTER": f"sqs://{DLQ}",
        },
        region=aws.region,
    )
    bad = {0, 40, 90}
    payloads = [
        {"text": "no id"} if i in bad else {"id": f"t-{i}", "text": "win free money"}
        for i in range(100)
    ]
    first = 500
    event = kinesis_event(payloads, first_seq=first)
    retry = kinesis_event(payloads[1:], first_seq=first + 1)
    with ThrottlingProxy(aws.endpoint_url, delay=0.3) as proxy:
        gateway = Gateway(region=aws.region, endpoint_url=proxy.url)
        with Emulator(
            spec,
            interpreter,
            rdir,
            caller_env={"PATH": os.environ["PATH"]},
            aws_env=function_aws_env(gateway),
        ) as em:
            throttled = em.invoke(event)
            refused, proxy.on = proxy.refused, False
            letters_first = letters_by_event(aws, DLQ)
            retried = em.invoke(retry)

    # Lambda's answer, not "Task timed out", and the balance in the EMF line.
    assert throttled.error is None, throttled.payload
    assert throttled.payload == {"batchItemFailures": [{"itemIdentifier": str(first + 1)}]}
    assert throttled.report.duration_ms < 5000
    # the batch's own EMF line (a classifier also logs one line of predictions per class)
    emfs = [json.loads(line) for line in throttled.logs if '"_aws"' in line]
    (emf,) = [e for e in emfs if "accounting" in e]
    assert emf["accounting"] == "records 100 = predicted 0 + dead_lettered 1 + failed 99"
    (warning,) = [line for line in throttled.logs if "not written after retries" in line]
    assert "stopped retrying with" in warning
    assert refused % 4 == 0 and refused < 4 * 6  # one HTTP request per call, 4 calls a round

    # Each dead letter written once across the batch and its retry; nothing lost.
    assert letters_first == {f"{SHARD}:{first}": 1}
    assert retried.error is None and retried.payload == {"batchItemFailures": []}
    assert letters_by_event(aws, DLQ) == {f"{SHARD}:{first + 40}": 1, f"{SHARD}:{first + 90}": 1}
    items = aws_client(aws, "dynamodb").scan(TableName=TABLE, Select="COUNT")["Count"]
    assert items == 97
