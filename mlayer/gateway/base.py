"""The gateway's plumbing: one boto3 Session, lazily created clients, and generic call/paginate.

Everything else in the package (and mlayer/local/sandbox.py) is built on ``call`` and
``paginate``, so every failure passes through ``translate``. Tests build a Gateway over clients
wrapped in botocore's Stubber for the sequences the embedded AWS cannot produce.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.exceptions
from botocore.config import Config

from mlayer.gateway.translate import translate

DEFAULT_REGION = "us-east-1"


class GatewayBase:
    """Session, clients and the two generic entry points; services add their calls on top."""

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
    def from_settings(cls, settings: Any, **kwargs: Any) -> Any:
        aws = settings.aws
        return cls(region=aws.region, profile=aws.profile, endpoint_url=aws.endpoint_url, **kwargs)

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

    def account_id(self) -> str:
        return self.call("sts", "get_caller_identity", "Reading the AWS account")["Account"]

    def credentials(self) -> tuple[str, str, str | None] | None:
        """The resolved (access key, secret key, session token), or None when there are none."""
        try:
            creds = self.session.get_credentials()
        except Exception as exc:  # a broken profile
            raise translate(exc, "Reading the AWS credentials") from exc
        if creds is None:
            return None
        frozen = creds.get_frozen_credentials()
        return frozen.access_key, frozen.secret_key, frozen.token or None
