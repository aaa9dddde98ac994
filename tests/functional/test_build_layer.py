"""Real layers (issue 3's "Done when"): built by the pip builder, proven by a fresh interpreter
that has only the layer's python/ on its path, loads a joblib model and predicts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlayer.build import BuildRequest, build_layer
from mlayer.build.runner import probe_version, run_subprocess
from mlayer.interpreters import find_python
from mlayer.runtimes import MAX_UNZIPPED_BYTES

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "layers" / "sklearn" / "requirements.txt"
CACHE = REPO / ".cache" / "mlayer"

PREDICT = """
import sys
sys.path.insert(0, sys.argv[1])
import joblib, sklearn
assert sklearn.__file__.startswith(sys.argv[1]), sklearn.__file__
model = joblib.load(sys.argv[2])
print(sklearn.__version__, [int(p) for p in model.predict([[0.0, 0.0], [3.0, 3.0]])])
"""


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    import joblib
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression().fit([[0, 0], [0, 1], [3, 3], [3, 4]], [0, 0, 1, 1])
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    joblib.dump(model, path)
    return path


def _predict_with(python: str, tree: Path, model: Path) -> str:
    done = subprocess.run(
        [python, "-I", "-S", "-c", PREDICT, str(tree), str(model)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_local_runtime_layer_loads_a_model_and_predicts(deps_layer, deps_layer_build, model_file):
    assert _predict_with(sys.executable, deps_layer / "python", model_file) == "1.7.2 [0, 1]"
    build = deps_layer_build
    assert build.packages["scikit-learn"] == "1.7.2" and build.budget.fits
    assert build.bytecode.status == "compiled"
    assert any((deps_layer / "python" / "sklearn" / "__pycache__").glob("*.cpython-311.pyc"))
    assert not (deps_layer / "python" / "sklearn" / "linear_model" / "tests").exists()
    lock = build.lock()
    assert lock["zip_sha256"] == build.zip_sha256 and lock["modules"][-2:] == [
        "sklearn",
        "threadpoolctl",
    ]


def test_cached_rebuild_runs_nothing_and_is_identical(deps_layer_build, tmp_path):
    """A cache hit starts no subprocess at all (no pip, no compile, no import check).

    How fast that is belongs to bench_layer (``cached rebuild``), not to a timed test.
    """
    started: list[list[str]] = []

    def runner(argv, **kwargs):  # type: ignore[no-untyped-def]
        started.append(list(argv))
        return run_subprocess(argv, **kwargs)

    again = build_layer(
        BuildRequest(
            requirements=RECIPE,
            runtime=deps_layer_build.runtime,
            arch=deps_layer_build.arch,
            builder="pip",
            output=tmp_path,
            cache_dir=CACHE,
        ),
        runner=runner,
    )
    assert started == []
    assert again.cached and again.zip_sha256 == deps_layer_build.zip_sha256
    assert again.zip_path.read_bytes() == deps_layer_build.zip_path.read_bytes()


def test_python312_x86_64_layer_with_pyenvs_312(model_file, tmp_path):
    python, _tried = find_python("3.12", probe_version)
    if python is None:
        pytest.skip("no python3.12 on this machine")
    build = build_layer(
        BuildRequest(RECIPE, "python3.12", "x86_64", "pip", tmp_path, cache_dir=CACHE)
    )
    assert build.budget.room_left >= 60 * 1024 * 1024
    assert _predict_with(python, build.tree, model_file) == "1.7.2 [0, 1]"


def test_python312_arm64_layer_fits_and_is_statically_checked(tmp_path):
    build = build_layer(
        BuildRequest(RECIPE, "python3.12", "arm64", "pip", tmp_path, cache_dir=CACHE)
    )
    assert build.budget.unzipped < MAX_UNZIPPED_BYTES - 60 * 1024 * 1024
    assert "static checks" in build.check and "cannot import" in build.check
    so = next(build.tree.glob("numpy/_core/_multiarray_umath*.so"))
    assert so.name.endswith("aarch64-linux-gnu.so")
    assert so.read_bytes()[18] == 183  # ELF e_machine: AArch64
