"""The ARNs a policy names, built from the configuration: pure, one function per resource kind.

Every statement mlayer writes names the exact resource (a stream, a table, a prefix of a bucket)
so that the role of one function can touch nothing else. The URLs are those of mlayer.toml
(``s3://bucket/prefix``, ``sqs://queue``, ``kinesis://stream``...); a value that already is an
ARN is kept as it is.
"""

from __future__ import annotations

from dataclasses import dataclass


def partition_of(region: str) -> str:
    """The AWS partition a region belongs to (its ARNs start with ``arn:<partition>:``)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def split_url(url: str) -> tuple[str, str]:
    """``scheme://rest`` -> (scheme, rest); an ARN -> ("arn", the ARN)."""
    if url.startswith("arn:"):
        return "arn", url
    scheme, _, rest = url.partition("://")
    return scheme, rest


def s3_bucket_prefix(rest: str) -> tuple[str, str]:
    """``bucket/prefix`` -> (bucket, prefix ending in "/" or empty), as the function reads it."""
    bucket, _, prefix = rest.partition("/")
    return bucket, prefix if not prefix or prefix.endswith("/") else prefix + "/"


@dataclass(frozen=True)
class Arns:
    """ARN builders for one account and region."""

    account: str
    region: str

    @property
    def partition(self) -> str:
        return partition_of(self.region)

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"

    def log_group(self, function: str) -> str:
        """The function's log group and its streams (Lambda writes to /aws/lambda/<name>)."""
        return self._arn("logs", f"log-group:/aws/lambda/{function}:*")

    def stream(self, name_or_arn: str) -> str:
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        return self._arn("kinesis", f"stream/{name_or_arn}")

    def table(self, name_or_arn: str) -> str:
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        return self._arn("dynamodb", f"table/{name_or_arn}")

    def queue(self, name_or_arn: str) -> str:
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        return self._arn("sqs", name_or_arn)

    def topic(self, name_or_arn: str) -> str:
        if name_or_arn.startswith("arn:"):
            return name_or_arn
        return self._arn("sns", name_or_arn)

    def key(self, key: str) -> str:
        """A KMS key named by its ARN, its id, or an alias (``alias/<name>``: the alias's ARN)."""
        if key.startswith("arn:"):
            return key
        return self._arn("kms", key if key.startswith("alias/") else f"key/{key}")

    def bucket(self, bucket: str) -> str:
        return f"arn:{self.partition}:s3:::{bucket}"

    def objects(self, bucket: str, prefix: str = "") -> str:
        """Every object under ``prefix`` of ``bucket`` (the prefix as a literal, then ``*``)."""
        return f"arn:{self.partition}:s3:::{bucket}/{prefix}*"

    def function(self, name: str) -> str:
        return self._arn("lambda", f"function:{name}")

    def function_qualified(self, name: str) -> str:
        """Its versions and aliases (``function:<name>:<qualifier>``)."""
        return self._arn("lambda", f"function:{name}:*")

    def layer(self, name: str) -> str:
        return self._arn("lambda", f"layer:{name}")

    def layer_versions(self, name: str) -> str:
        return self._arn("lambda", f"layer:{name}:*")

    def any_layer_version(self) -> str:
        """Every version of every layer of the account in this region."""
        return self._arn("lambda", "layer:*")

    def event_source_mappings(self) -> str:
        """Mappings are named by a UUID AWS picks: the account's mappings in this region."""
        return self._arn("lambda", "event-source-mapping:*")

    def role(self, name: str) -> str:
        return f"arn:{self.partition}:iam::{self.account}:role/{name}"

    def policies(self, account: str) -> str:
        """Managed policies of ``account`` (``aws`` for AWS's own)."""
        return f"arn:{self.partition}:iam::{account}:policy/*"
