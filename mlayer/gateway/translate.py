"""botocore's failures -> MlayerError with a hint, in one place, so nothing else sees botocore."""

from __future__ import annotations

import urllib.parse

import botocore.exceptions

from mlayer.errors import AwsError, ConflictError, NotFoundError

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
_DENIED = {
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
}
# What a HEAD on an absent bucket or object answers (a HEAD has no body: mostly a bare "404").
S3_ABSENT = ("404", "NoSuchKey", "NoSuchBucket", "NotFound")
NAME_A_BUCKET = (
    "Name a bucket of your own: [artifacts] bucket in mlayer.toml or MLAYER_ARTIFACTS_BUCKET "
    "(empty: mlayer-<account>-<region>, created for you)."
)
TIMEOUT_HINT = (
    "Check --endpoint-url / AWS_ENDPOINT_URL (is `mlayer local-aws` running?) and the network; "
    "a slow link may need a longer MLAYER_AWS_READ_TIMEOUT / MLAYER_AWS_CONNECT_TIMEOUT (seconds)."
)


def _origin(url: str) -> str:
    """scheme://host:port of a request URL: the endpoint, without the API's path."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url


def client_error_code(exc: Exception) -> str:
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def foreign_bucket(bucket: str, action: str, code: str, owner: str | None) -> AwsError:
    """A bucket that exists but is not the caller's (S3 says 403, or that the name is taken)."""
    mine = f" (your account is {owner})" if owner else ""
    return AwsError(
        f"{action}: bucket {bucket} belongs to another AWS account{mine}, or your credentials may "
        f"not use it ({code}). S3 bucket names are global.",
        NAME_A_BUCKET,
        code,
    )


def translate(exc: Exception, action: str) -> AwsError:
    """One place that turns botocore's failures into errors a user can act on."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return _refused(exc, action)
    return _unanswered(exc, action)


def _refused(exc: botocore.exceptions.ClientError, action: str) -> AwsError:
    """AWS answered with an error code: not found, changed meanwhile, denied, a bad role."""
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
    if code in _DENIED:
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


def _unanswered(exc: Exception, action: str) -> AwsError:
    """No answer from AWS: no credentials or region, a timeout, no connection, no profile."""
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
    if isinstance(
        exc, (botocore.exceptions.ReadTimeoutError, botocore.exceptions.ConnectTimeoutError)
    ):
        endpoint = _origin(exc.kwargs.get("endpoint_url", "")) or "the endpoint"
        what = (
            "did not answer"
            if isinstance(exc, botocore.exceptions.ReadTimeoutError)
            else ("did not accept a connection")
        )
        return AwsError(f"{action}: {endpoint} {what} in time.", TIMEOUT_HINT, type(exc).__name__)
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
