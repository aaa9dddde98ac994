"""Layer version ARNs as values: parse once, compare by name, format back unchanged.

Relinking replaces "the layer whose name matches"; that needs the name and version out of an
ARN without string slicing scattered through the code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mlayer.errors import UsageError

_LAYER_VERSION = re.compile(
    r"^arn:(?P<partition>aws[a-z-]*):lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"layer:(?P<name>[A-Za-z0-9_-]{1,140}):(?P<version>[1-9]\d*)$"
)


@dataclass(frozen=True, order=True)
class LayerVersionArn:
    partition: str
    region: str
    account: str
    name: str
    version: int

    @classmethod
    def parse(cls, arn: str) -> LayerVersionArn:
        m = _LAYER_VERSION.match(arn or "")
        if not m:
            raise UsageError(
                f"{arn!r} is not a Lambda layer version ARN.",
                "It looks like arn:aws:lambda:<region>:<account>:layer:<name>:<version>.",
            )
        return cls(m["partition"], m["region"], m["account"], m["name"], int(m["version"]))

    @classmethod
    def try_parse(cls, arn: str) -> LayerVersionArn | None:
        try:
            return cls.parse(arn)
        except UsageError:
            return None

    @property
    def layer_arn(self) -> str:
        """The layer's ARN without a version (what list/publish calls return as LayerArn)."""
        return f"arn:{self.partition}:lambda:{self.region}:{self.account}:layer:{self.name}"

    def with_version(self, version: int) -> LayerVersionArn:
        return LayerVersionArn(self.partition, self.region, self.account, self.name, int(version))

    def __str__(self) -> str:
        return f"{self.layer_arn}:{self.version}"


def layer_name(arn: str) -> str | None:
    """The layer name in a version ARN, or None for something that is not one."""
    parsed = LayerVersionArn.try_parse(arn)
    return parsed.name if parsed else None
