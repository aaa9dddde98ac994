"""The function's stdout/stderr, captured without taxing the invocation it comes from.

Lambda's runtime writes logs unbuffered, one write per line; reading each line as it comes
would wake the emulator for every one of them, on the CPUs the function needs. The reader
instead wakes at most every ``pause`` seconds and takes what has piled up in the pipe (made
1 MiB wide by the emulator, so the function never waits for it), and the emulator drains the
rest the moment an invocation ends, so a response's logs are complete and in order.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Callable
from typing import IO


class LogPipe:
    """Lines from a child's output pipe, read in bursts; ``take()`` hands over what was read."""

    def __init__(
        self, stream: IO[bytes], on_log: Callable[[str], None] | None = None, pause: float = 0.01
    ) -> None:
        self._fd = stream.fileno()
        self._stream = stream  # kept open until the emulator closes it
        self.on_log = on_log
        self.pause = pause
        self._lock = threading.Lock()
        self._partial = b""
        self._lines: list[str] = []
        self._eof = False
        os.set_blocking(self._fd, False)
        threading.Thread(target=self._run, name="function-logs", daemon=True).start()

    def _run(self) -> None:
        while not self._eof:
            try:
                ready, _, _ = select.select([self._fd], [], [], 1.0)
            except (OSError, ValueError):  # closed under us
                return
            if ready:
                self.drain()
                time.sleep(self.pause)

    def drain(self) -> None:
        """Read whatever the pipe holds now (non-blocking) and split it into lines."""
        with self._lock:
            chunks = []
            while not self._eof:
                try:
                    chunk = os.read(self._fd, 1 << 16)
                except BlockingIOError:
                    break
                except (OSError, ValueError):
                    self._eof = True
                    break
                if not chunk:
                    self._eof = True
                    break
                chunks.append(chunk)
            data = self._partial + b"".join(chunks)
            *complete, self._partial = data.split(b"\n")
            if self._eof and self._partial:
                complete.append(self._partial)
                self._partial = b""
            lines = [raw.decode("utf-8", "replace") for raw in complete]
            self._lines.extend(lines)
            if self.on_log:  # under the lock: lines reach the caller in their order
                for line in lines:
                    self.on_log(line)

    def take(self) -> list[str]:
        """The lines read so far (after draining the pipe), each handed over once."""
        self.drain()
        with self._lock:
            lines, self._lines = self._lines, []
        return lines
