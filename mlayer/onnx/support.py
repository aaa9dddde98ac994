"""Where an ONNX model can run: which Lambda runtimes, and which dependencies layers.

Pure decisions over runtimes.py's facts and a deps layer's lock (docs/FORMATS.md), so that
publish-model, rollback and deploy-function refuse the same things for the same reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlayer.onnx.errors import OnnxUnavailableError
from mlayer.runtimes import get_runtime

# onnxruntime's Linux wheels are manylinux_2_28: they need glibc 2.28 (Amazon Linux 2023).
ONNXRUNTIME_GLIBC = (2, 28)
# The oldest onnxruntime that runs each opset of the default ONNX domain (its release notes).
MIN_ONNXRUNTIME_FOR_OPSET = {17: "1.13", 18: "1.14", 19: "1.15", 20: "1.17", 21: "1.18", 22: "1.20"}
FORMATS = ("sklearn", "onnx")


def runtime_problem(runtime: str) -> str | None:
    """Why ``--format onnx`` cannot serve on ``runtime``, or None when it can."""
    rt = get_runtime(runtime)
    if rt.glibc >= ONNXRUNTIME_GLIBC:
        return None
    return (
        f"{runtime} runs on {rt.os} (glibc {rt.glibc[0]}.{rt.glibc[1]}), and onnxruntime's wheels "
        f"are manylinux_{ONNXRUNTIME_GLIBC[0]}_{ONNXRUNTIME_GLIBC[1]}: they need glibc "
        f"{ONNXRUNTIME_GLIBC[0]}.{ONNXRUNTIME_GLIBC[1]} (the Amazon Linux 2023 runtimes, "
        "python3.12 and python3.13)"
    )


def require_onnx_runtime(runtime: str) -> None:
    """Refuse ``--format onnx`` on a runtime whose OS cannot load onnxruntime."""
    problem = runtime_problem(runtime)
    if problem:
        raise OnnxUnavailableError(
            f"--format onnx is not available on {runtime}: {problem}.",
            "Use --runtime python3.12 (or 3.13) for the function, or --format sklearn.",
        )


def _version(text: str | None) -> tuple[int, ...]:
    parts = []
    for piece in str(text or "").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)


def min_onnxruntime(opsets: Mapping[str, int]) -> str | None:
    """The oldest onnxruntime that runs a graph of these opsets (None: any we know of)."""
    opset = int(opsets.get("ai.onnx", opsets.get("", 0)) or 0)
    known = [v for o, v in MIN_ONNXRUNTIME_FOR_OPSET.items() if o >= opset]
    if opset > max(MIN_ONNXRUNTIME_FOR_OPSET):
        return None
    return min(known, key=_version) if known else None


def deps_problem(manifest: Mapping[str, Any], lock: Mapping[str, Any] | None) -> str | None:
    """Why the deps layer of ``lock`` cannot load the model of ``manifest``, or None.

    An ONNX model needs onnxruntime, new enough for the graph's opset; a sklearn model needs
    scikit-learn. A lock that has both serves both (one layer for a function that rolls back
    and forth between the formats).
    """
    if lock is None:
        return None
    packages = {str(k).lower(): v for k, v in (lock.get("packages") or {}).items()}
    fmt = manifest.get("format") or "sklearn"
    if fmt == "onnx":
        have = packages.get("onnxruntime")
        if have is None:
            return (
                "the model is ONNX but the dependencies layer has no onnxruntime "
                "(build it from layers/onnx/requirements.txt)"
            )
        opsets = (manifest.get("onnx") or {}).get("opsets") or {}
        need = min_onnxruntime(opsets)
        if need is None and opsets:
            need = ((manifest.get("onnx") or {}).get("converted_with") or {}).get("onnxruntime")
        if need and _version(have) < _version(need):
            return (
                f"the model's ONNX opset {opsets.get('ai.onnx')} needs onnxruntime >= {need}; "
                f"the dependencies layer has {have}"
            )
        return None
    if "scikit-learn" not in packages:
        return (
            "the model is a scikit-learn pickle but the dependencies layer has no scikit-learn "
            "(build it from layers/sklearn/requirements.txt)"
        )
    return None
