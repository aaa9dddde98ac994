"""The docker builder, by the exact commands it runs: a fake `docker` on PATH records its argv
and runs the inner command on the host with the mounts mapped back to host folders."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from mlayer.build import BuildRequest, build_layer

REPO = Path(__file__).resolve().parents[2]
FAKE_DOCKER = r"""#!{python}
import json, os, subprocess, sys
args = sys.argv[1:]
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps(args) + "\n")
if args[0] == "info":
    sys.exit(int(os.environ.get("FAKE_DOCKER_INFO_RC", "0")))
assert args[0] == "run", args
i, mounts, env = 1, [], {{}}
while args[i].startswith("-"):
    opt = args[i]
    if opt == "--rm":
        i += 1
        continue
    value = args[i + 1]
    if opt == "-v":
        host, container = value.split(":")[:2]
        mounts.append((container, host))
    elif opt == "-e":
        k, v = value.split("=", 1)
        env[k] = v
    i += 2
image, command = args[i], args[i + 1:]
def host_path(a):
    for container, host in mounts:
        a = a.replace(container, host)
    return a
command = [host_path(a) for a in command]
if command[0].startswith("python3."):
    command[0] = os.environ["FAKE_DOCKER_PYTHON"]
env["PYTHON"] = os.environ["FAKE_DOCKER_PYTHON"]
sys.exit(subprocess.run(command, env={{**os.environ, **env}}).returncode)
"""


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER.format(python=sys.executable))
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    log = tmp_path / "docker.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    monkeypatch.setenv("FAKE_DOCKER_PYTHON", sys.executable)
    return lambda: [json.loads(line) for line in log.read_text().splitlines()]


def _request(tmp_path, builder):
    req = tmp_path / "reqs" / "requirements.txt"
    req.parent.mkdir(exist_ok=True)
    req.write_text("threadpoolctl==3.6.0\n")
    return BuildRequest(
        req, "python3.11", "x86_64", builder, tmp_path / "out", cache_dir=tmp_path / "cache"
    )


def test_docker_builder_runs_the_build_image_with_the_script(tmp_path, fake_docker):
    build = build_layer(_request(tmp_path, "auto"))
    assert build.builder == "docker" and "Docker engine" in build.builder_reason
    calls = fake_docker()
    assert calls[0][0] == "info"
    image = "public.ecr.aws/sam/build-python3.11:latest-x86_64"
    staging = tmp_path / "cache" / "staging" / f"{build.cache_key}-{os.getpid()}"
    prefix = [
        *("run", "--rm", "--platform", "linux/amd64", "--user", f"{os.getuid()}:{os.getgid()}"),
        *("-e", "HOME=/tmp", "-e", "MLAYER_PYTHON_VERSION=3.11"),
        *("-v", f"{REPO / 'docker-build'}:/mlayer/scripts:ro"),
        *("-v", f"{tmp_path / 'reqs'}:/mlayer/requirements:ro"),
        *("-v", f"{staging}:/mlayer/work"),
        *("--entrypoint", "", image),
    ]
    assert calls[1] == [
        *prefix,
        *("bash", "/mlayer/scripts/build.sh", "install"),
        *("/mlayer/requirements/requirements.txt", "/mlayer/work/python"),
    ]
    # smoke imports (after install and after every slimming step) and bytecode run with the
    # image's own python3.11, on the tree as the container sees it
    smoke = [
        c for c in calls[2:] if c[: len(prefix) + 4] == [*prefix, "python3.11", "-I", "-S", "-B"]
    ]
    assert len(smoke) >= 2 and "/mlayer/work/python" in smoke[0][-1]
    tree = "/mlayer/work/python"
    compiles = [c for c in calls if "compileall" in c]
    assert compiles == [
        [
            *(*prefix, "python3.11", "-m", "compileall", "-q", "-j", "0"),
            *("--invalidation-mode", "unchecked-hash", "-s", tree, "-p", "/opt/python", tree),
        ]
    ]
    assert len(calls) == 2 + len(smoke) + 1
    assert build.packages == {"threadpoolctl": "3.6.0"}
    assert build.bytecode.status == "compiled"
    assert (build.tree / "__pycache__" / "threadpoolctl.cpython-311.pyc").is_file()


def test_auto_falls_back_to_pip_and_says_why(tmp_path, fake_docker, monkeypatch):
    monkeypatch.setenv("FAKE_DOCKER_INFO_RC", "1")
    build = build_layer(_request(tmp_path, "auto"))
    assert build.builder == "pip"
    assert "no Docker engine answers" in build.builder_reason
    assert [c[0] for c in fake_docker()] == ["info"]


def test_cached_build_reports_the_cache(tmp_path, fake_docker, monkeypatch):
    monkeypatch.setenv("FAKE_DOCKER_INFO_RC", "1")
    first = build_layer(_request(tmp_path, "pip"))
    second = build_layer(_request(tmp_path, "pip"))
    assert not first.cached and second.cached and second.seconds < 1
    forced = build_layer(BuildRequest(**{**_request(tmp_path, "pip").__dict__, "force": True}))
    assert not forced.cached and forced.zip_sha256 == first.zip_sha256
