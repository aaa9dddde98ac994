"""What one invocation would cost on Lambda: published prices, one table, and their date.

A local run's duration is measured on this machine, not on Lambda's CPUs (which scale with the
memory setting), so the figure is an estimate and is always labelled as one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Lambda's on-demand prices, us-east-1, first monthly tier (no free tier applied).
PRICES_SOURCE = "https://aws.amazon.com/lambda/pricing/"
PRICES_READ_ON = "2026-11-24"
PRICES = {
    # architecture: (USD per GB-second, USD per request)
    "x86_64": (0.0000166667, 0.20 / 1_000_000),
    "arm64": (0.0000133334, 0.20 / 1_000_000),
}
# Provisioned concurrency and SnapStart for Python, us-east-1, the same page's figures as
# published; recorded on PROVISIONED_READ_ON (deploy-function sets both, issue 16).
PROVISIONED_READ_ON = "2026-11-30"
PROVISIONED_PRICES = {
    # architecture: (USD per GB-second configured, USD per GB-second of duration served by it)
    "x86_64": (0.0000041667, 0.0000097222),
    "arm64": (0.0000033334, 0.0000077778),
}
SNAPSTART_CACHE_PER_GB_S = 0.0000015046  # each published version's snapshot, while cached
SNAPSTART_RESTORE_PER_GB = 0.0001397998  # each environment resumed from the snapshot


@dataclass(frozen=True)
class CostEstimate:
    architecture: str
    memory_mb: int
    billed_ms: int
    compute_usd: float
    request_usd: float
    label: str = "estimate"
    provisioned_concurrency: int = 0  # [function] provisioned_concurrency: duration at its price
    snapstart: bool = False  # [function] snapstart

    @property
    def gb(self) -> float:
        return self.memory_mb / 1024

    @property
    def provisioned_usd_per_hour(self) -> float:
        """What the configured environments cost per hour, invoked or not."""
        per_gb_s = PROVISIONED_PRICES[self.architecture][0]
        return self.provisioned_concurrency * self.gb * 3600 * per_gb_s

    @property
    def snapstart_restore_usd(self) -> float:
        """Each cold start resumed from the snapshot (instead of an Init)."""
        return self.gb * SNAPSTART_RESTORE_PER_GB if self.snapstart else 0.0

    @property
    def snapstart_cache_usd_per_hour(self) -> float:
        """Each published version's cached snapshot, per hour."""
        return self.gb * 3600 * SNAPSTART_CACHE_PER_GB_S if self.snapstart else 0.0

    @property
    def total_usd(self) -> float:
        return self.compute_usd + self.request_usd

    @property
    def per_million_usd(self) -> float:
        return self.total_usd * 1_000_000

    def line(self) -> str:
        text = (
            f"Estimated cost: ${self.total_usd:.10f} per invocation (${self.per_million_usd:.2f} per million) "
            f"at {self.memory_mb} MB on {self.architecture}, {self.billed_ms} ms billed; "
            f"local timing, Lambda's prices read {PRICES_READ_ON} ({PRICES_SOURCE}, us-east-1, first tier)"
        )
        if self.provisioned_concurrency:
            text += (
                f"; duration at the provisioned-concurrency price, plus "
                f"${self.provisioned_usd_per_hour:.4f} per hour for "
                f"{self.provisioned_concurrency} provisioned environment(s)"
            )
        if self.snapstart:
            text += (
                f"; SnapStart: ${self.snapstart_restore_usd:.7f} per restored cold start and "
                f"${self.snapstart_cache_usd_per_hour:.5f} per hour per cached version"
            )
        if self.provisioned_concurrency or self.snapstart:
            text += f" (prices recorded {PROVISIONED_READ_ON})"
        return text

    def to_dict(self) -> dict[str, Any]:
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
            "provisioned_concurrency": self.provisioned_concurrency,
            "provisioned_usd_per_hour": self.provisioned_usd_per_hour,
            "snapstart": self.snapstart,
            "snapstart_restore_usd": self.snapstart_restore_usd,
            "snapstart_cache_usd_per_hour": self.snapstart_cache_usd_per_hour,
        }


def estimate(
    architecture: str,
    memory_mb: int,
    billed_ms: int,
    *,
    provisioned_concurrency: int = 0,
    snapstart: bool = False,
) -> CostEstimate:
    """One invocation's cost: GB-seconds (memory x billed duration) plus the request price; on
    provisioned concurrency the duration has its own (lower) price, and the standing charges
    of provisioned concurrency and SnapStart are given beside it."""
    per_gb_s, per_request = PRICES[architecture]
    if provisioned_concurrency:
        per_gb_s = PROVISIONED_PRICES[architecture][1]
    gb_s = (memory_mb / 1024) * (billed_ms / 1000)
    return CostEstimate(
        architecture,
        memory_mb,
        billed_ms,
        gb_s * per_gb_s,
        per_request,
        provisioned_concurrency=provisioned_concurrency,
        snapstart=snapstart,
    )
