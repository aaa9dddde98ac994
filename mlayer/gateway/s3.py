"""S3: the artifact bucket and the objects mlayer keeps in it (zips, locks, manifests)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import botocore.exceptions

from mlayer.errors import NotFoundError
from mlayer.gateway.base import GatewayBase
from mlayer.gateway.translate import S3_ABSENT, translate


class S3Calls(GatewayBase):
    def _head(self, operation: str, action: str, **params: Any) -> dict | None:
        """One S3 HEAD (``head_bucket``/``head_object``); None when S3 says it is absent."""
        try:
            return getattr(self.client("s3"), operation)(**params)
        except botocore.exceptions.ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in S3_ABSENT:
                return None
            raise translate(exc, action) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise translate(exc, action) from exc

    def ensure_bucket(self, bucket: str) -> bool:
        """Create the artifact bucket if absent. Returns True when it was created."""
        if self._head("head_bucket", f"Checking bucket {bucket}", Bucket=bucket) is not None:
            return False
        params: dict[str, Any] = {"Bucket": bucket}
        if self.region != "us-east-1":
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        self.call("s3", "create_bucket", f"Creating bucket {bucket}", **params)
        return True

    def object_exists(self, bucket: str, key: str) -> bool:
        return self.object_size(bucket, key) is not None

    def upload_file(
        self, path: str, bucket: str, key: str, callback: Callable[[int], None] | None = None
    ) -> None:
        """Multipart-aware upload with server-side encryption (zips can be 100+ MB)."""
        try:
            self.client("s3").upload_file(
                str(path),
                bucket,
                key,
                ExtraArgs={"ServerSideEncryption": "AES256"},
                Callback=callback,
            )
        except Exception as exc:  # botocore's, and s3transfer wraps failures in its own types
            raise translate(exc, f"Uploading {path} to s3://{bucket}/{key}") from exc

    def put_bytes(
        self, bucket: str, key: str, body: bytes, content_type: str = "application/octet-stream"
    ) -> None:
        self.call(
            "s3",
            "put_object",
            f"Writing s3://{bucket}/{key}",
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=content_type,
            ServerSideEncryption="AES256",
        )

    def get_bytes(self, bucket: str, key: str) -> bytes:
        resp = self.call("s3", "get_object", f"Reading s3://{bucket}/{key}", Bucket=bucket, Key=key)
        return resp["Body"].read()

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

    def object_size(self, bucket: str, key: str) -> int | None:
        """Bytes of an object, or None when absent (one HEAD)."""
        head = self._head("head_object", f"Reading s3://{bucket}/{key}", Bucket=bucket, Key=key)
        return None if head is None else int(head["ContentLength"])

    def get_range(self, bucket: str, key: str, start: int, end: int) -> bytes:
        """Bytes start..end (inclusive) of an object: e.g. a zip's central directory only."""
        resp = self.call(
            "s3",
            "get_object",
            f"Reading s3://{bucket}/{key}",
            Bucket=bucket,
            Key=key,
            Range=f"bytes={start}-{end}",
        )
        return resp["Body"].read()
