"""Where results and dead letters go: dynamodb://, s3://, kinesis://, sqs://, stdout://.

Each sink lives in its own module (sink_dynamodb, sink_s3, sink_sqs, sink_kinesis; what they
share is delivery.py); this one names them by URL and builds the boto3 clients. Every sink
writes in batches within its service's limits and is idempotent on ``event_id`` wherever the
service allows it, so a batch that Lambda delivers again leaves no duplicates (docs/FORMATS.md,
"Replays"). boto3 is imported only here, and only when an AWS sink is configured (Lambda's
runtime ships it). Each sink's module is imported when its URL is read: a stdout:// function
imports none of them (tests/functional/test_onnx_cold_start.py); ``sinks.S3Sink`` and the other
names below still resolve, each on first use.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from .deadletters import DeadLetters, OverflowStore
from .delivery import (
    BaseSink,
    Delivery,
    Prepared,
    SinkConfigError,
    Warn,
    new_tuple,
    noop,
    to_json_line,
)
from .retries import Deadline, Retry

if TYPE_CHECKING:  # imported on first use (module __getattr__ below), as a URL needs them
    from .sink_dynamodb import DynamoDBSink, to_attribute
    from .sink_kinesis import KinesisSink
    from .sink_s3 import S3Sink
    from .sink_sqs import SqsSink

_LAZY = {  # name -> the module that defines it
    "DynamoDBSink": "sink_dynamodb",
    "to_attribute": "sink_dynamodb",
    "KinesisSink": "sink_kinesis",
    "S3Sink": "sink_s3",
    "SqsSink": "sink_sqs",
}

__all__ = [
    "DeadLetters",
    "Deadline",
    "Delivery",
    "DynamoDBSink",
    "KinesisSink",
    "OverflowStore",
    "Retry",
    "S3Sink",
    "SinkConfigError",
    "SqsSink",
    "StdoutSink",
    "dead_letters_from_url",
    "make_client",
    "sink_from_url",
    "to_attribute",
]


def __getattr__(name: str) -> Any:
    """``sinks.S3Sink`` and the others in _LAZY: their module loads on first use."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __package__), name)
    globals()[name] = value
    return value


class StdoutSink(BaseSink):
    """One JSON line per document on stdout (CloudWatch Logs on Lambda): for local runs."""

    name = "stdout://"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def prepare(self, doc: dict[str, Any]) -> Prepared:
        line = to_json_line(doc)
        if not line.isascii():
            line.encode("utf-8")  # a lone surrogate cannot be printed: refuse this one alone
        return new_tuple(Prepared, (doc["event_id"], line, 0))  # Prepared(...), on the hot path

    def send(self, items: Sequence[Prepared]) -> Delivery:
        stream = self._stream or sys.stdout
        stream.write("".join(item.wire + "\n" for item in items))
        stream.flush()
        return Delivery()


# One HTTP attempt per call: the sinks' own rounds (retries.Retry) are the only retries, and
# they stop before the invocation's deadline. botocore's retries would not: "max_attempts": 3
# meant 4 attempts per call with up to 20 s of backoff each, past any deadline.
CLIENT_CONFIG = {
    "retries": {"mode": "standard", "total_max_attempts": 1},
    "connect_timeout": 2,
    "read_timeout": 5,
}


def make_client(service: str) -> Any:  # boto3: untyped
    """A boto3 client with short timeouts; the endpoint comes from AWS_ENDPOINT_URL if set."""
    import boto3
    from botocore.config import Config

    return boto3.client(service, config=Config(**CLIENT_CONFIG))


SCHEMES = ("dynamodb", "s3", "kinesis", "sqs", "stdout")


def sink_from_url(
    url: str,
    *,
    client_factory: Callable[[str], Any] = make_client,
    retry: Retry | None = None,
    warn: Warn = noop,
) -> BaseSink:
    """The sink a URL names, e.g. ``dynamodb://predictions`` or ``s3://bucket/prefix``."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise SinkConfigError(f"unknown sink {url!r}: expected one of {', '.join(SCHEMES)}://")
    retry = retry or Retry()
    if scheme == "stdout":
        return StdoutSink()
    if not rest:
        raise SinkConfigError(f"sink {url!r} names no {scheme} resource")
    if scheme == "s3":
        from .sink_s3 import S3Sink, parse_s3_url

        bucket, prefix = parse_s3_url(rest)
        return S3Sink(client_factory("s3"), bucket, prefix, retry, warn)
    if scheme == "dynamodb":
        from .sink_dynamodb import DynamoDBSink

        return DynamoDBSink(client_factory("dynamodb"), rest, retry, warn)
    if scheme == "kinesis":
        from .sink_kinesis import KinesisSink

        return KinesisSink(client_factory("kinesis"), rest, retry, warn)
    from .sink_sqs import SqsSink

    return SqsSink(client_factory("sqs"), rest, retry, warn)


def dead_letters_from_url(
    url: str,
    overflow: str = "",
    *,
    client_factory: Callable[[str], Any] = make_client,
    retry: Retry | None = None,
    warn: Warn = noop,
) -> DeadLetters:
    """The dead-letter sink (stdout:// when ``url`` is empty) with its S3 overflow, if any."""
    retry = retry or Retry()
    sink = sink_from_url(url or "stdout://", client_factory=client_factory, retry=retry, warn=warn)
    store = None
    if overflow:
        try:
            store = OverflowStore.from_url(overflow, client_factory, retry)
        except ValueError as exc:
            raise SinkConfigError(str(exc)) from None
    return DeadLetters(sink, store, warn)
