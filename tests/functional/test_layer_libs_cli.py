"""Issue 23 case 11 through the CLI: build-deps installs a real wheel whose shared object needs
libgomp.so.1 (compiled here with gcc), refuses it by name for python3.12, builds it with
--allow-missing-lib, checks a cached build again, and accepts the wheel once it vendors libgomp
the way auditwheel does (<package>.libs/ and an RPATH).
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from native_libs_support import REFUSAL, host_libgomp, tree_with

from mlayer.cli import cli

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(host_libgomp() is None, reason="needs gcc and libgomp to link"),
]


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def make_wheel(folder: Path, tree: Path) -> Path:
    """gompdemo 1.0 as a manylinux wheel holding ``tree``'s files."""
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "gompdemo-1.0-py3-none-manylinux_2_17_x86_64.whl"
    files = {p.relative_to(tree).as_posix(): p.read_bytes() for p in tree.rglob("*") if p.is_file()}
    info = "gompdemo-1.0.dist-info"
    files[f"{info}/METADATA"] = b"Metadata-Version: 2.1\nName: gompdemo\nVersion: 1.0\n"
    files[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
        b"Tag: py3-none-manylinux_2_17_x86_64\n"
    )
    files[f"{info}/top_level.txt"] = b"gompdemo\n"
    record = [_record_line(name, data) for name, data in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return wheel


def build_deps(tmp_path: Path, wheels: Path, *extra: str):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"--no-index\n--find-links {wheels}\ngompdemo==1.0\n")
    args = ["build-deps", "--builder", "pip", "--runtime", "python3.12", "--arch", "x86_64"]
    args += ["--requirements", str(requirements), "--output", str(tmp_path / "out"), *extra]
    return CliRunner().invoke(cli, args)


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLAYER_CACHE_DIR", str(tmp_path / "cache"))
    if shutil.which("python3.12") is None:
        pytest.skip("build-deps for python3.12 needs a python3.12 on PATH")
    return tmp_path


def test_build_deps_refuses_a_wheel_needing_libgomp_then_accepts_it_vendored(project):
    bare = make_wheel(project / "wheels-bare", tree_with(project / "bare"))
    result = build_deps(project, bare.parent)
    assert result.exit_code == 1, result.output
    assert f"Error: {REFUSAL}" in result.stderr
    assert "Hint: Ship it beside the package: `auditwheel repair`" in result.stderr
    assert not (project / "out" / "deps-python3.12-x86_64.zip").exists()

    result = build_deps(project, bare.parent, "--allow-missing-lib", "libgomp.so.1")
    assert result.exit_code == 0, result.output
    assert (project / "out" / "deps-python3.12-x86_64.zip").is_file()

    # The cached build is checked again: without the flag it is refused as before.
    assert build_deps(project, bare.parent).exit_code == 1

    vendored = tree_with(
        project / "vendored",
        vendored="gompdemo.libs/libgomp.so.1",
        rpath="$ORIGIN/../../gompdemo.libs",
    )
    result = build_deps(project, make_wheel(project / "wheels-vendored", vendored).parent)
    assert result.exit_code == 0, result.output
