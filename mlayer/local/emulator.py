"""A warm Lambda container without Docker: the real runtime interface client in a fresh process.

``python3.X -S -m awslambdaric <handler>`` talks to mlayer's Runtime API, so bootstrap, context
object and error shapes are Lambda's own. The emulator owns what the Lambda service owns: the
environment and sys.path, the init and invoke clocks, the timeout (kill, "Task timed out"), the
memory limit and the REPORT line. Memory is enforced on resident memory, as Lambda does, by
watching /proc/<pid>/status (an RLIMIT_AS cap would hang OpenBLAS at import).
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import queue
import secrets
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlayer.errors import LocalRuntimeError
from mlayer.local import limits
from mlayer.local.environment import FunctionSpec, build_environment
from mlayer.local.logs import LogPipe
from mlayer.local.reporting import InvokeResult, Report, billed_ms, read_memory_kb
from mlayer.local.runtime_api import Invocation, Outcome, RuntimeApi

INIT_LIMIT_S = 10.0  # Lambda's init phase limit for on-demand functions

__all__ = ["Emulator", "FunctionSpec", "InvokeResult", "Report"]


def _widen_pipe(proc: subprocess.Popen) -> None:
    """A 1 MiB log pipe, so the function never waits on the emulator's log reader mid-invoke."""
    try:
        fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)  # type: ignore[union-attr]
    except (AttributeError, OSError, ValueError):
        pass  # not Linux, or over /proc/sys/fs/pipe-max-size: the default 64 KiB will do


