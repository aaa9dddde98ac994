"""What mlayer ships beside its code is found in a source tree and in an installed wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mlayer import shipped

REPO = Path(__file__).resolve().parents[2]


def test_source_tree_is_the_root_here():
    assert shipped.shipped_root() == REPO
    assert shipped.shipped_path("layers", "sklearn", "requirements.txt").is_file()
    assert shipped.shipped_path("docker-build", "build.sh").is_file()


def test_installed_data_files_are_found_when_the_source_tree_is_absent(tmp_path, monkeypatch):
    prefix = tmp_path / "venv"
    handler = prefix / "share" / "mlayer" / "function" / "mlayer_function" / "handler.py"
    handler.parent.mkdir(parents=True)
    handler.write_text("")
    monkeypatch.setattr(shipped, "SOURCE_ROOT", tmp_path / "site-packages")
    monkeypatch.setattr(shipped.sysconfig, "get_path", lambda name: str(prefix))
    assert shipped.shipped_root() == prefix / "share" / "mlayer"


@pytest.mark.slow
def test_the_wheel_ships_the_function_the_recipe_and_the_docker_script(tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = tmp_path.glob("mlayer-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = (
        next(n.split("/data/")[0] for n in names if "/data/share/mlayer/" in n)
        + "/data/share/mlayer/"
    )
    for module in ("__init__", "handler", "batch", "sinks", "decoding", "modelstore", "telemetry"):
        assert f"{data}function/mlayer_function/{module}.py" in names
    assert f"{data}layers/sklearn/requirements.txt" in names
    assert f"{data}docker-build/build.sh" in names and f"{data}docker-build/Dockerfile" in names
