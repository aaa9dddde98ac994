"""A scene built once, then made again after each reset of the embedded AWS by the writes that
built it (for the fault walks, whose every step starts from the same state).

``Writes.recording`` keeps every write AWS accepted through any Gateway of the process (the
CLI's own included): ``Gateway.call`` for all but reads, and ``upload_file`` with the file's
bytes. ``replay`` sends the same writes again, in order, through one Gateway; on an empty
embedded AWS they give the same names, numbers and contents (RevisionIds, new on every
reset, are left out: the embedded AWS does not check them). Callers check the state is the
recorded one.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlayer.gateway.base import GatewayBase
from mlayer.gateway.s3 import S3Calls

READS = ("get_", "list_", "describe_", "head_")


class Writes:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    @contextlib.contextmanager
    def recording(self, monkeypatch: Any) -> Iterator[Writes]:
        calls = self.calls
        call, upload = GatewayBase.call, S3Calls.upload_file

        def recorded_call(gw: Any, service: str, operation: str, action: str, **params: Any):
            out = call(gw, service, operation, action, **params)
            if not operation.startswith(READS):
                calls.append(("call", (service, operation, action), params))
            return out

        def recorded_upload(gw: Any, path: str, bucket: str, key: str, callback: Any = None):
            upload(gw, path, bucket, key, callback)
            calls.append(("upload", (bucket, key), {"data": Path(path).read_bytes()}))

        with monkeypatch.context() as patch:
            patch.setattr(GatewayBase, "call", recorded_call)
            patch.setattr(S3Calls, "upload_file", recorded_upload)
            yield self

    def replay(self, gw: Any) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            for kind, args, params in self.calls:
                if kind == "upload":
                    path = Path(tmp) / "upload"
                    path.write_bytes(params["data"])
                    gw.upload_file(str(path), *args)
                else:
                    gw.call(*args, **{k: v for k, v in params.items() if k != "RevisionId"})
