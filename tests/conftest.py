"""Shared fixtures: fake AWS credentials, the embedded AWS (moto's server over HTTP), paths."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from mlayer.local.aws import embedded_aws

# .ci/run sets HYPOTHESIS_PROFILE=ci: the same generated inputs on every CI run, so a landing
# is judged on the change, not on which inputs chance picked. Elsewhere each run explores anew;
# what it finds is kept as an @example.
settings.register_profile("ci", derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache"


# Tiers by what a test uses, not by hand: a real layer (pip, or the fake Docker engine that runs
# pip) or a Lambda-like interpreter is `slow`; the embedded AWS (the session's, or one a module
# starts with embedded_aws) is `aws`; the story through the CLI is `e2e`. `make test-fast` runs
# the rest.
_SLOW_FIXTURES = {
    "deps_layer_build",
    "deps_layer",
    "deps_layer_zip",
    "runtime_dir",
    "model_layers",
    "fake_docker",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & _SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)
        module = getattr(item, "module", None)
        if "aws_server" in used or getattr(module, "embedded_aws", None) is embedded_aws:
            item.add_marker(pytest.mark.aws)
        if item.nodeid.startswith("tests/e2e/"):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch, tmp_path_factory):
    """Never let a test reach real AWS or read the developer's ~/.aws."""
    home_aws = tmp_path_factory.getbasetemp() / "no-aws"
    home_aws.mkdir(exist_ok=True)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home_aws / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home_aws / "credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in list(os.environ):
        if key.startswith("MLAYER_") and key != "MLAYER_CACHE_DIR":
            monkeypatch.delenv(key, raising=False)
    if "AWS_ENDPOINT_URL" in os.environ and not os.environ["AWS_ENDPOINT_URL"].startswith(
        "http://127.0.0.1"
    ):
        monkeypatch.delenv("AWS_ENDPOINT_URL")


@pytest.fixture(scope="session")
def aws_server():
    """One moto server per test session (per xdist worker), on a free port."""
    with embedded_aws() as local:
        yield local


def _reset(local) -> None:
    import urllib.request

    urllib.request.urlopen(
        urllib.request.Request(f"{local.endpoint_url}/moto-api/reset", method="POST")
    ).read()


_MODULE_HOLDING_AWS: list[str] = []


@pytest.fixture
def aws(aws_server, monkeypatch):
    """The embedded AWS for one test: endpoint exported, state reset before the test."""
    if _MODULE_HOLDING_AWS:
        pytest.fail(
            f"{_MODULE_HOLDING_AWS[0]} keeps state in module_aws: its tests cannot reset it"
        )
    _reset(aws_server)
    for key, value in aws_server.env.items():
        monkeypatch.setenv(key, value)
    return aws_server


@pytest.fixture(scope="module")
def module_aws(aws_server, request):
    """The worker's embedded AWS for state a module sets up once (a deployed function, its
    tables and queues): reset when the module starts, then left to it. xdist hands a worker its
    tests in collection order, so no other module's test (nor its reset) falls between two of
    this module's; a test here that asks for `aws` (which resets) fails instead."""
    _reset(aws_server)
    _MODULE_HOLDING_AWS.append(request.module.__name__)
    yield aws_server
    _MODULE_HOLDING_AWS.remove(request.module.__name__)


@pytest.fixture
def gw(aws, tmp_path, monkeypatch):
    """A Gateway on the embedded AWS, working from an empty folder (no stray mlayer.toml)."""
    from mlayer.gateway import Gateway

    monkeypatch.chdir(tmp_path)
    return Gateway(region=aws.region, endpoint_url=aws.endpoint_url)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


# --- function fixtures ---
# Folders a Lambda-like subprocess puts on its path instead of this venv's site-packages:
# the dependencies layer (/opt/python) and the runtime's own boto3 (/var/runtime). Built once,
# cached under .cache/test-layers/ by what goes in, so repeat sessions (and xdist workers, which
# take turns on a lock) find them ready.


