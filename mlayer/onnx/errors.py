"""Why an ONNX publish was refused: each error names what to change, or to stay with sklearn."""

from __future__ import annotations

from mlayer.errors import ModelError, UsageError

FALLBACK_HINT = "Publish it with --format sklearn (the default): it serves the pickles as they are."


class OnnxUnavailableError(UsageError):
    """ONNX cannot be used here at all: the extra is not installed or the runtime is too old."""


class OnnxConversionError(ModelError):
    """skl2onnx could not turn the pipeline into one graph (no converter, or a converter bug)."""

    def __init__(self, message: str, hint: str = FALLBACK_HINT, estimator: str = "") -> None:
        super().__init__(message, hint)
        self.estimator = estimator


class OnnxParityError(ModelError):
    """onnxruntime does not reproduce scikit-learn's predictions within the tolerance."""

    def __init__(self, message: str, hint: str, differences: list[dict], cause: str) -> None:
        super().__init__(message, hint)
        self.differences = differences
        self.cause = cause
