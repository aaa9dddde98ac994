"""A pickle made only of allowlisted globals whose *state* runs code (issue 21's first file).

A real ``RandomizedSearchCV(LogisticRegression(), {"C": loguniform(...)})``, fitted, with one
line appended to its distribution's ``_parse_arg_template``: scipy's ``rv_generic.__setstate__``
execs that string when the file is loaded (checked here, in a subprocess). publish-model must
refuse it before loading, through the CLI, dry run or not: exit 1, the marker never appears,
nothing is published and the function is unchanged.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from scipy.stats import loguniform
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RandomizedSearchCV

from tests.publish_support import MODEL, create_function, publish_deps, run_cli, snapshot


def hostile_search(folder: Path) -> tuple[Path, Path]:
    """(the model file, the marker its state would write when loaded)."""
    marker = folder / "MARKER"
    rng = np.random.default_rng(0)
    x, y = rng.random((60, 3)), np.array([0, 1] * 30)
    search = RandomizedSearchCV(
        LogisticRegression(), {"C": loguniform(1e-2, 1e2)}, n_iter=2, cv=2, random_state=0
    ).fit(x, y)
    dist = search.param_distributions["C"].dist
    dist._parse_arg_template += f"\nopen({str(marker)!r}, 'w').close()\n"
    path = folder / "search.joblib"
    joblib.dump(search, path)
    return path, marker


@pytest.fixture
def hostile(tmp_path):
    path, marker = hostile_search(tmp_path)
    loads = f"import joblib; joblib.load({str(path)!r})"
    subprocess.run([sys.executable, "-c", loads], check=True, capture_output=True)
    assert marker.exists(), "the payload must really run when the file is loaded"
    marker.unlink()
    return path, marker


def test_dry_run_refuses_it_unexecuted(gw, hostile):
    path, marker = hostile
    result, doc = run_cli("publish-model", str(path), "--input", "features", "--dry-run")
    assert result.exit_code == 1, result.output
    assert doc["error"] == "UntrustedPickleError"
    assert "scipy.stats._distn_infrastructure.rv_continuous_frozen" in doc["message"]
    assert "execs code saved in the pickle" in doc["message"] and str(path) in doc["message"]
    assert "save the search's best_estimator_ alone" in doc["hint"]
    assert not marker.exists()


def test_a_real_publish_refuses_it_and_publishes_nothing(gw, hostile):
    path, marker = hostile
    create_function(gw, [publish_deps(gw)])
    before = snapshot(gw)
    result, doc = run_cli("publish-model", str(path), "--input", "features", "--yes")
    assert result.exit_code == 1, result.output
    assert doc["error"] == "UntrustedPickleError"
    assert not marker.exists()
    assert gw.list_layer_versions(MODEL) == []
    assert snapshot(gw) == before
