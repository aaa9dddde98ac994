"""The only package that calls boto3: every AWS side effect of mlayer passes through Gateway.

One facade, ``Gateway``, assembled from one module per service so each stays small:
  base.py      session, clients (timeouts, retries), generic call/paginate, account, credentials
  translate.py botocore failures -> MlayerError with a hint (nothing else sees botocore)
  s3.py        the artifact bucket and its objects
  lambdas.py   layer versions, functions, versions, aliases, event-source mappings, Invoke
  streams.py   Kinesis reads, SQS/SNS sends (dead letters, on-failure destinations)
  inventory.py what `mlayer prune` reads (typed views) and deletes
  iam.py       the function's role and its policies; credentials of an assumed role
  file_events.py a bucket's Lambda notifications, S3's permission to invoke, an object's head
Production calls only: what the demo and tests use to set up and inspect AWS lives in
mlayer/local/sandbox.py, on top of ``call``/``paginate``.
"""

from __future__ import annotations

from mlayer.gateway.base import DEFAULT_REGION
from mlayer.gateway.file_events import FileEventCalls
from mlayer.gateway.iam import IamCalls
from mlayer.gateway.inventory import InventoryCalls
from mlayer.gateway.lambdas import LambdaCalls
from mlayer.gateway.s3 import S3Calls
from mlayer.gateway.streams import StreamCalls
from mlayer.gateway.translate import translate
from mlayer.model.packaging import code_sha256_to_hex  # defined there: pure callers need no boto3


class Gateway(S3Calls, LambdaCalls, StreamCalls, InventoryCalls, IamCalls, FileEventCalls):
    """AWS calls mlayer makes, by service. One instance per command."""


__all__ = ["DEFAULT_REGION", "Gateway", "code_sha256_to_hex", "translate"]
