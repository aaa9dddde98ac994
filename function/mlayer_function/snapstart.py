"""SnapStart's runtime hooks: what goes into the snapshot, and what must differ after a restore.

With ``[function] snapstart = true`` Lambda runs the cold start once per published version,
snapshots the memory, and resumes every new environment from it. The model is already loaded
at import (handler.init); before the snapshot one warm-up predict runs, so the code paths a
first batch would pay for (scikit-learn's validation, numpy's kernels, lazy imports) are in the
snapshot. After a restore, what must not be shared by every environment resumed from one
snapshot is renewed: the random seeds, and the AWS clients of the sinks (they hold the
credentials and connections of the environment that took the snapshot).

``snapshot_restore_py`` is provided by Lambda's Python runtimes 3.12+; elsewhere (older
runtimes, the local emulation, tests) the import fails and ``install`` does nothing.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

from . import sinks, telemetry

try:
    from snapshot_restore_py import register_after_restore, register_before_snapshot
except ImportError:  # not a SnapStart runtime: the function runs as before
    register_before_snapshot = register_after_restore = None

WARM_UP_TEXT = "warm up"
# app: the handler's App (Any: handler imports this module, so it cannot be imported back)


def warm_up_instances(app: Any) -> list[Any]:
    """The manifest's sample records (published with the model), else one neutral record for
    the input kind; [] when none can be made (a table model published without samples)."""
    samples = [s.get("record") for s in app.model.manifest.get("samples") or [] if s]
    if samples:
        return samples[:1]
    if app.model.input_kind == "text":
        return [WARM_UP_TEXT]
    if app.model.input_kind == "features" and app.model.n_features:
        return [[0.0] * int(app.model.n_features)]
    return []


def before_snapshot(app: Any) -> None:
    """One warm-up predict; its failure is logged, never a failed snapshot (the model passed
    its self-check at load)."""
    from . import direct  # a SnapStart runtime only: not every cold start's

    instances = warm_up_instances(app)
    started = time.perf_counter()
    try:
        result = direct.predict_instances(
            instances, model=app.model, rules=app.rules, clock=app.clock
        )
        fields: dict[str, Any] = {"records": len(instances), "predicted": result.predicted}
    except Exception as exc:  # noqa: BLE001 - a warm-up only
        fields = {"records": len(instances), "error": f"{type(exc).__name__}: {exc}"[:300]}
    fields["warm_up_ms"] = round((time.perf_counter() - started) * 1000, 3)
    _log("before snapshot: warm-up predict", **fields)


def reseed() -> None:
    """New seeds from the OS: every restored environment would otherwise draw the same numbers.
    ``random`` is imported here, not at a cold start, which does not use it."""
    import random

    random.seed(os.urandom(32))
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(int.from_bytes(os.urandom(4), "little"))


def after_restore(app: Any) -> None:
    """Renew the seeds and the sinks' clients (credentials, connections) of this environment."""
    reseed()
    settings = app.settings
    app.output = sinks.sink_from_url(settings.output, warn=_warn)
    app.dead_letter = sinks.dead_letters_from_url(
        settings.dead_letter, settings.dead_letter_overflow, warn=_warn
    )
    _log("after restore: seeds and AWS clients renewed")


def install(app: Any) -> bool:
    """Register both hooks for ``app`` when the runtime offers them; True when registered."""
    if register_before_snapshot is None or register_after_restore is None:
        return False
    register_before_snapshot(before_snapshot, app)
    register_after_restore(after_restore, app)
    return True


def _log(message: str, **fields: Any) -> None:
    sys.stdout.write(telemetry.log_line("INFO", message, **fields) + "\n")
    sys.stdout.flush()


def _warn(message: str) -> None:
    sys.stdout.write(telemetry.log_line("WARN", message) + "\n")
    sys.stdout.flush()
