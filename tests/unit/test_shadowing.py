"""mlayer.build.shadowing: the runtime packages a layer replaces, and which would break boto3."""

from __future__ import annotations

import pytest

from mlayer.build.shadowing import accepts, release, shadow_warnings, shadowed


@pytest.mark.parametrize(
    ("spec", "version", "ok"),
    [
        (">=2.1,<3.0.0", "2.9.0.post0", True),
        (">=2.1,<3.0.0", "4.0.0", False),
        (">=2.1,<3.0.0", "3.0.0", False),
        (">=1.25.4,!=2.2.0,<3", "2.2.0", False),
        (">=1.25.4,!=2.2.0,<3", "2.5.0", True),
        (">=1.5", "1.17.0", True),
        ("", "1.0", True),
    ],
)
def test_accepts_reads_version_ranges(spec, version, ok):
    assert accepts(spec, version) is ok


def test_release_keeps_the_numbers_of_a_version():
    assert release("2.9.0.post0") == (2, 9, 0)
    assert release("2.0a0") == (2, 0)
    assert release("1.44.8") == (1, 44, 8)


def test_pandas_3_with_dateutil_4_is_warned_naming_the_package_and_both_ranges():
    layer = {"pandas": "3.1.1", "numpy": "2.2.6", "python-dateutil": "4.0.0", "six": "1.17.0"}
    shadows = shadowed(layer)
    assert [s.package for s in shadows] == ["python-dateutil", "six"]
    (warning,) = shadow_warnings(shadows)
    assert "python-dateutil 4.0.0" in warning
    assert "botocore requires python-dateutil>=2.1,<3.0.0" in warning


def test_the_shipped_recipe_pins_a_dateutil_botocore_accepts():
    layer = {"pandas": "3.1.1", "python-dateutil": "2.9.0.post0", "six": "1.17.0"}
    shadows = shadowed(layer)
    assert [s.ok for s in shadows] == [True, True]
    assert shadow_warnings(shadows) == []


def test_a_layer_shipping_its_own_botocore_was_resolved_by_pip():
    layer = {"botocore": "1.44.8", "python-dateutil": "2.9.0.post0", "urllib3": "2.5.0"}
    assert [s.package for s in shadowed(layer)] == ["botocore", "python-dateutil", "urllib3"]
    assert shadow_warnings(shadowed({"botocore": "2.0.0", "python-dateutil": "4.0.0"})) == [
        shadow_warnings(shadowed({"botocore": "2.0.0"}))[0]
    ]  # only boto3's (the runtime's) range for botocore is checked, dateutil comes with it


def test_a_layer_without_runtime_packages_shadows_nothing():
    assert shadowed({"scikit-learn": "1.7.2", "numpy": "2.2.6"}) == []
