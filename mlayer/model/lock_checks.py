"""A model manifest against a dependencies layer's lock: globals that cannot import on Lambda,
scikit-learn minor and numpy major versions that differ from the pickles' (pure).

Apart from manifest.py because these are judgements about a pairing (this model on that
layer), asked again at rollback and deploy time, while the manifest itself never changes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

# Modules every Lambda Python runtime has without any layer.
RUNTIME_MODULES = frozenset(sys.stdlib_module_names) | {"boto3", "botocore"}


def _minor(version: str | None) -> tuple[int, ...] | None:
    if not version:
        return None
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            return None
        parts.append(int(digits))
    return tuple(parts)


def _major(version: str | None) -> int | None:
    minor = _minor(version)
    return minor[0] if minor else None


def global_problems(
    globals_: Iterable[str], provided: Iterable[str] | None, code_modules: Iterable[str] = ()
) -> list[str]:
    """Globals that cannot import on Lambda: ``__main__`` always; modules no layer provides.

    ``provided`` None means the layer's modules are unknown (no lock): only ``__main__`` is checked.
    """
    code = set(code_modules)
    known = None if provided is None else set(provided) | RUNTIME_MODULES | code
    problems = []
    for g in sorted(set(globals_)):
        top = g.split(".", 1)[0]
        if top == "__main__":
            problems.append(
                f"{g} was defined in a script or notebook (__main__), which does not exist on Lambda."
            )
        elif known is not None and top not in known:
            problems.append(
                f"{g} needs module {top!r}, which neither the dependencies layer nor --code provides."
            )
    return problems


def version_problems(manifest: Mapping[str, Any], lock: Mapping[str, Any]) -> list[str]:
    """scikit-learn minor (and numpy major) versions that differ between the pickles and the lock."""
    packages = {str(k).lower(): v for k, v in (lock.get("packages") or {}).items()}
    layer_sklearn = packages.get("scikit-learn")
    problems = []
    for art in manifest.get("artifacts", []):
        pickled = art.get("sklearn_version")
        if not pickled:
            continue
        if layer_sklearn is None:
            problems.append(
                f"{art['file']} was pickled with scikit-learn {pickled}, but the dependencies layer has no scikit-learn."
            )
        elif _minor(pickled) != _minor(layer_sklearn):
            problems.append(
                f"{art['file']} was pickled with scikit-learn {pickled}; the dependencies layer has {layer_sklearn}."
            )
    env_numpy = (manifest.get("versions") or {}).get("numpy")
    layer_numpy = packages.get("numpy")
    if env_numpy and layer_numpy and _major(env_numpy) != _major(layer_numpy):
        problems.append(
            f"The model was saved with numpy {env_numpy}; the dependencies layer has {layer_numpy}."
        )
    return problems


def code_modules(manifest: Mapping[str, Any]) -> list[str]:
    """Module names shipped under python/ with --code."""
    out = []
    for c in manifest.get("code", []):
        name = c["file"].rsplit("/", 1)[-1]
        if name.endswith(".py"):
            out.append(name[:-3])
    return out


def compatibility_problems(
    manifest: Mapping[str, Any], lock: Mapping[str, Any] | None
) -> tuple[list[str], list[str]]:
    """(hard, soft) problems of running this manifest on a layer with this lock.

    Hard ones can never work (a global that cannot be imported); soft ones are version
    mismatches that --allow-version-mismatch may override.
    """
    provided = None if lock is None else list(lock.get("modules") or [])
    hard = global_problems(manifest.get("globals", []), provided, code_modules(manifest))
    if manifest.get("input_kind") == "table" and provided is not None and "pandas" not in provided:
        hard.append(
            "A table model needs pandas (one DataFrame per batch), which the dependencies layer "
            "does not provide: build it from layers/sklearn-pandas/requirements.txt."
        )
    soft = [] if lock is None else version_problems(manifest, lock)
    return hard, soft
