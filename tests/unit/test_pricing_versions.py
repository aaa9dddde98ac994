"""The cost estimate with provisioned concurrency and SnapStart (issue 16): the duration at the
provisioned price, and the standing charges beside the per-invocation figure."""

from __future__ import annotations

import pytest

from mlayer.local import pricing
from mlayer.local.invoke_summary import InvokeSummary


def test_on_provisioned_concurrency_the_duration_has_its_own_price_and_the_hour_is_charged():
    on_demand = pricing.estimate("x86_64", 1024, 1000)
    provisioned = pricing.estimate("x86_64", 1024, 1000, provisioned_concurrency=2)
    assert provisioned.compute_usd == pytest.approx(0.0000097222)
    assert provisioned.compute_usd < on_demand.compute_usd
    assert provisioned.request_usd == on_demand.request_usd
    # 2 environments x 1 GB x 3600 s at $0.0000041667 per GB-second
    assert provisioned.provisioned_usd_per_hour == pytest.approx(2 * 3600 * 0.0000041667)
    line = provisioned.line()
    assert "2 provisioned environment(s)" in line and pricing.PROVISIONED_READ_ON in line
    assert on_demand.provisioned_usd_per_hour == 0 and "provisioned" not in on_demand.line()


def test_arm64_provisioned_prices_are_lower():
    x86 = pricing.estimate("x86_64", 2048, 100, provisioned_concurrency=1)
    arm = pricing.estimate("arm64", 2048, 100, provisioned_concurrency=1)
    assert arm.compute_usd < x86.compute_usd
    assert arm.provisioned_usd_per_hour < x86.provisioned_usd_per_hour


def test_snapstart_adds_a_restore_per_cold_start_and_the_cached_snapshot_per_hour():
    est = pricing.estimate("arm64", 512, 20, snapstart=True)
    assert est.compute_usd == pricing.estimate("arm64", 512, 20).compute_usd
    assert est.snapstart_restore_usd == pytest.approx(0.5 * 0.0001397998)
    assert est.snapstart_cache_usd_per_hour == pytest.approx(0.5 * 3600 * 0.0000015046)
    doc = est.to_dict()
    assert doc["snapstart"] is True and doc["snapstart_restore_usd"] == est.snapstart_restore_usd
    assert "SnapStart" in est.line()
    plain = pricing.estimate("arm64", 512, 20).to_dict()
    assert (plain["snapstart_restore_usd"], plain["provisioned_usd_per_hour"]) == (0.0, 0.0)


def test_the_invoke_summary_carries_the_function_keys_into_its_estimate():
    from mlayer.local.reporting import InvokeResult, Report

    summary = InvokeSummary(
        "f", True, architecture="arm64", memory_mb=1024, provisioned_concurrency=3
    )
    assert summary.cost() is None  # nothing invoked yet
    summary.results.append(InvokeResult("r1", {}, None, Report("r1", 9.5, 10, 1024, 80)))
    cost = summary.to_dict()["cost"]
    assert cost["provisioned_concurrency"] == 3 and cost["billed_ms"] == 10
    assert cost["compute_usd"] == pytest.approx(0.01 * 0.0000077778)
    assert cost["provisioned_usd_per_hour"] == pytest.approx(3 * 3600 * 0.0000033334)
