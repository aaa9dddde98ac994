"""The function's SnapStart hooks (function/mlayer_function/snapstart.py) with a real model.

Lambda's ``snapshot_restore_py`` exists only inside its Python 3.12+ runtimes: here a small
stand-in module records what is registered (the runtime's own register functions take the
callable and its arguments), and the test runs the hooks as the runtime would.
"""

from __future__ import annotations

import importlib
import json
import random
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import numpy
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))

from mlayer_function import snapstart  # noqa: E402
from mlayer_function.decoding import RowRules  # noqa: E402
from mlayer_function.modelstore import load_model  # noqa: E402


class Clock:
    def now(self):
        from datetime import datetime, timezone

        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        import time

        return time.perf_counter()


def app_for(model_dir: Path) -> SimpleNamespace:
    """What handler.init builds, for the parts the hooks use (a real model, real rules)."""
    model = load_model(str(model_dir))
    return SimpleNamespace(
        model=model,
        rules=RowRules(model.input_kind, model.n_features, 10_000, table=model.table),
        clock=Clock(),
        settings=SimpleNamespace(output="stdout://", dead_letter="", dead_letter_overflow=""),
        output=None,
        dead_letter=None,
    )


@pytest.fixture
def runtime(monkeypatch):
    """A stand-in snapshot_restore_py; yields the reloaded snapstart module and the registry."""
    registry: dict[str, list] = {"before": [], "after": []}
    fake = types.ModuleType("snapshot_restore_py")
    fake.register_before_snapshot = lambda fn, *a, **k: registry["before"].append((fn, a, k))
    fake.register_after_restore = lambda fn, *a, **k: registry["after"].append((fn, a, k))
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", fake)
    module = importlib.reload(snapstart)
    yield module, registry
    monkeypatch.delitem(sys.modules, "snapshot_restore_py")
    importlib.reload(snapstart)


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_without_the_runtime_module_nothing_is_registered(model_layers):
    sys.modules.pop("snapshot_restore_py", None)
    module = importlib.reload(snapstart)
    assert module.install(app_for(model_layers["text"])) is False


@pytest.mark.parametrize("kind", ["text", "features"])
def test_before_the_snapshot_the_loaded_model_predicts_once(runtime, model_layers, capsys, kind):
    module, registry = runtime
    app = app_for(model_layers[kind])
    assert module.install(app) is True
    ((fn, args, _),) = registry["before"]
    fn(*args)
    (line,) = [entry for entry in lines(capsys.readouterr().out) if "warm-up" in entry["message"]]
    assert line["records"] == 1 and line["predicted"] == 1 and "error" not in line
    assert line["warm_up_ms"] >= 0


def test_a_warm_up_that_fails_is_logged_not_raised(runtime, model_layers, capsys):
    module, _ = runtime
    app = app_for(model_layers["features"])
    app.model.manifest = {**app.model.manifest, "samples": [{"record": {"id": "x"}}]}
    module.before_snapshot(app)  # a record without features: refused, logged
    (line,) = lines(capsys.readouterr().out)
    assert line["records"] == 1 and line["predicted"] == 0


def test_after_restore_the_seeds_and_the_sinks_are_new(runtime, model_layers, capsys):
    module, registry = runtime
    app = app_for(model_layers["text"])
    module.install(app)
    ((fn, args, _),) = registry["after"]
    random.seed(7)
    numpy.random.seed(7)
    snapshot_draws = (random.random(), numpy.random.random())
    random.seed(7)
    numpy.random.seed(7)
    fn(*args)
    assert (random.random(), numpy.random.random()) != snapshot_draws
    assert app.output is not None and app.dead_letter is not None
    assert "after restore" in lines(capsys.readouterr().out)[-1]["message"]


# -- the real handler, in a child Python whose path is Lambda's ------------------------------------
FAKE_RUNTIME = '''
"""Stand-in for Lambda's snapshot_restore_py: runs each hook as it is registered, as the
runtime would right after the cold start (before the snapshot) and on the first restore."""
def register_before_snapshot(fn, *args, **kwargs):
    fn(*args, **kwargs)
def register_after_restore(fn, *args, **kwargs):
    fn(*args, **kwargs)
'''


def test_the_handler_registers_the_hooks_and_serves_after_a_restore(
    model_layers, deps_layer, runtime_dir, tmp_path
):
    from function_support import HandlerProcess, kinesis_event

    runtime = tmp_path / "snapstart-runtime"
    runtime.mkdir()
    (runtime / "snapshot_restore_py.py").write_text(FAKE_RUNTIME)
    proc = HandlerProcess(
        model_dir=model_layers["text"],
        deps_layer=deps_layer,
        runtime_dir=runtime_dir,
        workdir=tmp_path / "run",
        env={"MLAYER_OUTPUT_SINK": "stdout://"},
        user_python=runtime,
    )
    try:
        messages = [line["message"] for line in proc.log_lines()]
        loaded = messages.index("model loaded")
        warm = messages.index("before snapshot: warm-up predict")
        restored = messages.index("after restore: seeds and AWS clients renewed")
        assert loaded < warm < restored
        payloads = [{"id": "a", "text": "win a free prize now"}, {"id": "b", "text": "lunch?"}]
        assert proc.invoke(kinesis_event(payloads)) == {"batchItemFailures": []}
    finally:
        proc.close()