def _cached_target(name: str, key_text: str, fill: Callable[[Path], None]) -> Path:
    """The folder `fill` writes, built once per key under a lock and published whole."""
    import fcntl
    import hashlib
    import platform
    import shutil
    import sys

    identity = f"{key_text}\n{sys.version}\n{platform.machine()}"
    key = hashlib.sha256(identity.encode()).hexdigest()[:16]
    root = CACHE / "test-layers"
    root.mkdir(parents=True, exist_ok=True)
    dest = root / f"{name}-{key}"
    with open(root / f"{name}-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (dest / ".complete").exists():
            staging = root / f"{name}-{key}.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir()
            fill(staging)
            (staging / ".complete").write_text(key_text)
            shutil.rmtree(dest, ignore_errors=True)
            staging.rename(dest)
    return dest


def _dist_closure(top: str) -> list[Any]:
    """`top` and every distribution it needs (extras left out), as installed in this venv."""
    from importlib.metadata import distribution

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: dict[str, Any] = {}
    todo = [top]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen[name] = dist = distribution(name)
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return list(seen.values())


def _copy_dists(top: str, target: Path) -> None:
    """Copy `top`'s installed closure into `target` as `pip install --target --no-compile`
    lays it out (packages, .dist-info, scripts in bin/), with no network and no resolve."""
    import shutil

    for dist in _dist_closure(top):
        for entry in dist.files or []:
            parts = Path(entry).parts
            if "__pycache__" in parts:
                continue
            if parts[0] == "..":
                if "bin" not in parts:
                    continue
                rel = Path("bin", parts[-1])
            else:
                rel = Path(entry)
            dest = target / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(dist.locate_file(entry)), dest)
        info = [p for p in (dist.files or []) if Path(p).parts[0].endswith(".dist-info")]
        assert info, f"{dist.name}: no .dist-info in its RECORD"


@pytest.fixture(scope="session")
def deps_layer_build(tmp_path_factory):
    """The real dependencies layer, built by mlayer's pip builder for this interpreter's runtime
    (x86_64 here), slimmed and compiled, cached in <repo>/.cache/mlayer so repeat sessions are
    instant. The build cache holds an fcntl lock per entry, so xdist workers build it once."""
    import platform
    import sys

    from mlayer.build import BuildRequest, build_layer

    arch = "arm64" if platform.machine().lower() in ("aarch64", "arm64") else "x86_64"
    return build_layer(
        BuildRequest(
            requirements=REPO / "layers" / "sklearn" / "requirements.txt",
            runtime=f"python{sys.version_info[0]}.{sys.version_info[1]}",
            arch=arch,
            builder="pip",
            output=tmp_path_factory.mktemp("deps-layer-out"),
            cache_dir=CACHE / "mlayer",
        )
    )


@pytest.fixture(scope="session")
def deps_layer(deps_layer_build) -> Path:
    """A folder holding python/ (the unpacked layer, as /opt on Lambda). Read-only: copy first."""
    return deps_layer_build.tree.parent


@pytest.fixture(scope="session")
def deps_layer_zip(deps_layer_build) -> Path:
    """The layer's deterministic zip (python/... entries)."""
    return deps_layer_build.zip_path


@pytest.fixture(scope="session")
def runtime_dir() -> Path:
    """A folder with boto3, as Lambda's runtime provides it: a copy of this venv's boto3 and
    what it needs, so a child's path never holds this venv's site-packages."""
    from importlib.metadata import version

    pin = f"boto3=={version('boto3')}"
    return _cached_target("runtime", pin, lambda target: _copy_dists("boto3", target))


@pytest.fixture(scope="session")
def model_layers(tmp_path_factory) -> dict[str, Path]:
    """Real sklearn pipelines saved as model layers (<opt>/mlayer/manifest.json + artifacts).

    "text": CountVectorizer -> TfidfTransformer -> LogisticRegression (spam/ham);
    "features": StandardScaler -> RandomForestClassifier on 4 numbers (classes 0/1).
    Values are the model folders (MLAYER_MODEL_DIR). Built once per session: copy before editing.
    """
    from function_support import build_numeric_model, build_text_model

    root = tmp_path_factory.mktemp("model-layers")
    return {
        "text": build_text_model(root / "text-opt"),
        "features": build_numeric_model(root / "features-opt"),
    }
