"""Dependency layers: build a ``python/`` tree for a Lambda runtime and CPU, prove it, zip it.

The only place (with mlayer.local) that starts subprocesses: pip, docker, strip and the
runtime's Python, all through an injected Runner.
"""

from mlayer.build.layer import LayerBuild, build_layer, choose_builder
from mlayer.build.progress import Progress, ProgressCallback
from mlayer.build.request import BuildRequest

__all__ = [
    "BuildRequest",
    "LayerBuild",
    "Progress",
    "ProgressCallback",
    "build_layer",
    "choose_builder",
]
