"""The Gateway: one class assembled from one mixin per service (the package docstring)."""

from __future__ import annotations

from mlayer.gateway.file_events import FileEventCalls
from mlayer.gateway.functions import FunctionCalls
from mlayer.gateway.iam import IamCalls
from mlayer.gateway.inventory import InventoryCalls
from mlayer.gateway.kms import KmsCalls
from mlayer.gateway.lambdas import LambdaCalls
from mlayer.gateway.s3 import S3Calls
from mlayer.gateway.streams import StreamCalls


class Gateway(
    S3Calls,
    InventoryCalls,
    FunctionCalls,
    LambdaCalls,
    StreamCalls,
    IamCalls,
    FileEventCalls,
    KmsCalls,
):
    """AWS calls mlayer makes, by service. One instance per command."""
