"""A connection's reader that knows when the kernel received what it reads.

Lambda's Duration ends when the runtime posts its answer. A server thread in Python only learns
of the answer once it is scheduled and holds the GIL, which on a busy emulator (log capture,
memory sampling) or an idle CPU woken by its hypervisor can be 0.3-2.5 ms later: the
emulator's own delay, not the function's. The kernel stamps every received segment
(SO_TIMESTAMP, CLOCK_REALTIME); this reader reads with recvmsg and keeps that stamp, moved onto
the caller's clock, for the bytes at the start of its buffer.

It is the ``rfile`` http.server reads from (``readline`` and ``read`` only). Where the kernel
gives no stamp (no SO_TIMESTAMP on this platform) the stamp is the moment recv returned.
"""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from typing import Any

SO_TIMESTAMP = getattr(socket, "SO_TIMESTAMP", 29)  # Linux's value; Python names it on 3.x Linux
_TIMEVAL = struct.Struct("@ll")  # struct timeval: seconds, microseconds
CHUNK = 1 << 16
STAMP_MAX_AGE_S = 60.0  # a stamp older than this (or from the future) is a clock step: not used


def enable_stamps(sock: socket.socket) -> bool:
    """Ask the kernel to stamp what ``sock`` receives (connections accepted from it inherit
    it). Linux turns stamping on for the machine a moment after the first socket asks, so a
    server asks as it starts; until then, and where there are no stamps, readers use their own
    clock. False where the platform has no SO_TIMESTAMP."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
    except (OSError, AttributeError):
        return False
    return True


class StampedReader:
    """Buffered reads from ``sock``; ``stamp`` is when the buffer's first byte arrived."""

    def __init__(self, sock: socket.socket, clock: Callable[[], float] = time.monotonic) -> None:
        self._sock, self._clock = sock, clock
        self._buf = bytearray()
        self.stamp = 0.0
        self._ancillary = socket.CMSG_SPACE(_TIMEVAL.size) if enable_stamps(sock) else 0

    def _fill(self) -> bool:
        """One recv into the buffer; False at the end of the stream."""
        if self._ancillary:
            data, ancillary, _, _ = self._sock.recvmsg(CHUNK, self._ancillary)
        else:
            data, ancillary = self._sock.recv(CHUNK), []
        if not data:
            return False
        if not self._buf:  # these bytes start the buffer: their arrival is the stamp
            self.stamp = self._arrival(ancillary)
        self._buf += data
        return True

    def _arrival(self, ancillary: list[Any]) -> float:
        now = self._clock()
        for level, kind, raw in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMP and len(raw) >= _TIMEVAL.size:
                seconds, micros = _TIMEVAL.unpack_from(raw)
                age: float = time.time() - (seconds + micros / 1e6)
                if -0.001 <= age <= STAMP_MAX_AGE_S:
                    return now - max(age, 0.0)
        return now

    def readline(self, limit: int = -1) -> bytes:
        start = 0
        while True:
            end = self._buf.find(b"\n", start) + 1
            if end or 0 <= limit <= len(self._buf):
                break
            start = len(self._buf)
            if not self._fill():
                end = len(self._buf)
                break
        if not end or 0 <= limit < end:
            end = len(self._buf) if limit < 0 else min(limit, len(self._buf))
        return self._take(end)

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self._buf) < size) and self._fill():
            pass
        return self._take(len(self._buf) if size < 0 else min(size, len(self._buf)))

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def close(self) -> None:
        self._buf.clear()  # the socket is the server's to close