class Emulator:
    """One warm container: started on the first invoke, reused until closed, timeout or crash."""

    def __init__(
        self,
        spec: FunctionSpec,
        python_exe: str,
        runtime_dir: Path,
        *,
        clock: Callable[[], float] = time.monotonic,
        poll_interval: float = 0.005,
        caller_env: dict[str, str] | None = None,
        aws_env: dict[str, str] | None = None,
        on_log: Callable[[str], None] | None = None,
        cpus: frozenset[int] | None = None,
    ) -> None:
        self.spec = spec
        self.cpus = cpus  # pin the runtime to these CPUs (a benchmark's same-CPU baseline)
        self.python_exe = python_exe
        self.runtime_dir = Path(runtime_dir)
        self.clock = clock
        self.poll_interval = poll_interval
        self.caller_env = caller_env
        self.aws_env = aws_env
        self.on_log = on_log
        self.cold_starts = 0
        self._api: RuntimeApi | None = None
        self._proc: subprocess.Popen | None = None
        self._logs: LogPipe | None = None
        self._tmp = Path(tempfile.mkdtemp(prefix=f"mlayer-{spec.name}-tmp-"))

    # -- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop()
        import shutil

        shutil.rmtree(self._tmp, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def _stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                try:
                    os.killpg(self._proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self._proc.wait()
            if self._logs is not None:
                self._logs.drain()  # what it wrote before it ended, up to EOF
            if self._proc.stdout:
                self._proc.stdout.close()
            self._proc = None
        if self._api is not None:
            self._api.close()
            self._api = None

    def _start(self) -> tuple[float | None, dict | None]:
        """Start the runtime and wait for its first /next. Returns (init ms, init error or None)."""
        self._api = RuntimeApi(clock=self.clock).start()
        env = build_environment(
            self.spec, self.runtime_dir, self._api.address, self._tmp, self.caller_env, self.aws_env
        )
        t0 = self.clock()
        try:
            self._proc = subprocess.Popen(
                [self.python_exe, "-S", "-m", "awslambdaric", self.spec.handler],
                cwd=self.spec.task_root,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            self._stop()
            raise LocalRuntimeError(
                f"Cannot start {self.python_exe}: {exc.strerror}",
                "Check the interpreter the emulation found.",
            ) from exc
        self.cold_starts += 1
        if self.cpus:  # at once: the interpreter is still starting, no thread of it exists yet
            os.sched_setaffinity(self._proc.pid, self.cpus)
        _widen_pipe(self._proc)
        assert self._proc.stdout is not None
        self._logs = LogPipe(self._proc.stdout, self.on_log)
        limit = max(INIT_LIMIT_S, float(self.spec.timeout_s))
        kind, outcome, _ = self._wait(lambda o: o.kind in ("next", "init_error"), t0 + limit, "")
        # Init Duration: process start to the runtime's first request for an event (Lambda's)
        end = outcome.at if kind == "ok" and outcome is not None and outcome.at else self.clock()
        init_ms = (end - t0) * 1000
        if kind == "ok" and outcome is not None and outcome.kind == "next":
            return init_ms, None
        error = self._error_for(kind, outcome, "", limit, phase="init")
        self._stop()
        return init_ms, error

    def _take_logs(self) -> list[str]:
        return self._logs.take() if self._logs is not None else []

    # -- the wait loop: outcomes, deadline, memory, process exit ---------------------------------
    def _wait(
        self, accept: Callable[[Outcome], bool], deadline: float, request_id: str
    ) -> tuple[str, Outcome | None, int]:
        """Wait for an accepted outcome. Returns (ok | timeout | oom | exit, outcome, peak RSS kB)."""
        assert self._api is not None and self._proc is not None
        limit_kb = self.spec.memory_mb * 1024
        peak = 0
        while True:
            rss, hwm = read_memory_kb(self._proc.pid)
            peak = max(peak, hwm, rss)
            if rss > limit_kb:
                return "oom", None, peak
            try:
                outcome = self._api.outcomes.get(timeout=self.poll_interval)
            except queue.Empty:
                outcome = None
            if (
                outcome is not None
                and accept(outcome)
                and (not request_id or outcome.request_id in ("", request_id))
            ):
                return "ok", outcome, peak
            if outcome is not None and outcome.kind == "init_error":
                return "ok", outcome, peak
            if self._proc.poll() is not None and self._api.outcomes.empty():
                return "exit", None, peak
            if self.clock() > deadline:
                return "timeout", None, peak

    def _error_for(
        self,
        kind: str,
        outcome: Outcome | None,
        request_id: str,
        limit_s: float,
        phase: str = "invoke",
    ) -> dict:
        prefix = f"RequestId: {request_id} " if request_id else ""
        if kind == "ok" and outcome is not None:  # an init error the runtime reported
            body = outcome.json()
            return (
                body
                if isinstance(body, dict)
                else {
                    "errorType": outcome.error_type or "Runtime.Unknown",
                    "errorMessage": str(body),
                }
            )
        if kind == "timeout":
            what = "Task" if phase == "invoke" else "Init"
            return {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"{prefix}Error: {what} timed out after {limit_s:.2f} seconds",
            }
        if kind == "oom":
            return {
                "errorType": "Runtime.OutOfMemory",
                "errorMessage": f"{prefix}Error: Runtime exited with error: signal: killed (out of memory: "
                f"resident memory passed the function's {self.spec.memory_mb} MB)",
            }
        code = self._proc.returncode if self._proc else None
        status = (
            f"signal: {signal.Signals(-code).name.lower().removeprefix('sig')}"
            if code is not None and code < 0
            else f"exit status {code}"
        )
        return {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"{prefix}Error: Runtime exited with error: {status}",
        }

    # -- one invocation -------------------------------------------------------------------------
    def invoke(self, event: Any) -> InvokeResult:
        """Run one event (a JSON-able object, or bytes) on the warm container, starting it if cold."""
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        if len(body) > limits.SYNC_PAYLOAD_MAX:  # Lambda refuses it before any container runs
            raise limits.payload_too_large(self.spec.name, len(body))
        request_id = str(uuid.uuid4())
        init_ms: float | None = None
        if self._proc is None or self._proc.poll() is not None:
            self._stop()
            init_ms, init_error = self._start()
            if init_error is not None:
                peak = 0
                return self._result(request_id, init_error, init_error, 0.0, init_ms, peak)
        assert self._api is not None
        now_ms = int(time.time() * 1000)
        trace = f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Parent={secrets.token_hex(8)};Sampled=0"
        arn = (
            self.spec.arn
            or f"arn:aws:lambda:{self.spec.region}:000000000000:function:{self.spec.name}"
        )
        t0 = self.clock()
        self._api.invocations.put(
            Invocation(request_id, body, now_ms + self.spec.timeout_s * 1000, arn, trace)
        )
        kind, outcome, peak = self._wait(
            lambda o: o.kind in ("response", "error"), t0 + self.spec.timeout_s, request_id
        )
        # Duration: event handed to the runtime -> its answer in, both read by the Runtime API
        handed = self._api.handed_out.pop(request_id, t0) if self._api is not None else t0
        end = outcome.at if kind == "ok" and outcome is not None and outcome.at else self.clock()
        duration_ms = max(0.0, end - handed) * 1000
        if kind == "ok" and outcome is not None and outcome.kind == "response":
            if len(outcome.body) > limits.RESPONSE_MAX:
                err = limits.response_too_large()
                return self._result(request_id, err, err, duration_ms, init_ms, peak)
            return self._result(request_id, outcome.json(), None, duration_ms, init_ms, peak)
        if kind == "ok" and outcome is not None and outcome.kind == "error":
            err = outcome.json()
            err = (
                err
                if isinstance(err, dict)
                else {"errorType": outcome.error_type, "errorMessage": str(err)}
            )
            return self._result(request_id, err, err, duration_ms, init_ms, peak)
        if kind == "timeout":
            duration_ms = self.spec.timeout_s * 1000.0
        error = self._error_for(kind, outcome, request_id, self.spec.timeout_s)
        self._stop()  # Lambda resets the sandbox: the next invoke is a cold start
        return self._result(request_id, error, error, duration_ms, init_ms, peak)

    def _result(
        self,
        request_id: str,
        payload: Any,
        error: dict | None,
        duration_ms: float,
        init_ms: float | None,
        peak_kb: int,
    ) -> InvokeResult:
        if self._proc is not None and self._proc.poll() is None:
            peak_kb = max(peak_kb, read_memory_kb(self._proc.pid)[1])
        max_mb = min(math.ceil(peak_kb / 1024), self.spec.memory_mb)
        report = Report(
            request_id,
            duration_ms,
            billed_ms(duration_ms, init_ms),
            self.spec.memory_mb,
            max_mb,
            init_ms,
        )
        return InvokeResult(request_id, payload, error, report, self._take_logs())
