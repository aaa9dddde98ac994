"""What `mlayer invoke` shows: the response(s), REPORT lines and the cost estimate.

One result for both paths (the emulation and Lambda's own Invoke), so the CLI renders one type
and the ``--json`` keys stay the same whichever ran; it renders itself and never prints.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from typing import Any

from mlayer.local import pricing
from mlayer.local.reporting import InvokeResult
from mlayer.local.shadow_share import ShadowShare, shadow_share


def _invocation_dict(r: InvokeResult) -> dict[str, Any]:
    return {
        "request_id": r.request_id,
        "response": r.payload,
        "function_error": r.function_error,
        "report": {**r.report.__dict__, "line": r.report.line()},
        "logs": r.logs,
    }


def _pretty(payload: Any) -> str:
    return (
        json.dumps(payload, indent=2, sort_keys=True) if not isinstance(payload, str) else payload
    )


@dataclass
class InvokeSummary:
    """What `mlayer invoke` shows: the response(s), REPORT lines and the cost estimate."""

    function: str
    local: bool
    results: list[InvokeResult] = field(default_factory=list)
    architecture: str = "x86_64"
    memory_mb: int = 128
    remote: dict[str, Any] | None = None
    provisioned_concurrency: int = 0  # [function] keys: the cost estimate includes their prices
    snapstart: bool = False

    @property
    def ok(self) -> bool:
        if self.remote is not None:
            return not self.remote.get("FunctionError")
        return all(r.error is None for r in self.results)

    def cost(self) -> pricing.CostEstimate | None:
        if not self.results:
            return None
        warm = [r.report.billed_ms for r in self.results if r.report.init_ms is None]
        billed = round(statistics.mean(warm)) if warm else self.results[-1].report.billed_ms
        return pricing.estimate(
            self.architecture,
            self.memory_mb,
            billed,
            provisioned_concurrency=self.provisioned_concurrency,
            snapstart=self.snapstart,
        )

    def shadow(self) -> ShadowShare | None:
        """The candidate's share of the duration and cost (a shadow model, shadow_share.py)."""
        cost = self.cost()
        logs = [line for r in self.results for line in r.logs]
        total = sum(r.report.duration_ms for r in self.results)
        return shadow_share(logs, total, cost.per_million_usd) if cost else None

    def to_dict(self) -> dict[str, Any]:
        """Stable keys, local or not: response, function_error, report{...}, cost{...}.

        ``response``/``report`` are the last invocation's (the one the text output shows);
        ``invocations`` lists every one of a ``--repeat``. ``report`` and ``cost`` are null for
        Lambda's own Invoke, whose REPORT line is in ``logs``.
        """
        if self.remote is not None:
            return self._remote_dict(self.remote)
        return self._local_dict()

    def _remote_dict(self, remote: dict[str, Any]) -> dict[str, Any]:
        return {
            "function": self.function,
            "local": False,
            "ok": self.ok,
            "request_id": None,
            "response": remote.get("Response"),
            "function_error": remote.get("FunctionError"),
            "report": None,
            "cost": None,
            "logs": (remote.get("LogResult") or "").splitlines(),
            "status_code": remote.get("StatusCode"),
            "executed_version": remote.get("ExecutedVersion"),
            "cold_starts": None,
            "invocations": [],
        }

    def _local_dict(self) -> dict[str, Any]:
        cost = self.cost()
        shadow = self.shadow()
        invocations = [_invocation_dict(r) for r in self.results]
        last = invocations[-1] if invocations else {}
        return {
            "function": self.function,
            "local": True,
            "ok": self.ok,
            "request_id": last.get("request_id"),
            "response": last.get("response"),
            "function_error": last.get("function_error"),
            "report": last.get("report"),
            "cost": cost.to_dict() if cost else None,
            "shadow": shadow.to_dict() if shadow else None,
            "logs": last.get("logs", []),
            "cold_starts": sum(1 for r in self.results if r.report.init_ms is not None),
            "invocations": invocations,
        }

    def render(self) -> str:
        if self.remote is not None:
            return self._render_remote(self.remote)
        last = self.results[-1]
        lines = [f"Response{' (function error)' if last.error else ''}:", _pretty(last.payload)]
        lines += [r.report.line() for r in self.results]
        lines += self._repeat_lines()
        cost = self.cost()
        if cost:
            lines.append(cost.line())
        shadow = self.shadow()
        if shadow:
            lines.append(shadow.line())
        return "\n".join(lines)

    @staticmethod
    def _render_remote(remote: dict[str, Any]) -> str:
        lines = [remote.get("LogResult", "").rstrip(), _pretty(remote.get("Response"))]
        if remote.get("FunctionError"):
            lines.append(f"Function error: {remote['FunctionError']}")
        return "\n".join(x for x in lines if x)

    def _repeat_lines(self) -> list[str]:
        """A ``--repeat``'s cold count and warm median: the figure worth reading across runs."""
        if len(self.results) <= 1:
            return []
        warm = [r.report.duration_ms for r in self.results if r.report.init_ms is None]
        if not warm:
            return []
        cold = sum(1 for r in self.results if r.report.init_ms is not None)
        return [
            f"{len(self.results)} invocations, {cold} cold; "
            f"warm duration median {statistics.median(warm):.2f} ms"
        ]
