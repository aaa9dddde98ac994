"""A warm fork server for publish's child load: scikit-learn imported once, one fork per load.

Starting a fresh Python that imports joblib, numpy, scipy and scikit-learn costs about a second
per publish. On Linux the load runs instead in a fork of a server started once per mlayer process
(``sys.executable -c``, on the caller's path, like the one-shot child: none of the caller's code
re-runs). The server imports only the trusted library modules in ``WARM``, then serves requests
from its stdin one at a time: it reads the request's bytes (reading runs nothing), forks, and the
fork does what the one-shot child does (the handler, ``load_child.answer``) with the caller's
``sys.path``, working directory and environment of the moment, its output and stderr in a file.
The server waits for it and replies with its exit status, its answer and the tail of its stderr.
The server never unpickles anything, so every load starts from the same clean state and nothing a
model did survives into the next. It exits on EOF on its stdin, so no server outlives mlayer.
A server that fails (died, answered out of frame) gives ``None``: the caller runs the one-shot
child for that request, and the next request starts a new server.
"""

from __future__ import annotations

import atexit
import importlib
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, BinaryIO, NoReturn

# Imported by the server before any request: trusted libraries and the modules the load runs.
WARM = (
    "joblib",
    "numpy",
    "scipy.sparse",
    "sklearn",
    "sklearn.linear_model",
    "sklearn.feature_extraction.text",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "mlayer.model.manifest",
    "mlayer.model.samples",
    "mlayer.model.sample_kinds",
    "mlayer.model.schema",
)
TAIL = 64 * 1024  # of the child's stderr, sent back: the refusal quotes its last line
_MAGIC = b"mlayer-load-reply"
_HEADER_MAX = 4096


@dataclass(frozen=True)
class Ran:
    """One load's outcome, as a one-shot child's would be: ``code`` is -N for signal N."""

    code: int
    answer: bytes
    stderr: bytes


def available() -> bool:
    """The server forks: Linux only (elsewhere each load is a one-shot child)."""
    return sys.platform == "linux" and hasattr(os, "fork")


def frame(data: bytes) -> bytes:
    """``data`` after its length (8 bytes, little-endian): the requests' and replies' framing."""
    return len(data).to_bytes(8, "little") + data


# ---- the parent's side: one server per process, one request at a time ----


class _Server:
    def __init__(self, handler: str) -> None:
        module, name = handler.split(":")
        boot = (
            "import sys, json; base = sys.path[:]; sys.path[:0] = json.loads(sys.argv[1]); "
            f"from {module} import {name} as handler; "
            "from mlayer.model.load_server import serve; serve(handler, base)"
        )
        self.handler = handler
        self.owner = os.getpid()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", boot, json.dumps(sys.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def ask(self, given: bytes) -> Ran:
        stdin, stdout = self.proc.stdin, self.proc.stdout
        assert stdin is not None and stdout is not None
        stdin.write(frame(_caller_state()))
        stdin.write(len(given).to_bytes(8, "little"))
        stdin.write(given)  # not joined to its length: a model may weigh hundreds of MB
        stdin.flush()
        if stdout.read(len(_MAGIC)) != _MAGIC:
            raise EOFError("the load server answered out of frame")
        header = json.loads(unframe(stdout, _HEADER_MAX))
        code = header["code"]
        if not isinstance(code, int) or isinstance(code, bool):
            raise ValueError("the load server sent no exit status")
        return Ran(code, unframe(stdout), unframe(stdout))

    def stop(self, kill: bool = False) -> None:
        if kill:  # its fork got the same Ctrl-C; the server would finish nothing useful
            self.proc.kill()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                if pipe is not None:
                    pipe.close()
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


_LOCK = threading.Lock()
_server: _Server | None = None
_stop_registered = False
_failures = 0  # in a row: after GIVE_UP, this process loads in one-shot children only
GIVE_UP = 3


def run(given: bytes, handler: str) -> Ran | None:
    """The load of ``given`` by a fork of the server (``handler`` is ``module:function``, the
    function the fork calls on the request's bytes); ``None`` if the server failed."""
    global _server, _failures
    with _LOCK:
        server = _current(handler)
        if server is None and _failures >= GIVE_UP:
            return None  # a server that cannot start here: don't pay its start on every load
        try:
            if server is None:
                server = _server = _start(handler)
            ran = server.ask(given)
        except (OSError, EOFError, ValueError, KeyError, TypeError):
            _failures += 1
            _drop()
            return None
        except BaseException:  # interrupted mid-request: the pipes are out of step
            _drop(kill=True)
            raise
        _failures = 0
        return ran


