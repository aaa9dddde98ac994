"""The only module that calls boto3: every AWS side effect of mlayer passes through Gateway.

Errors are translated to MlayerError here, so the rest of mlayer (and its tests) never see a
botocore exception. Clients are created lazily from one boto3 Session built from Settings.aws
(profile, region, endpoint from flags, env or ~/.aws). Tests build a Gateway over clients
wrapped in botocore's Stubber for the sequences the embedded AWS cannot produce.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from mlayer.errors import AwsError, ConflictError, NotFoundError

DEFAULT_REGION = "us-east-1"
_NOT_FOUND = {
    "ResourceNotFoundException",
    "NoSuchKey",
    "NoSuchBucket",
    "404",
    "NotFound",
    "QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue",
    "NoSuchEntity",
}
# What a HEAD on an absent bucket or object answers (a HEAD has no body: mostly a bare "404").
_S3_ABSENT = ("404", "NoSuchKey", "NoSuchBucket", "NotFound")


def code_sha256_to_hex(code_sha256: str) -> str:
    """Lambda reports a zip's sha256 as base64 of the digest; mlayer keys things by hex."""
    return base64.b64decode(code_sha256).hex()


def hex_to_code_sha256(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def translate(exc: Exception, action: str) -> AwsError:
    """One place that turns botocore's failures into errors a user can act on."""
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", "")) or "ClientError"
        message = err.get("Message") or str(exc)
        if code in _NOT_FOUND:
            return NotFoundError(
                f"{action}: not found ({message}).", "Check the name and the region.", code
            )
        if code in ("PreconditionFailedException", "PreconditionFailed"):
            return ConflictError(
                f"{action}: the function changed since mlayer read it ({message}).",
                "Someone else updated it; run the command again to plan against its current state.",
                code,
            )
        if code in (
            "AccessDeniedException",
            "AccessDenied",
            "UnrecognizedClientException",
            "InvalidClientTokenId",
            "ExpiredToken",
        ):
            return AwsError(
                f"{action}: AWS refused the credentials ({code}: {message}).",
                "Check --profile / AWS_PROFILE and that the credentials may call this API.",
                code,
            )
        if code == "InvalidParameterValueException" and "role" in message.lower():
            return AwsError(
                f"{action}: {code}: {message}",
                "Check [function] role: the role must exist and trust lambda.amazonaws.com "
                "(on the embedded AWS too: create it with `aws iam create-role`).",
                code,
            )
        return AwsError(f"{action}: {code}: {message}", "See AWS's message above.", code)
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return AwsError(
            f"{action}: no AWS credentials found.",
            "Set AWS_PROFILE or --profile, or run against the embedded AWS (`mlayer local-aws`).",
            "NoCredentials",
        )
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return AwsError(
            f"{action}: no AWS region set.", "Pass --region or set AWS_REGION.", "NoRegion"
        )
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return AwsError(
            f"{action}: cannot reach {exc.kwargs.get('endpoint_url', 'the endpoint')}.",
            "Check --endpoint-url / AWS_ENDPOINT_URL (is `mlayer local-aws` running?) and the network.",
            "EndpointConnectionError",
        )
    if isinstance(exc, botocore.exceptions.ProfileNotFound):
        return AwsError(
            f"{action}: {exc}.",
            "List profiles with `aws configure list-profiles`.",
            "ProfileNotFound",
        )
    return AwsError(f"{action}: {exc}", "", type(exc).__name__)


class Gateway:
    """AWS calls mlayer makes, by service. One instance per command."""

    def __init__(
        self,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        *,
        session: Any = None,
        clients: dict[str, Any] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint_url = endpoint_url
        self._profile = profile
        self._region = region
        self._session = session
        self._clients: dict[str, Any] = dict(clients or {})
        self.sleep = sleep
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Gateway:
        aws = settings.aws
        return cls(region=aws.region, profile=aws.profile, endpoint_url=aws.endpoint_url, **kwargs)

    # -- plumbing ---------------------------------------------------------------------------
    @property
    def session(self) -> Any:
        if self._session is None:
            try:
                self._session = boto3.session.Session(
                    profile_name=self._profile, region_name=self._region
                )
            except Exception as exc:  # ProfileNotFound and friends
                raise translate(exc, "Opening the AWS session") from exc
        return self._session

    @property
    def region(self) -> str:
        return self._region or self.session.region_name or DEFAULT_REGION

    def client(self, service: str) -> Any:
        if service not in self._clients:
            config = Config(
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=10,
                read_timeout=120,
            )
            kwargs: dict[str, Any] = {"region_name": self.region, "config": config}
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            session = self.session  # its own errors (an unknown profile) keep their hint
            try:
                self._clients[service] = session.client(service, **kwargs)
            except Exception as exc:
                raise translate(exc, f"Creating the {service} client") from exc
        return self._clients[service]

    def call(self, service: str, operation: str, action: str, **params: Any) -> dict:
        """Call one API operation, mapping failures to MlayerError with ``action`` as context."""
        method = getattr(self.client(service), operation)
        try:
            return method(**params)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise translate(exc, action) from exc

    def paginate(
        self, service: str, operation: str, key: str, action: str, **params: Any
    ) -> Iterator[dict]:
        paginator = self.client(service).get_paginator(operation)
        try:
            for page in paginator.paginate(**params):
                yield from page.get(key, [])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise translate(exc, action) from exc

    # -- S3 ---------------------------------------------------------------------------------
    def _head(self, operation: str, action: str, **params: Any) -> dict | None:
        """One S3 HEAD (``head_bucket``/``head_object``); None when S3 says it is absent."""
        try:
            return getattr(self.client("s3"), operation)(**params)
        except botocore.exceptions.ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in _S3_ABSENT:
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

    def download_file(self, bucket: str, key: str, path: str) -> None:
        try:
            self.client("s3").download_file(bucket, key, str(path))
        except Exception as exc:  # botocore's and s3transfer's
            raise translate(exc, f"Downloading s3://{bucket}/{key}") from exc

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

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        return [
            o["Key"]
            for o in self.paginate(
                "s3",
                "list_objects_v2",
                "Contents",
                f"Listing s3://{bucket}/{prefix}",
                Bucket=bucket,
                Prefix=prefix,
            )
        ]

    # -- Lambda layers ----------------------------------------------------------------------
    def publish_layer_version(
        self,
        name: str,
        description: str,
        *,
        s3: tuple[str, str] | None = None,
        zip_bytes: bytes | None = None,
        runtimes: list[str] | None = None,
        architectures: list[str] | None = None,
        license_info: str | None = None,
    ) -> dict:
        content: dict[str, Any] = (
            {"S3Bucket": s3[0], "S3Key": s3[1]} if s3 else {"ZipFile": zip_bytes}
        )
        params: dict[str, Any] = {
            "LayerName": name,
            "Description": description[:256],
            "Content": content,
        }
        if runtimes:
            params["CompatibleRuntimes"] = runtimes
        if architectures:
            params["CompatibleArchitectures"] = architectures
        if license_info:
            params["LicenseInfo"] = license_info
        return self.call("lambda", "publish_layer_version", f"Publishing layer {name}", **params)

    def list_layer_versions(self, name: str) -> list[dict]:
        """Every version of a layer, newest first ([] when the layer does not exist)."""
        try:
            versions = list(
                self.paginate(
                    "lambda",
                    "list_layer_versions",
                    "LayerVersions",
                    f"Listing versions of layer {name}",
                    LayerName=name,
                )
            )
        except NotFoundError:
            return []
        return sorted(versions, key=lambda v: v["Version"], reverse=True)

    def get_layer_version(self, name: str, version: int) -> dict:
        return self.call(
            "lambda",
            "get_layer_version",
            f"Reading layer {name} version {version}",
            LayerName=name,
            VersionNumber=int(version),
        )

    def get_layer_version_by_arn(self, arn: str) -> dict:
        return self.call("lambda", "get_layer_version_by_arn", f"Reading layer {arn}", Arn=arn)

    # -- Lambda functions -------------------------------------------------------------------
    def get_function_configuration(self, name: str, qualifier: str | None = None) -> dict:
        params: dict[str, Any] = {"FunctionName": name}
        if qualifier:
            params["Qualifier"] = qualifier
        try:
            return self.call(
                "lambda", "get_function_configuration", f"Reading function {name}", **params
            )
        except NotFoundError as exc:
            raise NotFoundError(
                f"Function {name} does not exist in {self.region}.",
                "Create it with `mlayer deploy-function`, or pass --function / set [function] name.",
                exc.code,
            ) from exc

    def function_exists(self, name: str) -> bool:
        try:
            self.get_function_configuration(name)
            return True
        except NotFoundError:
            return False

    def create_function(self, **params: Any) -> dict:
        return self.call(
            "lambda", "create_function", f"Creating function {params.get('FunctionName')}", **params
        )

    def update_function_code(
        self,
        name: str,
        zip_bytes: bytes,
        architectures: list[str] | None = None,
        revision_id: str | None = None,
    ) -> dict:
        params: dict[str, Any] = {"FunctionName": name, "ZipFile": zip_bytes}
        if architectures:
            params["Architectures"] = architectures
        if revision_id:
            params["RevisionId"] = revision_id
        return self.call("lambda", "update_function_code", f"Updating the code of {name}", **params)

    def update_function_configuration(
        self, name: str, revision_id: str | None = None, **params: Any
    ) -> dict:
        if revision_id:
            params["RevisionId"] = revision_id
        return self.call(
            "lambda",
            "update_function_configuration",
            f"Updating the configuration of {name}",
            FunctionName=name,
            **params,
        )

    def publish_function_version(
        self, name: str, description: str = "", revision_id: str | None = None
    ) -> dict:
        params: dict[str, Any] = {"FunctionName": name, "Description": description[:256]}
        if revision_id:
            params["RevisionId"] = revision_id
        return self.call("lambda", "publish_version", f"Publishing a version of {name}", **params)

    def get_alias(self, name: str, alias: str) -> dict | None:
        try:
            return self.call(
                "lambda",
                "get_alias",
                f"Reading alias {alias} of {name}",
                FunctionName=name,
                Name=alias,
            )
        except NotFoundError:
            return None

    def put_alias(
        self, name: str, alias: str, version: str, revision_id: str | None = None
    ) -> dict:
        """Create the alias, or move it to ``version`` (with the RevisionId read before)."""
        if self.get_alias(name, alias) is None:
            return self.call(
                "lambda",
                "create_alias",
                f"Creating alias {alias} of {name}",
                FunctionName=name,
                Name=alias,
                FunctionVersion=version,
            )
        params: dict[str, Any] = {"FunctionName": name, "Name": alias, "FunctionVersion": version}
        if revision_id:
            params["RevisionId"] = revision_id
        return self.call("lambda", "update_alias", f"Moving alias {alias} of {name}", **params)

    # -- event-source mappings --------------------------------------------------------------
    def list_event_source_mappings(
        self, function: str | None = None, source_arn: str | None = None
    ) -> list[dict]:
        """Mappings of a function (name or ARN) and/or of an event source."""
        params: dict[str, Any] = {}
        if function:
            params["FunctionName"] = function
        if source_arn:
            params["EventSourceArn"] = source_arn
        return list(
            self.paginate(
                "lambda",
                "list_event_source_mappings",
                "EventSourceMappings",
                f"Listing triggers of {function or source_arn}",
                **params,
            )
        )

    def create_event_source_mapping(self, **params: Any) -> dict:
        return self.call(
            "lambda", "create_event_source_mapping", "Creating the Kinesis trigger", **params
        )

    def update_event_source_mapping(self, uuid: str, **params: Any) -> dict:
        return self.call(
            "lambda",
            "update_event_source_mapping",
            "Updating the Kinesis trigger",
            UUID=uuid,
            **params,
        )

    # -- Kinesis ----------------------------------------------------------------------------
    def ensure_stream(self, name: str, shards: int = 1) -> dict:
        """Create the stream if absent and wait until it is ACTIVE; returns its summary."""
        try:
            return self.describe_stream(name)
        except NotFoundError:
            self.call(
                "kinesis",
                "create_stream",
                f"Creating stream {name}",
                StreamName=name,
                ShardCount=shards,
            )
        deadline = self.clock() + 60
        while True:
            summary = self.describe_stream(name)
            if summary["StreamStatus"] == "ACTIVE" or self.clock() > deadline:
                return summary
            self.sleep(0.5)

    def describe_stream(self, name: str) -> dict:
        return self.call(
            "kinesis", "describe_stream_summary", f"Reading stream {name}", StreamName=name
        )["StreamDescriptionSummary"]

    def put_records(self, stream: str, records: list[dict]) -> dict:
        return self.call(
            "kinesis",
            "put_records",
            f"Writing to stream {stream}",
            StreamName=stream,
            Records=records,
        )

    def list_shards(self, stream: str) -> list[dict]:
        return self.call(
            "kinesis", "list_shards", f"Listing shards of {stream}", StreamName=stream
        )["Shards"]

    def get_shard_iterator(
        self,
        stream: str,
        shard_id: str,
        iterator_type: str,
        sequence_number: str | None = None,
        timestamp: Any = None,
    ) -> str:
        params: dict[str, Any] = {
            "StreamName": stream,
            "ShardId": shard_id,
            "ShardIteratorType": iterator_type,
        }
        if sequence_number is not None:
            params["StartingSequenceNumber"] = sequence_number
        if timestamp is not None:
            params["Timestamp"] = timestamp
        return self.call(
            "kinesis", "get_shard_iterator", f"Reading shard {shard_id} of {stream}", **params
        )["ShardIterator"]

    def get_shard_iterator_at(self, stream: str, shard_id: str, timestamp: Any) -> str:
        """An iterator at the first record that arrived at or after ``timestamp`` (AT_TIMESTAMP)."""
        return self.get_shard_iterator(stream, shard_id, "AT_TIMESTAMP", timestamp=timestamp)

    def invoke_function(self, name: str, payload: bytes) -> dict:
        """A synchronous Invoke with the log tail: StatusCode, FunctionError, Payload bytes, LogResult."""
        resp = self.call(
            "lambda",
            "invoke",
            f"Invoking {name}",
            FunctionName=name,
            InvocationType="RequestResponse",
            LogType="Tail",
            Payload=payload,
        )
        log = resp.get("LogResult")
        return {
            "StatusCode": resp.get("StatusCode"),
            "FunctionError": resp.get("FunctionError"),
            "Payload": resp["Payload"].read() if resp.get("Payload") is not None else b"",
            "LogResult": base64.b64decode(log).decode("utf-8", "replace") if log else "",
            "ExecutedVersion": resp.get("ExecutedVersion"),
        }

    def get_records(self, iterator: str, limit: int) -> dict:
        return self.call(
            "kinesis", "get_records", "Reading records", ShardIterator=iterator, Limit=limit
        )

    # -- SQS / SNS / DynamoDB (sinks, dead letters, on-failure destinations) ----------------
    def ensure_queue(self, name: str) -> str:
        return self.call("sqs", "create_queue", f"Creating queue {name}", QueueName=name)[
            "QueueUrl"
        ]

    def queue_url(self, name: str) -> str:
        return self.call("sqs", "get_queue_url", f"Finding queue {name}", QueueName=name)[
            "QueueUrl"
        ]

    def queue_arn(self, name: str) -> str:
        url = self.queue_url(name)
        attrs = self.call(
            "sqs",
            "get_queue_attributes",
            f"Reading queue {name}",
            QueueUrl=url,
            AttributeNames=["QueueArn"],
        )
        return attrs["Attributes"]["QueueArn"]

    def send_message(self, queue: str, body: str) -> None:
        self.call(
            "sqs",
            "send_message",
            f"Sending to queue {queue}",
            QueueUrl=self.queue_url(queue),
            MessageBody=body,
        )

    def receive_all(self, queue: str, max_rounds: int = 50) -> list[str]:
        """Drain a queue's visible messages (for the demo and tests)."""
        url = self.queue_url(queue)
        bodies: list[str] = []
        for _ in range(max_rounds):
            resp = self.call(
                "sqs",
                "receive_message",
                f"Reading queue {queue}",
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=0,
            )
            messages = resp.get("Messages", [])
            if not messages:
                break
            for m in messages:
                bodies.append(m["Body"])
                self.call(
                    "sqs",
                    "delete_message",
                    f"Deleting from {queue}",
                    QueueUrl=url,
                    ReceiptHandle=m["ReceiptHandle"],
                )
        return bodies

    def topic_arn(self, name: str) -> str:
        """The ARN of the SNS topic ``name`` in this account and region; NotFoundError if absent."""
        arn = name
        if not name.startswith("arn:"):
            arn = f"arn:aws:sns:{self.region}:{self.account_id()}:{name}"
        self.call("sns", "get_topic_attributes", f"Reading topic {name}", TopicArn=arn)
        return arn

    def publish_sns(self, topic_arn: str, message: str) -> None:
        self.call(
            "sns", "publish", f"Publishing to {topic_arn}", TopicArn=topic_arn, Message=message
        )

    def ensure_table(self, name: str, key: str = "event_id") -> None:
        try:
            self.call("dynamodb", "describe_table", f"Reading table {name}", TableName=name)
            return
        except NotFoundError:
            pass
        self.call(
            "dynamodb",
            "create_table",
            f"Creating table {name}",
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

    def scan_table(self, name: str) -> list[dict]:
        return list(
            self.paginate("dynamodb", "scan", "Items", f"Reading table {name}", TableName=name)
        )

    # -- IAM (the embedded AWS checks that a function's role exists) -------------------------
    def ensure_lambda_role(self, name: str) -> str:
        try:
            return self.call("iam", "get_role", f"Reading role {name}", RoleName=name)["Role"][
                "Arn"
            ]
        except NotFoundError:
            pass
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        return self.call(
            "iam",
            "create_role",
            f"Creating role {name}",
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust),
        )["Role"]["Arn"]

    def account_id(self) -> str:
        return self.call("sts", "get_caller_identity", "Reading the AWS account")["Account"]

    # -- what a locally emulated function needs to reach the same AWS --------------------------
    def function_aws_env(self) -> dict[str, str]:
        """AWS_* variables that point a local function's boto3 at this gateway's AWS.

        Lambda gives a function its role's keys; locally the caller's resolved credentials (from
        flags, env or a profile) and this gateway's endpoint and region stand in for them, so the
        function's sinks write to the same (embedded or real) AWS that mlayer is talking to.
        """
        env = {"AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region}
        if self.endpoint_url:
            env["AWS_ENDPOINT_URL"] = self.endpoint_url
        try:
            creds = self.session.get_credentials()
        except Exception as exc:  # a broken profile
            raise translate(exc, "Reading the AWS credentials") from exc
        if creds is not None:
            frozen = creds.get_frozen_credentials()
            env["AWS_ACCESS_KEY_ID"] = frozen.access_key
            env["AWS_SECRET_ACCESS_KEY"] = frozen.secret_key
            if frozen.token:
                env["AWS_SESSION_TOKEN"] = frozen.token
        return env
