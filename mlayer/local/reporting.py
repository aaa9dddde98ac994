"""What one emulated invocation returns: the response or error, and Lambda's REPORT line."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Report:
    """Lambda's REPORT line, from the emulator's clocks and /proc."""

    request_id: str
    duration_ms: float
    billed_ms: int
    memory_mb: int
    max_memory_mb: int
    init_ms: float | None = None

    def line(self) -> str:
        text = (
            f"REPORT RequestId: {self.request_id}\tDuration: {self.duration_ms:.2f} ms\t"
            f"Billed Duration: {self.billed_ms} ms\tMemory Size: {self.memory_mb} MB\t"
            f"Max Memory Used: {self.max_memory_mb} MB"
        )
        if self.init_ms is not None:
            text += f"\tInit Duration: {self.init_ms:.2f} ms"
        return text


@dataclass(frozen=True)
class InvokeResult:
    request_id: str
    payload: Any  # the response (JSON-decoded when it is JSON), or Lambda's error object
    error: dict[str, Any] | None
    report: Report
    logs: list[str] = field(default_factory=list)

    @property
    def function_error(self) -> str | None:
        """'Unhandled' when the invocation failed, as Lambda's X-Amz-Function-Error header says."""
        return "Unhandled" if self.error is not None else None


def billed_ms(duration_ms: float, init_ms: float | None) -> int:
    """Lambda bills per started ms, the init phase included (managed runtimes, since 2025-08-01)."""
    return max(1, math.ceil(duration_ms + (init_ms or 0.0)))


def read_memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in kB, from /proc; (0, 0) once it is gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except (OSError, ValueError):
        pass
    return rss, hwm
