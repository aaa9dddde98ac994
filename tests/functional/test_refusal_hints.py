"""Refusal hints never hand over the keys, and every version says what it was trusted with."""

from __future__ import annotations

import importlib
import os
import sys
import textwrap

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression

from mlayer.errors import UntrustedPickleError
from mlayer.model.pickles import scan_file
from tests.publish_support import create_function, publish_deps, run_cli

FROZEN = "scipy.stats._distn_infrastructure.rv_continuous_frozen"
UNIFORM = "scipy.stats._continuous_distns.uniform_gen"


class Calls:
    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def fitted(**extra) -> LogisticRegression:
    rng = np.random.default_rng(0)
    model = LogisticRegression().fit(rng.random((40, 3)), np.array([0, 1] * 20))
    for key, value in extra.items():
        setattr(model, key, value)
    return model


def refusal(path) -> UntrustedPickleError:
    with pytest.raises(UntrustedPickleError) as caught:
        scan_file(path)
    return caught.value


def test_code_running_globals_get_no_trust_hint(gw, tmp_path):
    marker = tmp_path / "MARKER"
    path = tmp_path / "evil.joblib"
    joblib.dump(fitted(extra_=Calls(os.system, f"touch {marker}")), path)
    result, doc = run_cli("publish-model", str(path), "--input", "features", "--dry-run")
    assert result.exit_code == 1 and doc["error"] == "UntrustedPickleError"
    assert "posix.system" in doc["message"]
    assert "--trust" not in doc["hint"]
    assert "posix.system cannot be trusted: it runs commands" in doc["hint"]
    assert not marker.exists()


@pytest.mark.parametrize("func", [eval, exec, getattr, __import__])
def test_builtins_that_run_code_get_no_trust_hint(tmp_path, func):
    path = tmp_path / "evil.joblib"
    joblib.dump(fitted(extra_=Calls(func, "1")), path)
    error = refusal(path)
    assert "--trust" not in error.hint and "cannot be trusted" in error.hint


def test_a_class_beside_the_model_is_hinted_code(tmp_path, monkeypatch):
    (tmp_path / "my_steps.py").write_text(
        textwrap.dedent(
            """
            class Scaled:
                def __init__(self, factor):
                    self.factor = factor
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("my_steps")
    try:
        path = tmp_path / "model.joblib"
        joblib.dump(fitted(step_=module.Scaled(2.0)), path)
    finally:
        sys.modules.pop("my_steps", None)
    error = refusal(path)
    assert error.globals == ("my_steps.Scaled",)
    assert "publish with --code my_steps.py" in error.hint and "--trust" not in error.hint


def test_a_class_of_another_installed_package_is_hinted_trust_and_the_deps_layer(tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(fitted(frame_=pd.Index(["a", "b"])), path)
    error = refusal(path)
    named = [g for g in error.globals if g.startswith("pandas.")]
    assert named and f"--trust {named[0]}" in error.hint
    assert "The package (pandas) must be installed here and in the deps layer." in error.hint
    assert "--code pandas" not in error.hint


def test_history_and_status_show_trusted_globals(gw, tmp_path):
    create_function(gw, [publish_deps(gw)])
    path = tmp_path / "model.joblib"
    joblib.dump(fitted(prior_=stats.uniform(0, 1)), path)
    trust = ["--trust", FROZEN, "--trust", UNIFORM]
    result, doc = run_cli("publish-model", str(path), "--input", "features", "--yes", *trust)
    assert result.exit_code == 0, result.output
    assert sorted(doc["manifest"]["trusted_globals"]) == sorted([FROZEN, UNIFORM])
    result, history = run_cli("history")
    assert result.exit_code == 0, result.output
    assert sorted(history["versions"][0]["trusted_globals"]) == sorted([FROZEN, UNIFORM])
    result, status = run_cli("status")
    assert sorted(status["model_trusted_globals"]) == sorted([FROZEN, UNIFORM])
    from click.testing import CliRunner

    from mlayer.cli import cli

    text = CliRunner().invoke(cli, ["history"]).output
    assert f"loads with --trust {', '.join(sorted([FROZEN, UNIFORM]))}" in text
