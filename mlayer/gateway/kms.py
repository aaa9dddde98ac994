"""KMS: what key an alias names. IAM authorizes a key's use (kms:Decrypt of an SSE-KMS stream)
on the key's ARN, never on an alias's, so a policy must name the key an alias points to."""

from __future__ import annotations

from mlayer.gateway.base import GatewayBase


class KmsCalls(GatewayBase):
    def key_arn(self, key: str) -> str:
        """The ARN of the key ``key`` names (a key id or ARN, an alias name or ARN)."""
        answer: str = self.call("kms", "describe_key", f"Reading KMS key {key}", KeyId=key)[
            "KeyMetadata"
        ]["Arn"]
        return answer
