"""Fail fast: an endpoint that accepts connections and never answers is reported, named, with a hint.

A local socket server accepts and then stays silent, as a wedged proxy or a stopped debugger
would. The timeouts are made small through MLAYER_AWS_* (the documented override) so the test
is quick; the defaults (5 s connect, 15 s read, 2 attempts: about 30 s) are checked in
tests/unit/test_config.py.
"""

from __future__ import annotations

import socket
import threading

import pytest
from click.testing import CliRunner

from mlayer.cli import cli
from mlayer.errors import AwsError
from mlayer.gateway import Gateway


@pytest.fixture
def silent_endpoint():
    """http://127.0.0.1:<port> that accepts every connection and never sends a byte."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    stop.set()
    thread.join(2)
    for conn in accepted:
        conn.close()
    server.close()


@pytest.fixture
def fast_limits(monkeypatch):
    monkeypatch.setenv("MLAYER_AWS_READ_TIMEOUT", "0.3")
    monkeypatch.setenv("MLAYER_AWS_CONNECT_TIMEOUT", "0.3")
    monkeypatch.setenv("MLAYER_AWS_MAX_ATTEMPTS", "2")


def test_a_silent_endpoint_is_named_with_a_hint_after_the_configured_attempts(
    silent_endpoint, fast_limits
):
    url, accepted = silent_endpoint
    gw = Gateway(region="us-east-1", endpoint_url=url)
    with pytest.raises(AwsError) as err:
        gw.get_function_configuration("scorer")
    assert url in err.value.message and "did not answer" in err.value.message
    assert "MLAYER_AWS_READ_TIMEOUT" in err.value.hint
    assert "AWS_ENDPOINT_URL" in err.value.hint
    assert len(accepted) == 2  # MLAYER_AWS_MAX_ATTEMPTS, the first try included


def test_the_cli_reports_a_silent_endpoint_and_exits_1(silent_endpoint, fast_limits, tmp_path):
    url, _ = silent_endpoint
    result = CliRunner().invoke(
        cli, ["--endpoint-url", url, "status"], catch_exceptions=False, env={"HOME": str(tmp_path)}
    )
    assert result.exit_code == 1
    assert url in result.output and "did not answer" in result.output
    assert "MLAYER_AWS_READ_TIMEOUT" in result.output


def test_clients_carry_the_limits_and_invoke_waits_for_the_function(monkeypatch):
    monkeypatch.setenv("MLAYER_AWS_MAX_ATTEMPTS", "3")
    gw = Gateway(region="us-east-1", endpoint_url="http://127.0.0.1:9")
    config = gw.client("lambda").meta.config
    assert (config.connect_timeout, config.read_timeout) == (5.0, 15.0)
    assert config.retries["total_max_attempts"] == 3
    invoke = gw.client("lambda", invoke=True).meta.config
    assert invoke.read_timeout > 900  # a synchronous Invoke lasts up to the function's timeout
    assert invoke.retries["total_max_attempts"] == 1  # and is never run twice by a retry
