"""A local endpoint for the Lambda Invoke calls an emulated function makes (its continuations).

On Lambda, a function scoring a file hands the rest to itself with a plain asynchronous
``lambda:Invoke`` (InvocationType=Event). In the emulation that call would reach the embedded
AWS, which stores functions but cannot run them; so the emulator gives the function
``AWS_ENDPOINT_URL_LAMBDA`` (boto3's per-service endpoint, which wins over AWS_ENDPOINT_URL)
pointing here. This server speaks the one operation, Invoke's REST shape
(``POST /2015-03-31/functions/{name}/invocations``): an ``Event`` invocation is queued and
answered 202 as Lambda answers it, and the emulator runs the queued events in turn, as
Lambda's asynchronous queue would. The function's code is the same on both: only where the
call goes differs. Anything else is answered as Lambda answers an unsupported request.
"""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

ENDPOINT_ENV = "AWS_ENDPOINT_URL_LAMBDA"
_PATH = "/2015-03-31/functions/"


@dataclass(frozen=True)
class QueuedInvoke:
    function: str  # as the caller named it (a name, an ARN, a qualified ARN)
    payload: bytes


class AsyncInvokes:
    """The server and the events queued on it; a context manager."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.queued: queue.Queue[QueuedInvoke] = queue.Queue()
        self._server = ThreadingHTTPServer((host, 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="async-invokes", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> AsyncInvokes:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def take(self) -> QueuedInvoke | None:
        """The oldest queued event, or None when none is waiting."""
        try:
            return self.queued.get_nowait()
        except queue.Empty:
            return None


def _handler_for(owner: AsyncInvokes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
            return

        def _reply(self, status: int, body: dict | None = None, error: str = "") -> None:
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if error:
                self.send_header("x-amzn-ErrorType", error)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            kind = self.headers.get("X-Amz-Invocation-Type", "RequestResponse")
            if not (path.startswith(_PATH) and path.endswith("/invocations")):
                self._reply(
                    404, {"message": f"not served here: {path}"}, "ResourceNotFoundException"
                )
                return
            if kind != "Event":
                self._reply(
                    400,
                    {"message": "the emulation's local endpoint takes InvocationType=Event only"},
                    "InvalidRequestContentException",
                )
                return
            name = unquote(path[len(_PATH) : -len("/invocations")])
            owner.queued.put(QueuedInvoke(name, body))
            self._reply(202)

    return Handler
