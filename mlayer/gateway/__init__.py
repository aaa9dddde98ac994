"""The only package that calls boto3: every AWS side effect of mlayer passes through Gateway.

One facade, ``Gateway``, assembled from one module per service so each stays small:
  base.py      session, clients (timeouts, retries), generic call/paginate, account, credentials
  translate.py botocore failures -> MlayerError with a hint (nothing else sees botocore)
  s3.py        the artifact bucket and its objects
  lambdas.py   layer versions, functions, versions, aliases, event-source mappings, Invoke
  streams.py   Kinesis reads, SQS/SNS sends (dead letters, on-failure destinations)
  inventory.py what `mlayer prune` reads (typed views) and deletes
  views.py     Lambda's answers as frozen views, mlayer's requests as typed specs (pure)
  functions.py the typed reads and writes of functions, versions, aliases, mappings
  facade.py    the Gateway class, loaded on first use (importing views.py loads no boto3)
  iam.py       the function's role and its policies; credentials of an assumed role
  file_events.py a bucket's Lambda notifications, S3's permission to invoke, an object's head
Production calls only: what the demo and tests use to set up and inspect AWS lives in
mlayer/local/sandbox.py, on top of ``call``/``paginate``; where the demo reads or writes
AWS-shaped data, typed functions (not on Gateway) keep the shapes here:
  kinesis_records.py records put on a stream, and a batch as Lambda hands it over
  dynamodb.py        a table's items as plain rows
  iam_users.py       the Sids of a user's inline policy, read back
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlayer.model.packaging import code_sha256_to_hex  # defined there: pure callers need no boto3

if TYPE_CHECKING:
    from mlayer.gateway.base import DEFAULT_REGION
    from mlayer.gateway.facade import Gateway


def __getattr__(name: str) -> Any:
    """Gateway and DEFAULT_REGION load boto3 when first asked for, not on import: the pure
    modules import the typed views (views.py) without loading boto3. (``translate`` is
    imported from its module: a package attribute of that name would be the module.)"""
    if name == "Gateway":
        from mlayer.gateway.facade import Gateway

        return Gateway
    if name == "DEFAULT_REGION":
        from mlayer.gateway.base import DEFAULT_REGION

        return DEFAULT_REGION
    raise AttributeError(f"module 'mlayer.gateway' has no attribute {name!r}")


__all__ = ["DEFAULT_REGION", "Gateway", "code_sha256_to_hex"]
