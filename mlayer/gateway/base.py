"""The gateway's plumbing: one boto3 Session, lazily created clients, and generic call/paginate.

Everything else in the package (and mlayer/local/sandbox.py) is built on ``call`` and
``paginate``, so every failure passes through ``translate``. Tests build a Gateway over clients
wrapped in botocore's Stubber for the sequences the embedded AWS cannot produce.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import botocore.exceptions
import botocore.session
from botocore.config import Config

from mlayer.config import AwsSettings
from mlayer.config.loading import aws_limits
from mlayer.errors import AwsError, MlayerError
from mlayer.gateway.translate import translate

DEFAULT_REGION = "us-east-1"
# A synchronous Invoke waits for the function (up to Lambda's 900 s), and is never retried.
INVOKE_READ_TIMEOUT = 905.0


_LOADERS: list[Any] = []  # this process's one botocore data loader, once a session made it
# The account of a set of credentials on one endpoint never changes: asked of STS once per
# process (a hash of everything that names the caller and where STS is, never the secrets).
_ACCOUNTS: dict[str, str] = {}
_ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_USE_FIPS_ENDPOINT")


def new_session(**kwargs: Any) -> Any:
    """A boto3 Session reading service models through this process's one data loader.

    Each Gateway opens its own Session, and each Session's first clients would read and parse
    botocore's service JSON again (about 0.15 s for four services); the loader is a cache of
    those read-only files, so every session of the process can share it. Credentials, config,
    events and clients stay per session."""
    core = botocore.session.get_session()
    if _LOADERS:
        core.register_component("data_loader", _LOADERS[0])
    session = boto3.session.Session(botocore_session=core, **kwargs)
    loader = core.get_component("data_loader")
    if not _LOADERS:
        _LOADERS.append(loader)
    paths = loader.search_paths  # boto3 adds its own folder once per Session: keep it once
    paths[:] = list(dict.fromkeys(paths))
    return session


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
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        max_attempts: int | None = None,
        account: str | None = None,
    ) -> None:
        """``clients`` (e.g. wrapped in Stubber) replace the session's; without an "sts" among
        them the account is unknown unless given, and S3 requests carry no ExpectedBucketOwner.
        Timeouts and attempts default to MLAYER_AWS_* in the environment, else AwsSettings'."""
        limits = {**dataclasses.asdict(AwsSettings()), **aws_limits(os.environ)}
        self.connect_timeout = connect_timeout or limits["connect_timeout"]
        self.read_timeout = read_timeout or limits["read_timeout"]
        self.max_attempts = max_attempts or limits["max_attempts"]
        self._account = account
        self._account_known = account is not None or clients is None or "sts" in clients
        self.endpoint_url = endpoint_url
        self._profile = profile
        self._region = region
        self._session = session
        self._clients: dict[str, Any] = dict(clients or {})
        self._injected = set(self._clients)
        self.sleep = sleep
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> Any:
        aws = settings.aws
        return cls(
            region=aws.region,
            profile=aws.profile,
            endpoint_url=aws.endpoint_url,
            connect_timeout=aws.connect_timeout,
            read_timeout=aws.read_timeout,
            max_attempts=aws.max_attempts,
            **kwargs,
        )

    @property
    def session(self) -> Any:
        if self._session is None:
            try:
                self._session = new_session(profile_name=self._profile, region_name=self._region)
            except Exception as exc:  # ProfileNotFound and friends
                raise translate(exc, "Opening the AWS session") from exc
        return self._session

    @property
    def region(self) -> str:
        return self._region or self.session.region_name or DEFAULT_REGION

    def client(self, service: str, *, invoke: bool = False) -> Any:
        """The service's client; ``invoke`` gives Lambda's for a synchronous Invoke (long read,
        one attempt: a retried Invoke would run the function twice)."""
        key = f"{service}:invoke" if invoke else service
        if invoke and key not in self._clients and service in self._injected:
            return self._clients[service]  # injected clients (Stubber) serve both
        if key not in self._clients:
            config = Config(
                retries={
                    "total_max_attempts": 1 if invoke else self.max_attempts,
                    "mode": "standard",
                },
                connect_timeout=self.connect_timeout,
                read_timeout=INVOKE_READ_TIMEOUT if invoke else self.read_timeout,
            )
            kwargs: dict[str, Any] = {"region_name": self.region, "config": config}
            if self.endpoint_url:
                kwargs["endpoint_url"] = self.endpoint_url
            session = self.session  # its own errors (an unknown profile) keep their hint
            try:
                self._clients[key] = session.client(service, **kwargs)
            except Exception as exc:
                raise translate(exc, f"Creating the {service} client") from exc
        return self._clients[key]

    def call(self, service: str, operation: str, action: str, **params: Any) -> dict[str, Any]:
        """Call one API operation, mapping failures to MlayerError with ``action`` as context."""
        method = getattr(self.client(service), operation)
        try:
            answer: dict[str, Any] = method(**params)
            return answer
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise translate(exc, action) from exc

    def paginate(
        self, service: str, operation: str, key: str, action: str, **params: Any
    ) -> Iterator[Any]:  # the items under ``key``: documents, or names (PolicyNames)
        paginator = self.client(service).get_paginator(operation)
        try:
            for page in paginator.paginate(**params):
                yield from page.get(key, [])
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise translate(exc, action) from exc

    def account_id(self) -> str:
        """The caller's account (STS GetCallerIdentity, asked once per process for the same
        credentials and endpoint; a gateway given its clients asks its own STS client)."""
        if self._account is None:
            if not self._account_known:  # never reach a real STS from a gateway of stubs
                raise AwsError(
                    "Reading the AWS account: this gateway was given its clients, none for STS.",
                    "Pass account=... or an 'sts' client (e.g. one wrapped in Stubber).",
                    "NoAccount",
                )
            key = self._caller_key()
            known = _ACCOUNTS.get(key) if key else None
            self._account = (
                known
                or self.call("sts", "get_caller_identity", "Reading the AWS account")["Account"]
            )
            if key:
                _ACCOUNTS[key] = self._account
        return self._account

    def _caller_key(self) -> str | None:
        """Who asks and where STS is, hashed: the resolved credentials, the profile, the region
        and every endpoint setting. None (ask STS) for injected clients, or when the credentials
        cannot be read here (STS then says why, as it always did)."""
        if self._injected:
            return None
        try:
            creds = self.credentials()
        except MlayerError:
            return None
        if creds is None:
            return None
        endpoints = [os.environ.get(name, "") for name in _ENDPOINT_VARIABLES]
        facts = [*creds, self._profile, self.region, self.endpoint_url, *endpoints]
        text = "\n".join(str(f or "") for f in facts)
        return hashlib.sha256(text.encode()).hexdigest()

    def known_account(self) -> str | None:
        """The account when it can be known (None on a gateway of injected clients without STS)."""
        return self.account_id() if self._account_known else None

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
