"""What one invocation would cost on Lambda: published prices, one table, and their date.

A local run's duration is measured on this machine, not on Lambda's CPUs (which scale with the
memory setting), so the figure is an estimate and is always labelled as one.
"""

from __future__ import annotations

from dataclasses import dataclass

# Lambda's on-demand prices, us-east-1, first monthly tier (no free tier applied).
PRICES_SOURCE = "https://aws.amazon.com/lambda/pricing/"
PRICES_READ_ON = "2026-11-24"
PRICES = {
    # architecture: (USD per GB-second, USD per request)
    "x86_64": (0.0000166667, 0.20 / 1_000_000),
    "arm64": (0.0000133334, 0.20 / 1_000_000),
}


@dataclass(frozen=True)
class CostEstimate:
    architecture: str
    memory_mb: int
    billed_ms: int
    compute_usd: float
    request_usd: float
    label: str = "estimate"

    @property
    def total_usd(self) -> float:
        return self.compute_usd + self.request_usd

    @property
    def per_million_usd(self) -> float:
        return self.total_usd * 1_000_000

    def line(self) -> str:
        return (
            f"Estimated cost: ${self.total_usd:.10f} per invocation (${self.per_million_usd:.2f} per million) "
            f"at {self.memory_mb} MB on {self.architecture}, {self.billed_ms} ms billed; "
            f"local timing, Lambda's prices read {PRICES_READ_ON} ({PRICES_SOURCE}, us-east-1, first tier)"
        )

    def to_dict(self) -> dict:
        return {
            "architecture": self.architecture,
            "memory_mb": self.memory_mb,
            "billed_ms": self.billed_ms,
            "compute_usd": self.compute_usd,
            "request_usd": self.request_usd,
            "total_usd": self.total_usd,
            "label": self.label,
            "prices_read_on": PRICES_READ_ON,
            "prices_source": PRICES_SOURCE,
        }


def estimate(architecture: str, memory_mb: int, billed_ms: int) -> CostEstimate:
    """One invocation's cost: GB-seconds (memory x billed duration) plus the request price."""
    per_gb_s, per_request = PRICES[architecture]
    gb_s = (memory_mb / 1024) * (billed_ms / 1000)
    return CostEstimate(architecture, memory_mb, billed_ms, gb_s * per_gb_s, per_request)
