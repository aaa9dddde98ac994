"""Why an S3-stored artifact could not be brought to /tmp, as the init error a person acts on.

The fetch (fetch.py, ranged_download.py) raises these; each names what to fix: the object that
is missing, the permission the role lacks, the sizes that do not fit in /tmp, or the object
that is not the published one. Standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Entry = Mapping[str, Any]  # a manifest's artifact entry
MIB = 1024 * 1024
_MISSING = ("NoSuchKey", "NoSuchBucket", "404", "NotFound")
_DENIED = ("AccessDenied", "403", "Forbidden", "AllAccessDisabled", "InvalidAccessKeyId")


class FetchError(Exception):
    """An S3-stored artifact could not be brought to /tmp (the init fails, nothing is served)."""


class ArtifactMissingError(FetchError):
    """The object a model version needs is not in S3 (deleted, or another bucket/region)."""


class ArtifactAccessError(FetchError):
    """The execution role may not read the object (s3:GetObject)."""


class ArtifactMismatchError(FetchError):
    """The object differs from the manifest (size or sha256): refused before unpickling."""


class EphemeralStorageError(FetchError):
    """/tmp has less free space than the artifacts need."""


def mb(n: int) -> str:
    """Lambda's MB (MiB), as its EphemeralStorage setting counts them."""
    return f"{n / MIB:.1f} MB"


def s3_uri(entry: Entry) -> str:
    return f"s3://{entry.get('bucket')}/{entry.get('s3_key')}"


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error") or {}
        code = error.get("Code") or (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        return str(code) if code is not None else None
    return None


def explain(exc: BaseException, entry: Entry) -> FetchError:
    """An S3 failure as the init error a person can act on."""
    code = _error_code(exc)
    uri = s3_uri(entry)
    what = f"artifact {entry.get('file')} (sha256 {str(entry.get('sha256'))[:12]}…)"
    if code in _MISSING:
        return ArtifactMissingError(
            f"{uri} does not exist ({code}): the model's {what} is not in S3. It may have been "
            "deleted (mlayer never deletes it); publish the model again, or roll back to a "
            "version whose objects exist (mlayer history lists them)"
        )
    if code in _DENIED:
        return ArtifactAccessError(
            f"the execution role may not read {uri} ({code}): it needs s3:GetObject on "
            f"arn:aws:s3:::{entry.get('bucket')}/{entry.get('s3_key')} (mlayer status shows it)"
        )
    return FetchError(f"cannot download {uri}: {type(exc).__name__}: {exc}")
