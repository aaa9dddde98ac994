"""A small Lambda Runtime API on 127.0.0.1, spoken to by the real runtime interface client.

Only the calls a Python runtime makes: ``invocation/next`` (long-polls until the emulator hands
out an event), ``invocation/{id}/response``, ``invocation/{id}/error`` and ``init/error``. Each
one becomes a message on ``outcomes`` for the emulator, which owns clocks, limits and the process.

The server also keeps Lambda's two clock readings, taken where Lambda takes them: when an event
is handed to the runtime (the ``next`` response's body starts to go out) and when the runtime's
answer arrives (the kernel's receive stamp of its request line: stamped_reader.py), so the
REPORT Duration counts the runtime's work only, never this server's wake-up, header parsing or
wait for the GIL while the emulator polls, reads logs or samples memory; and when the runtime
first asks for an event (the end of its init). Connections are kept alive with
Nagle off, as Lambda's Runtime API does, so no call pays for a new connection.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from mlayer.local.stamped_reader import StampedReader, enable_stamps

PREFIX = "/2018-06-01/runtime"


@dataclass(frozen=True)
class Invocation:
    request_id: str
    body: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str


@dataclass(frozen=True)
class Outcome:
    """What the runtime said: kind is next | response | error | init_error."""

    kind: str
    request_id: str = ""
    body: bytes = b""
    error_type: str = ""
    at: float = 0.0  # the API's clock when the runtime's request arrived (its request line in)

    def json(self) -> object:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return self.body.decode("utf-8", "replace")


class RuntimeApi:
    """The server and its two queues: invocations in, outcomes out."""

    def __init__(
        self, host: str = "127.0.0.1", clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.clock = clock
        self.invocations: queue.Queue[Invocation] = queue.Queue()
        self.outcomes: queue.Queue[Outcome] = queue.Queue()
        self.handed_out: dict[str, float] = {}  # request id -> when the runtime got the event
        self.closed = threading.Event()
        self._server = _QuietServer((host, 0), _handler_for(self))
        enable_stamps(self._server.socket)  # now: Linux turns stamping on a moment after asked
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="runtime-api", daemon=True
        )

    @property
    def address(self) -> str:
        """host:port, the value of AWS_LAMBDA_RUNTIME_API."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> RuntimeApi:
        self._thread.start()
        return self

    def close(self) -> None:
        self.closed.set()
        self._server.shutdown()
        self._server.server_close()

    def next_invocation(self) -> Invocation | None:
        """Block until the emulator queues an invocation (None once closed)."""
        while not self.closed.is_set():
            try:
                return self.invocations.get(timeout=0.2)
            except queue.Empty:
                continue
        return None


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        return  # a runtime killed mid-request (timeout, memory) is expected, not news


def _handler_for(api: RuntimeApi) -> type[BaseHTTPRequestHandler]:
    """http.server makes a handler per connection from a class: one class per API instance."""
    return type("Handler", (RuntimeHandler,), {"api": api})


class RuntimeHandler(BaseHTTPRequestHandler):
    """One runtime connection: its calls become Outcomes, its ``next`` waits for an event."""

    api: RuntimeApi  # set per server by _handler_for
    server_version = "mlayer-runtime-api"
    protocol_version = "HTTP/1.1"  # keep-alive, as Lambda's Runtime API: no connect per call
    disable_nagle_algorithm = True  # headers and body go out at once, never held for an ACK
    arrived = 0.0

    def setup(self) -> None:
        super().setup()
        # an event (up to 6 MB) goes out in one write, not in turns with the runtime's reads
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        self.rfile.close()
        self.rfile = StampedReader(self.connection, self.api.clock)

    def parse_request(self) -> bool:
        # the request line is in: the runtime asked when the kernel received it, not when
        # this thread got to read it. Parsing its headers is our work
        self.arrived = self.rfile.stamp
        return super().parse_request()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - quiet
        return

    def _reply(
        self,
        status: int,
        body: bytes = b"{}",
        headers: dict[str, str] | None = None,
        handing_out: str = "",
    ) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if handing_out:  # Duration starts as the event goes out (before the runtime can answer)
            self.api.handed_out[handing_out] = self.api.clock()
        try:
            self.wfile.write(body)
        except OSError:  # the runtime was killed while it waited: nothing to tell it
            pass

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path != f"{PREFIX}/invocation/next":
            return self._reply(404, b'{"errorType":"NotFound"}')
        self.api.outcomes.put(Outcome("next", at=self.arrived))
        inv = self.api.next_invocation()
        if inv is None:
            return self._reply(503, b'{"errorType":"ShuttingDown"}')
        self._reply(
            200,
            inv.body,
            {
                "Lambda-Runtime-Aws-Request-Id": inv.request_id,
                "Lambda-Runtime-Deadline-Ms": str(inv.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": inv.function_arn,
                "Lambda-Runtime-Trace-Id": inv.trace_id,
            },
            handing_out=inv.request_id,
        )

    def do_POST(self) -> None:  # noqa: N802
        body = self._body()
        at = self.arrived  # Duration ends as the runtime posts its answer (not as we parse it)
        error_type = self.headers.get("Lambda-Runtime-Function-Error-Type", "")
        if self.path == f"{PREFIX}/init/error":
            self.api.outcomes.put(Outcome("init_error", "", body, error_type, at))
            return self._reply(202, b'{"status":"OK"}')
        answer = _invocation_answer(self.path)
        if answer is not None:
            kind, request_id = answer
            self.api.outcomes.put(Outcome(kind, request_id, body, error_type, at))
            return self._reply(202, b'{"status":"OK"}')
        self._reply(404, b'{"errorType":"NotFound"}')


def _invocation_answer(path: str) -> tuple[str, str] | None:
    """(response | error, request id) of ``/invocation/{id}/response|error``; else None."""
    parts = path[len(PREFIX) :].strip("/").split("/")
    if (
        path.startswith(PREFIX)
        and len(parts) == 3
        and parts[0] == "invocation"
        and parts[2] in ("response", "error")
    ):
        return parts[2], parts[1]
    return None
