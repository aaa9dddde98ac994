"""The embedded AWS: moto's server on 127.0.0.1, for `mlayer local-aws`, the demo and tests.

Everything talks to it over HTTP through boto3 with an endpoint URL, exactly as it would talk
to AWS, so nothing in mlayer knows it is not the real thing.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from mlayer.errors import LocalRuntimeError

# moto accepts any credentials; these make sure a stray call never signs with real ones.
LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
LOCAL_REGION = "us-east-1"


@dataclass(frozen=True)
class LocalAws:
    endpoint_url: str
    region: str = LOCAL_REGION

    @property
    def env(self) -> dict[str, str]:
        """The variables a shell or a subprocess needs to use this endpoint."""
        return {
            **LOCAL_CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def export_lines(self) -> list[str]:
        return [f"export {k}={v}" for k, v in self.env.items()]


@contextlib.contextmanager
def embedded_aws(
    port: int = 0, host: str = "127.0.0.1", set_env: bool = False
) -> Iterator[LocalAws]:
    """Run moto's server in a background thread for the duration of the block.

    ``port=0`` picks a free port. ``set_env`` also exports the endpoint and fake credentials
    into os.environ for the block (restored afterwards), for code that reads them from there.
    """
    try:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise LocalRuntimeError(
            "The embedded AWS needs moto's server, which is not installed.",
            "pip install 'mlayer[local]' (or `make demo`, which installs it).",
        ) from exc
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    try:
        server.start()
    except OSError as exc:
        raise LocalRuntimeError(
            f"Cannot start the embedded AWS on {host}:{port}: {exc.strerror or exc}",
            "Pick another --port, or omit it to use a free one.",
        ) from exc
    bound_host, bound_port = server.get_host_and_port()
    local = LocalAws(endpoint_url=f"http://{bound_host}:{bound_port}")
    saved = {k: os.environ.get(k) for k in local.env} if set_env else {}
    if set_env:
        os.environ.update(local.env)
    try:
        yield local
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()
