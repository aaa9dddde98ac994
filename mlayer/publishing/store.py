"""The artifact bucket (docs/FORMATS.md): where a layer version's zip, lock and manifest live.

From a layer version alone (its CodeSha256) mlayer finds everything it published about it.
Unzipped sizes — what Lambda's 250 MB budget counts — are read from the zip's central
directory with two ranged reads, never by downloading the zip, and cached by sha256.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from mlayer.arns import LayerVersionArn
from mlayer.errors import ModelError, NotFoundError
from mlayer.gateway import Gateway
from mlayer.gateway.views import FunctionConfig, LayerVersion
from mlayer.model import manifest as mf
from mlayer.publishing.models import LayerSize

_EOCD = b"PK\x05\x06"
_CENTRAL = b"PK\x01\x02"
_TAIL = 22 + 65535  # end-of-central-directory record plus the longest possible comment


def zip_key(sha: str) -> str:
    return f"layers/{sha}.zip"


def lock_key(sha: str) -> str:
    return f"layers/{sha}.lock.json"


def manifest_key(sha: str) -> str:
    return f"layers/{sha}.manifest.json"


def function_key(sha: str) -> str:
    """The function's code zip, kept by its sha256 as layer zips are (the emulation runs it)."""
    return f"functions/{sha}.zip"


def central_directory_span(tail: bytes, total: int) -> tuple[int, int] | None:
    """(offset, size) of the central directory from a zip's tail; None for zip64 archives."""
    at = tail.rfind(_EOCD)
    if at < 0 or len(tail) - at < 22:
        raise ModelError(
            "Not a zip file: no end-of-central-directory record.", "Publish the layer again."
        )
    _sig, _d, _cd, _n1, _n, size, offset, _clen = struct.unpack("<4sHHHHIIH", tail[at : at + 22])
    if offset == 0xFFFFFFFF or size == 0xFFFFFFFF:
        return None
    return offset, size


def sum_uncompressed(central: bytes) -> int:
    """Sum of every entry's uncompressed size in a central directory."""
    total, pos = 0, 0
    while central.startswith(_CENTRAL, pos):
        (usize,) = struct.unpack_from("<I", central, pos + 24)
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", central, pos + 28)
        total += usize
        pos += 46 + name_len + extra_len + comment_len
    return total


