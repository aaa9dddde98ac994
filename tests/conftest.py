"""Shared fixtures: fake AWS credentials, the embedded AWS (moto's server over HTTP), paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlayer.local.aws import embedded_aws

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache"


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


@pytest.fixture
def aws(aws_server, monkeypatch):
    """The embedded AWS for one test: endpoint exported, state reset before the test."""
    import urllib.request

    urllib.request.urlopen(
        urllib.request.Request(f"{aws_server.endpoint_url}/moto-api/reset", method="POST")
    ).read()
    for key, value in aws_server.env.items():
        monkeypatch.setenv(key, value)
    return aws_server


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
