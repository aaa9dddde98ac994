"""mlayer.toml + MLAYER_<SECTION>_<KEY> environment + command flags -> one frozen Settings.

Precedence: a flag beats the environment, which beats the file, which beats the defaults.
Every value is validated here, once, so the rest of mlayer can trust Settings.
  sections.py    the dataclasses (one per [section]) and their defaults
  loading.py     reading the file and the environment, coercing values
  validation.py  the checks, each naming the key and where it was set
  rendering.py   the commented mlayer.toml `mlayer init` writes
"""

from __future__ import annotations

from mlayer.config.loading import load_settings, with_overrides
from mlayer.config.rendering import render_toml
from mlayer.config.sections import (
    ARCHITECTURES,
    BUILDERS,
    DEAD_LETTER_PREFIX,
    DEAD_LETTER_SCHEMES,
    DEFAULT_CONFIG,
    ENV_PREFIX,
    FUNCTION_DEAD_LETTER_OVERFLOW_ENV,
    INPUT_KINDS,
    ON_FAILURE_SCHEMES,
    SECTIONS,
    SINK_SCHEMES,
    STARTING_POSITIONS,
    SUPPORTED_RUNTIMES,
    ArtifactsSettings,
    AwsSettings,
    DepsSettings,
    FunctionSettings,
    ModelSettings,
    OutputSettings,
    Settings,
    TriggerSettings,
)

__all__ = [
    "ARCHITECTURES",
    "BUILDERS",
    "DEAD_LETTER_SCHEMES",
    "DEAD_LETTER_PREFIX",
    "DEFAULT_CONFIG",
    "ENV_PREFIX",
    "FUNCTION_DEAD_LETTER_OVERFLOW_ENV",
    "INPUT_KINDS",
    "ON_FAILURE_SCHEMES",
    "SECTIONS",
    "SINK_SCHEMES",
    "STARTING_POSITIONS",
    "SUPPORTED_RUNTIMES",
    "ArtifactsSettings",
    "AwsSettings",
    "DepsSettings",
    "FunctionSettings",
    "ModelSettings",
    "OutputSettings",
    "Settings",
    "TriggerSettings",
    "load_settings",
    "render_toml",
    "with_overrides",
]