def server_pid() -> int | None:
    """The pid of this process's running server, if any (tests and diagnostics)."""
    with _LOCK:
        server = _server
        if server is None or server.owner != os.getpid() or server.proc.poll() is not None:
            return None
        return server.proc.pid


def stop() -> None:
    """Stop this process's server (at exit; the next load starts a new one)."""
    if _LOCK.acquire(timeout=5):
        try:
            _drop()
        finally:
            _LOCK.release()
    elif (server := _server) is not None and server.owner == os.getpid():
        server.proc.kill()  # a thread is stuck mid-load at exit: don't wait for it


def _current(handler: str) -> _Server | None:
    global _server
    if _server is not None and _server.owner != os.getpid():
        _server = None  # a forked mlayer: that server and its pipes belong to the parent
    elif _server is not None and (_server.handler != handler or _server.proc.poll() is not None):
        _drop()  # died (or serves another handler): the next one starts
    return _server


def _start(handler: str) -> _Server:
    global _stop_registered
    if not _stop_registered:
        atexit.register(stop)
        _stop_registered = True
    return _Server(handler)


def _drop(kill: bool = False) -> None:
    global _server
    server, _server = _server, None
    if server is not None and server.owner == os.getpid():
        server.stop(kill)


def _caller_state() -> bytes:
    """What a one-shot child would inherit at this moment: path, working directory, env."""
    try:
        cwd: str | None = os.getcwd()
    except OSError:
        cwd = None
    return json.dumps({"path": sys.path, "cwd": cwd, "env": dict(os.environ)}).encode()


def unframe(stream: IO[bytes], limit: int | None = None) -> bytes:
    """One ``frame``'s data read back (EOFError if the stream ends first)."""
    size = int.from_bytes(_exactly(stream.read, 8), "little")
    if limit is not None and size > limit:
        raise ValueError("the load server answered out of frame")
    return _exactly(stream.read, size)


def _exactly(read: Callable[[int], bytes], size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = read(min(left, 1 << 20))
        if not chunk:
            raise EOFError("the stream ended early")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


# ---- the server's side (in the process started above) ----


def serve(handler: Callable[[BinaryIO], bytes], base_path: list[str]) -> NoReturn:
    """Import WARM, then fork once per request until EOF on stdin."""
    requests, replies = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(2, 1)  # nothing printed in the server can reach the replies
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches mlayer and the fork, not here
    for name in WARM:
        importlib.import_module(name)
    while True:
        try:
            state = _read_frame(requests)
        except EOFError:
            os._exit(0)  # mlayer closed the pipe (or is gone)
        given = _read_frame(requests)
        ran = _fork_one(handler, base_path, state, given, (requests, replies))
        reply = _MAGIC + frame(json.dumps({"code": ran.code}).encode())
        _write_all(replies, reply + frame(ran.answer) + frame(ran.stderr))


def _read_frame(fd: int) -> bytes:
    def read(size: int) -> bytes:
        return os.read(fd, size)

    return _exactly(read, int.from_bytes(_exactly(read, 8), "little"))


def _fork_one(
    handler: Callable[[BinaryIO], bytes],
    base_path: list[str],
    state: bytes,
    given: bytes,
    server_fds: tuple[int, int],
) -> Ran:
    with tempfile.TemporaryFile() as err:
        answer_r, answer_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(answer_r)
            for fd in server_fds:
                os.close(fd)
            _child(handler, base_path, state, given, answer_w, err.fileno())
        os.close(answer_w)
        with os.fdopen(answer_r, "rb") as answer_in:
            answer = answer_in.read()
        _, status = os.waitpid(pid, 0)
        size = err.seek(0, io.SEEK_END)
        err.seek(max(0, size - TAIL))
        return Ran(os.waitstatus_to_exitcode(status), answer, err.read())


def _child(
    handler: Callable[[BinaryIO], bytes],
    base_path: list[str],
    state: bytes,
    given: bytes,
    answer_fd: int,
    err_fd: int,
) -> NoReturn:
    """The fork: the caller's state, then the handler; exits as a fresh Python would."""
    code = 1
    try:
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.dup2(err_fd, 1)  # what the model prints goes to stderr, never into the answer
        os.dup2(err_fd, 2)
        caller = json.loads(state)
        os.environ.clear()
        os.environ.update(caller["env"])
        if caller["cwd"] is not None:
            try:
                os.chdir(caller["cwd"])
            except OSError:
                pass
        sys.path[:] = [*caller["path"], *base_path]
        importlib.invalidate_caches()
        with os.fdopen(answer_fd, "wb") as answer_to:
            answer_to.write(handler(io.BytesIO(given)))
        atexit._run_exitfuncs()
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=sys.stderr)
    return 1


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
