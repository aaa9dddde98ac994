"""The embedded AWS: moto's server on 127.0.0.1, for `mlayer local-aws`, the demo and tests.

Everything talks to it over HTTP through boto3 with an endpoint URL, exactly as it would talk
to AWS, so nothing in mlayer knows it is not the real thing.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlayer.errors import LocalRuntimeError

# moto accepts any credentials; these make sure a stray call never signs with real ones.
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
LOCAL_REGION = "us-east-1"


@dataclass(frozen=True)
class LocalAws:
    endpoint_url: str
    region: str = LOCAL_REGION

    @property
    def env(self) -> dict[str, str]:
        """The variables a shell or a subprocess needs to use this endpoint."""
        return {
            **LOCAL_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def export_lines(self) -> list[str]:
        return [f"export {k}={v}" for k, v in self.env.items()]


@contextlib.contextmanager
def embedded_aws(
    port: int = 0,
    host: str = "127.0.0.1",
    set_env: bool = False,
    isolated: bool = False,
    enforce_iam: bool = False,
) -> Iterator[LocalAws]:
    """Run moto's server for the duration of the block.

    ``port=0`` picks a free port. ``set_env`` also exports the endpoint and fake credentials
    into os.environ for the block (restored afterwards), for code that reads them from there.
    ``isolated`` runs the server in a child process (its output never reaches ours), otherwise
    in a background thread (faster to start: what tests use). ``enforce_iam`` checks every
    request against IAM (local/iam_enforcement.py), in a child process always (moto's settings
    are per process): create the administrator first (sandbox.create_administrator).
    """
    if enforce_iam:
        starter = functools.partial(_process_server, enforce_iam=True)
    else:
        starter = _process_server if isolated else _thread_server
    with starter(host, port) as bound_port:
        local = LocalAws(endpoint_url=f"http://{host}:{bound_port}")
        saved = {k: os.environ.get(k) for k in local.env} if set_env else {}
        if set_env:
            os.environ.update(local.env)
        try:
            yield local
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def _list_moto_modules_once() -> None:
    """moto asks, for every request, which folders its package has (a listdir and a stat per
    folder: ~30% of its server's CPU in the fault-walk tests); they do not change while it runs."""
    from moto import backends

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: iter(modules)


def moto_server(host: str, port: int) -> Any:
    """moto's threaded server, its app behind the limit moto lacks (PutRecord's 1 MiB); it never
    runs a function itself (`no_invoke`): stream records wait for the emulation's poller."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from mlayer.local.limits import KinesisRecordLimit
    from mlayer.local.no_invoke import never_run_functions

    never_run_functions()
    _list_moto_modules_once()

    class LimitedMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = KinesisRecordLimit(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    return LimitedMotoServer(ip_address=host, port=port, verbose=False)


def _missing_moto(exc: ImportError) -> LocalRuntimeError:
    return LocalRuntimeError(
        "The embedded AWS needs moto's server, which is not installed.",
        "pip install 'mlayer[local]' (or `make demo`, which installs it).",
    )


def _cannot_start(host: str, port: int, why: str) -> LocalRuntimeError:
    return LocalRuntimeError(
        f"Cannot start the embedded AWS on {host}:{port}: {why}",
        "Pick another --port, or omit it to use a free one.",
    )


@contextlib.contextmanager
def _thread_server(host: str, port: int) -> Iterator[int]:
    try:
        server = moto_server(host, port)
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise _missing_moto(exc) from exc
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    try:
        server.start()
    except OSError as exc:
        raise _cannot_start(host, port, str(exc.strerror or exc)) from exc
    try:
        yield server.get_host_and_port()[1]
    finally:
        server.stop()


@contextlib.contextmanager
def _process_server(
    host: str, port: int, timeout: float = 60.0, enforce_iam: bool = False
) -> Iterator[int]:
    if importlib.util.find_spec("moto") is None:
        raise _missing_moto(ImportError("moto"))
    command = [sys.executable, "-m", "mlayer.local.moto_process", "--host", host, "--port"]
    proc = subprocess.Popen(
        [*command, str(port), *(["--enforce-iam"] if enforce_iam else [])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline().strip() if ready else ""
        if not line.isdigit():
            proc.kill()
            err = proc.stderr.read().strip().splitlines()
            raise _cannot_start(host, port, err[-1] if err else "the server did not start in time")
        yield int(line)
    finally:
        if proc.poll() is None:
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
