"""The runtime table: versions, glibc, manylinux tags per CPU, build images."""

import pytest

from mlayer.errors import ConfigError
from mlayer.runtimes import (
    MAX_UNZIPPED_BYTES,
    RUNTIMES,
    build_image,
    get_runtime,
    manylinux_tags,
)


def test_every_lambda_python_runtime_is_known():
    assert sorted(RUNTIMES) == ["python3.10", "python3.11", "python3.12", "python3.13"]
    assert get_runtime("python3.11").glibc == (2, 26)
    assert get_runtime("python3.12").glibc == (2, 34)
    assert get_runtime("python3.13").os == "Amazon Linux 2023"
    assert get_runtime("python3.12").pyc_tag == "cpython-312"
    assert MAX_UNZIPPED_BYTES == 262_144_000


def test_unknown_runtime_names_the_known_ones():
    with pytest.raises(ConfigError) as err:
        get_runtime("python3.9")
    assert "python3.9" in err.value.message
    assert "python3.12" in err.value.hint


def test_al2023_x86_64_tags_go_from_its_glibc_down_with_legacy_aliases():
    tags = manylinux_tags(get_runtime("python3.12"), "x86_64")
    assert tags[0] == "manylinux_2_34_x86_64"
    assert "manylinux_2_28_x86_64" in tags and "manylinux_2_17_x86_64" in tags
    assert "manylinux_2_5_x86_64" in tags
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert "manylinux_2_35_x86_64" not in tags


def test_al2_tags_stop_at_glibc_2_26():
    tags = manylinux_tags(get_runtime("python3.11"), "x86_64")
    assert tags[0] == "manylinux_2_26_x86_64"
    assert "manylinux_2_28_x86_64" not in tags


def test_arm64_tags_start_at_2_17_and_have_no_older_aliases():
    tags = manylinux_tags(get_runtime("python3.13"), "arm64")
    assert tags[0] == "manylinux_2_34_aarch64"
    assert tags[-1] == "manylinux2014_aarch64"
    assert "manylinux_2_16_aarch64" not in tags
    assert not any("2010" in t or "manylinux1" in t for t in tags)


def test_unknown_arch_is_a_config_error():
    with pytest.raises(ConfigError):
        manylinux_tags(get_runtime("python3.12"), "armv7")


def test_build_image_per_runtime_and_arch():
    assert (
        build_image(get_runtime("python3.12"), "arm64")
        == "public.ecr.aws/sam/build-python3.12:latest-arm64"
    )


def test_the_dockerfile_starts_from_the_runtimes_build_image():
    from pathlib import Path

    dockerfile = Path(__file__).resolve().parents[2] / "docker-build" / "Dockerfile"
    (line,) = [x for x in dockerfile.read_text().splitlines() if x.startswith("FROM ")]
    image = line.split()[1].replace("${PYTHON_VERSION}", "3.12").replace("${ARCH}", "arm64")
    assert image == build_image(get_runtime("python3.12"), "arm64")
