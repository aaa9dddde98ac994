"""S3: the artifact bucket and the objects mlayer keeps in it (zips, locks, manifests).

Bucket names are global, so the default bucket is the caller's own by construction,
``mlayer-<account>-<region>`` (as CDK names its asset buckets), and every request says whose
bucket it expects (ExpectedBucketOwner): a bucket of another account answers 403 instead of
taking mlayer's zips. A bucket mlayer creates blocks public access, disables ACLs
(BucketOwnerEnforced) and encrypts by default (SSE-S3).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import botocore.exceptions

from mlayer.errors import AwsError, NotFoundError
from mlayer.gateway.base import GatewayBase
from mlayer.gateway.translate import S3_ABSENT, client_error_code, foreign_bucket, translate

# What S3 answers for a bucket of another account (or one the credentials may not use).
_FOREIGN = ("403", "AccessDenied", "Forbidden", "AllAccessDisabled", "BucketAlreadyExists")
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
OWNERSHIP = {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


def default_bucket_name(account: str, region: str) -> str:
    return f"mlayer-{account}-{region}"


class S3Calls(GatewayBase):
    def artifact_bucket(self, configured: str = "") -> str:
        """``[artifacts] bucket``, or the caller's own default when it is empty."""
        return configured or default_bucket_name(self.account_id(), self.region)

    def bucket_owner(self) -> dict[str, str]:
        """ExpectedBucketOwner for an S3 request: the caller's account, when it can be known."""
        account = self.known_account()
        return {"ExpectedBucketOwner": account} if account else {}

    def _s3(self, operation: str, action: str, bucket: str, **params: Any) -> dict[str, Any]:
        """One S3 call on ``bucket``, expecting its owner; a 403 names the bucket's owner problem."""
        try:
            return self.call(
                "s3", operation, action, Bucket=bucket, **self.bucket_owner(), **params
            )
        except AwsError as exc:
            if exc.code in _FOREIGN:
                raise foreign_bucket(bucket, action, exc.code, self.known_account()) from exc
            raise

    def _head(
        self, operation: str, action: str, bucket: str, **params: Any
    ) -> dict[str, Any] | None:
        """One S3 HEAD (``head_bucket``/``head_object``); None when S3 says it is absent."""
        try:
            answer: dict[str, Any] | None = getattr(self.client("s3"), operation)(
                Bucket=bucket, **self.bucket_owner(), **params
            )
            return answer
        except botocore.exceptions.ClientError as exc:
            code = client_error_code(exc)
            if code in S3_ABSENT:
                return None
            if code in _FOREIGN:
                raise foreign_bucket(bucket, action, code, self.known_account()) from exc
            raise translate(exc, action) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise translate(exc, action) from exc

    def ensure_bucket(self, bucket: str) -> bool:
        """Create the bucket if absent, private and encrypted. Returns True when it was created."""
        if self._head("head_bucket", f"Checking bucket {bucket}", bucket) is not None:
            return False
        action = f"Creating bucket {bucket}"
        params: dict[str, Any] = {"Bucket": bucket}
        if self.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.call("s3", "create_bucket", action, **params)
        except AwsError as exc:
            if exc.code == "BucketAlreadyOwnedByYou":  # created meanwhile by another command
                return False
            if exc.code in _FOREIGN:
                raise foreign_bucket(bucket, action, exc.code, self.known_account()) from exc
            raise
        self._s3(
            "put_public_access_block",
            f"Blocking public access to {bucket}",
            bucket,
            PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK,
        )
        self._s3(
            "put_bucket_ownership_controls",
            f"Disabling ACLs on {bucket}",
            bucket,
            OwnershipControls=OWNERSHIP,
        )
        self._s3(
            "put_bucket_encryption",
            f"Encrypting {bucket} by default",
            bucket,
            ServerSideEncryptionConfiguration=ENCRYPTION,
        )
        return True

    def object_exists(self, bucket: str, key: str) -> bool:
        return self.object_size(bucket, key) is not None

    def upload_file(
        self, path: str, bucket: str, key: str, callback: Callable[[int], None] | None = None
    ) -> None:
        """Multipart-aware upload with server-side encryption (zips can be 100+ MB)."""
        action = f"Uploading {path} to s3://{bucket}/{key}"
        try:
            self.client("s3").upload_file(
                str(path),
                bucket,
                key,
                ExtraArgs={"ServerSideEncryption": "AES256", **self.bucket_owner()},
                Callback=callback,
            )
        except Exception as exc:  # botocore's, and s3transfer wraps failures in its own types
            cause = exc.__cause__ or exc.__context__
            code = client_error_code(cause) if isinstance(cause, Exception) else ""
            if code in _FOREIGN or "AccessDenied" in str(exc) or "(403)" in str(exc):
                raise foreign_bucket(bucket, action, code or "AccessDenied", self._account) from exc
            raise translate(exc, action) from exc

    def put_bytes(
        self,
        bucket: str,
        key: str,
        body: bytes,
        content_type: str = "application/octet-stream",
        **conditions: str,
    ) -> None:
        """One encrypted PutObject; ``conditions`` such as IfNoneMatch="*" pass through."""
        self._s3(
            "put_object",
            f"Writing s3://{bucket}/{key}",
            bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ServerSideEncryption="AES256",
            **conditions,
        )

    def get_bytes(self, bucket: str, key: str) -> bytes:
        resp = self._s3("get_object", f"Reading s3://{bucket}/{key}", bucket, Key=key)
        answer: bytes = resp["Body"].read()
        return answer

    def put_json(self, bucket: str, key: str, doc: Any) -> None:
        body = json.dumps(doc, indent=2, sort_keys=True).encode()
        self.put_bytes(bucket, key, body, content_type="application/json")

    def get_json(self, bucket: str, key: str) -> Any:
        return json.loads(self.get_bytes(bucket, key))

    def get_json_if_exists(self, bucket: str, key: str) -> Any | None:
        """The JSON document at key, or None when the object (or the bucket) is absent."""
        try:
            return self.get_json(bucket, key)
        except NotFoundError:
            return None

    def put_bytes_if_absent(
        self, bucket: str, key: str, body: bytes, content_type: str = "application/json"
    ) -> bool:
        """Create the object only if no object has that key (If-None-Match: *): True when
        created, False when it exists (or a concurrent conditional write won)."""
        try:
            self.put_bytes(bucket, key, body, content_type, IfNoneMatch="*")
        except AwsError as exc:
            if exc.code in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True

    def object_size(self, bucket: str, key: str) -> int | None:
        """Bytes of an object, or None when absent (one HEAD)."""
        head = self._head("head_object", f"Reading s3://{bucket}/{key}", bucket, Key=key)
        return None if head is None else int(head["ContentLength"])

    def get_tail(self, bucket: str, key: str, length: int) -> tuple[bytes, int] | None:
        """The last ``length`` bytes of an object (all of it when shorter) and its size, in one
        GET (a suffix range): a zip's central directory without a HEAD first. None when the
        object is absent; an empty one is (b"", 0) (S3 refuses a range of nothing: InvalidRange)."""
        try:
            resp = self._s3(
                "get_object",
                f"Reading s3://{bucket}/{key}",
                bucket,
                Key=key,
                Range=f"bytes=-{int(length)}",
            )
        except NotFoundError:
            return None
        except AwsError as exc:
            if exc.code == "InvalidRange":
                return b"", 0
            raise
        data: bytes = resp["Body"].read()
        # "bytes 6-9/10"; a whole-object answer (200) has no Content-Range: its length is all
        total = str(resp.get("ContentRange") or "").rpartition("/")[2]
        return data, int(total) if total.isdigit() else len(data)

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        """Bytes start..end (inclusive) of an object: e.g. a zip's central directory only."""
        resp = self._s3(
            "get_object",
            f"Reading s3://{bucket}/{key}",
            bucket,
            Key=key,
            Range=f"bytes={start}-{end}",
        )
        answer: bytes = resp["Body"].read()
        return answer
