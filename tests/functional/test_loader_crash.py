"""A model that crashes native code while loading is refused, and mlayer survives it.

publish-model loads the scanned pipeline in a child process (mlayer.model.load_child). Here the crash
comes from trusted user code (a --code module whose __setstate__ kills its own process, as a
segmentation fault in native code would), so the scan passes and only the loader can tell:
publish exits 1 with "the model crashed the loader: signal …" and nothing is published.
"""

from __future__ import annotations

import importlib
import sys
import textwrap

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from tests.publish_support import MODEL, create_function, publish_deps, run_cli, snapshot

CRASHES = {
    "segv": ("os.kill(os.getpid(), signal.SIGSEGV)", "signal 11 (SIGSEGV)"),
    "abort": ("os.abort()", "signal 6 (SIGABRT)"),
}


@pytest.fixture(params=sorted(CRASHES))
def crashing(request, tmp_path, monkeypatch):
    call, said = CRASHES[request.param]
    module = tmp_path / "my_crash.py"
    module.write_text(
        textwrap.dedent(
            f"""
            import os
            import signal


            class Boom:
                def __setstate__(self, state):
                    {call}
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_crash", None)
    boom = importlib.import_module("my_crash").Boom()
    boom.armed = True  # a state, so that loading calls __setstate__
    rng = np.random.default_rng(0)
    model = LogisticRegression().fit(rng.random((40, 3)), np.array([0, 1] * 20))
    model.boom_ = boom
    path = tmp_path / "model.joblib"
    joblib.dump(model, path)
    sys.modules.pop("my_crash", None)
    return path, module, said


def test_a_crash_while_loading_is_a_refusal(gw, crashing):
    path, module, said = crashing
    create_function(gw, [publish_deps(gw)])
    before = snapshot(gw)
    args = ["publish-model", str(path), "--code", str(module), "--input", "features"]
    result, doc = run_cli(*args, "--yes")
    assert result.exit_code == 1, result.output
    assert doc["error"] == "ModelError"
    assert f"the model crashed the loader: {said}" in doc["message"]
    assert str(path) in doc["message"] and "Nothing was published" in doc["message"]
    assert gw.list_layer_versions(MODEL) == []
    assert snapshot(gw) == before
    result, doc = run_cli(*args, "--dry-run")  # the same before any AWS call
    assert result.exit_code == 1 and "crashed the loader" in doc["message"]
