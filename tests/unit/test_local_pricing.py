"""The cost estimate and the REPORT line, as Lambda prints and bills them."""

from __future__ import annotations

import pytest

from mlayer.local import pricing
from mlayer.local.reporting import Report, billed_ms


def test_one_invocation_is_gb_seconds_plus_the_request():
    est = pricing.estimate("x86_64", 1024, 1000)
    assert est.compute_usd == pytest.approx(0.0000166667)
    assert est.request_usd == pytest.approx(0.0000002)
    assert est.total_usd == pytest.approx(0.0000168667)


def test_arm64_is_cheaper_per_gb_second_and_the_line_says_estimate():
    x86 = pricing.estimate("x86_64", 512, 120)
    arm = pricing.estimate("arm64", 512, 120)
    assert arm.total_usd < x86.total_usd
    line = arm.line()
    assert line.startswith("Estimated cost") and pricing.PRICES_READ_ON in line and "arm64" in line


def test_billed_duration_rounds_up_to_the_ms_and_includes_init():
    assert billed_ms(0.2, None) == 1
    assert billed_ms(10.01, None) == 11
    assert billed_ms(10.0, 250.5) == 261


def test_report_line_has_lambdas_fields():
    warm = Report("id-1", 12.345, 13, 128, 50).line()
    assert (
        warm
        == "REPORT RequestId: id-1\tDuration: 12.35 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 50 MB"
    )
    assert (
        Report("id-2", 1.0, 100, 128, 50, init_ms=99.0).line().endswith("Init Duration: 99.00 ms")
    )