class ArtifactStore:
    """Reads (and writes) mlayer's objects in the artifact bucket; caches by sha256."""

    def __init__(self, gateway: Gateway, bucket: str) -> None:
        self.gw = gateway
        self.bucket = bucket
        self._sizes: dict[str, int | None] = {}
        self._versions: dict[str, dict[str, Any] | None] = {}
        self._arns: dict[str, str] = {}  # zip sha256 -> the layer version read with it
        self._locks: dict[str, dict | None] = {}  # zip sha256 -> its lock, read once
        self._manifests: dict[str, dict | None] = {}  # zip sha256 -> its manifest, read once

    def layer_version(self, arn: str) -> dict[str, Any] | None:
        """GetLayerVersion's answer by the full ARN; None for another account's that cannot be
        read. AWS's dict: publish-model's form, until its plan/apply split takes layer_detail."""
        if arn not in self._versions:
            self._versions[arn] = self.gw.read_layer_version(arn)
        return self._versions[arn]

    def layer_detail(self, arn: str) -> LayerVersion | None:
        """The layer version (sha256, size) by its full ARN, read once; None as layer_version."""
        answer = self.layer_version(arn)
        return None if answer is None else LayerVersion.parse(answer)

    def layer_sha(self, arn: str) -> str:
        version = self.layer_detail(arn)
        if version is None:
            raise NotFoundError(f"Cannot read layer {arn} here.", "It is another account's layer.")
        self._arns.setdefault(version.code_sha256, arn)
        return version.code_sha256

    def lock(self, sha: str) -> dict | None:
        """The lock beside layers/<sha>.zip, checked to be that zip's (None when absent); read
        once per store (the compatibility check and the budget both ask for the deps lock)."""
        if sha not in self._locks:
            doc = self.gw.get_json_if_exists(self.bucket, lock_key(sha))
            self._locks[sha] = self._checked(
                doc, sha, lock_key(sha), "lock", "mlayer build-deps --publish"
            )
        return self._locks[sha]

    def manifest(self, sha: str) -> dict | None:
        """The manifest beside layers/<sha>.zip, checked to be that zip's and self-consistent;
        read once per store (a refusal is raised again on every ask: nothing is cached)."""
        if sha not in self._manifests:
            self._manifests[sha] = self._read_manifest(sha)
        return self._manifests[sha]

    def _read_manifest(self, sha: str) -> dict | None:
        key = manifest_key(sha)
        doc = self._checked(
            self._manifest_doc(sha, key),
            sha,
            key,
            "manifest",
            "mlayer publish-model",
        )
        if doc is not None and "artifacts" in doc and "content_sha256" in doc:
            try:
                expected = mf.content_sha256(
                    [a["sha256"] for a in doc["artifacts"]],
                    [c["sha256"] for c in doc.get("code", [])],
                )
            except (KeyError, TypeError):
                expected = None
            if expected != doc["content_sha256"]:
                raise self._mismatch(
                    key,
                    f"its content_sha256 {str(doc['content_sha256'])[:12]}... is not the sha256 of "
                    "the artifacts it lists",
                    "mlayer publish-model",
                )
        return doc

    def _manifest_doc(self, sha: str, key: str) -> dict | None:
        """The bucket's manifest through manifest.from_json (the schema check): a corrupted one
        is a ModelError naming the model version it belongs to, not a KeyError later."""
        try:
            data = self.gw.get_bytes(self.bucket, key)
        except NotFoundError:
            return None
        try:
            return mf.from_json(data)
        except ModelError as exc:
            of = self._arns.get(sha, f"the model layer zip {sha[:12]}...")
            raise ModelError(
                f"The manifest of {of} (s3://{self.bucket}/{key}) is unusable: {exc.message}",
                exc.hint,
            ) from None

    def _checked(self, doc: object, sha: str, key: str, what: str, remedy: str) -> dict | None:
        """JSON read back from the bucket must be the document written for layers/<sha>.zip."""
        if doc is None:
            return None
        if not isinstance(doc, dict):
            raise self._mismatch(key, f"it is not a JSON object ({what})", remedy)
        written_for = doc.get("zip_sha256")
        if written_for is not None and written_for != sha:
            raise self._mismatch(
                key, f"it names zip {str(written_for)[:12]}..., not {sha[:12]}...", remedy
            )
        return doc

    def _mismatch(self, key: str, why: str, remedy: str) -> ModelError:
        return ModelError(
            f"s3://{self.bucket}/{key} does not match the zip it stands beside: {why}. It was "
            "changed (or copied from another object) after mlayer wrote it.",
            f"Do not trust that version until you know why; `{remedy}` writes it again.",
        )

    def zip_unzipped_size(self, sha: str, key: str | None = None) -> int | None:
        """Unzipped bytes of the zip at key (default layers/<sha>.zip); None when absent."""
        if sha in self._sizes:
            return self._sizes[sha]
        key = key or zip_key(sha)
        read = self.gw.get_tail(self.bucket, key, _TAIL)
        size = None
        if read is not None and read[1]:
            tail, total = read
            start = total - len(tail)
            span = central_directory_span(tail, total)
            if span is not None:
                offset, length = span
                if offset >= start:
                    central = tail[offset - start : offset - start + length]
                else:
                    central = self.gw.get_range(self.bucket, key, offset, offset + length - 1)
                size = sum_uncompressed(central)
        self._sizes[sha] = size
        return size

    def layer_size(self, arn: str) -> LayerSize:
        """Unzipped size of a layer version: its lock, else its zip here, else its zipped size."""
        version = self.layer_detail(arn)
        if version is None:  # another account's layer, unreadable here: its size is unknown
            return LayerSize(0, exact=False, known=False)
        sha = version.code_sha256
        lock = self.lock(sha)
        if lock and isinstance(lock.get("unzipped_size"), int):
            return LayerSize(lock["unzipped_size"])
        size = self.zip_unzipped_size(sha)
        if size is not None:
            return LayerSize(size)
        return LayerSize(version.code_size or 0, exact=False)

    def layer_sizes(
        self, arns: Sequence[str], known: Mapping[str, LayerSize]
    ) -> dict[str, LayerSize]:
        """``known`` plus the size of every other ARN (a non-layer ARN counts 0, inexact)."""
        sizes = dict(known)
        for arn in arns:
            if arn not in sizes:
                sizes[arn] = (
                    self.layer_size(arn)
                    if LayerVersionArn.try_parse(arn)
                    else LayerSize(0, exact=False)
                )
        return sizes

    def function_size_of(self, config: FunctionConfig) -> LayerSize:
        """Unzipped size of the function's own code (functions/<sha>.zip), else its zipped size."""
        sha = config.code_sha256
        if sha:
            size = self.zip_unzipped_size(sha, key=function_key(sha))
            if size is not None:
                return LayerSize(size)
        return LayerSize(config.code_size, exact=False)
