"""A model too big for its layer: a 120 MB random forest, built once and cached on disk.

120 fully grown trees on 42,000 noisy rows of 8 features pickle to ~120 MB, which does not fit
in the ~62 MB the real dependencies layer leaves of Lambda's 250 MB. Fitting takes a while, so
the joblib file is kept under <repo>/.cache/test-models/, keyed by what shapes its bytes
(scikit-learn, numpy, Python); an fcntl lock lets xdist workers and the benchmark share it.
"""

from __future__ import annotations

import fcntl
import hashlib
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / ".cache" / "test-models"
N_FEATURES = 8
TREES = 120
ROWS = 42_000


def forest_rows(n: int = 6, seed: int = 7) -> list[list[float]]:
    """Input rows (the ``features`` a record carries) to compare predictions on."""
    import numpy as np

    return np.random.default_rng(seed).normal(size=(n, N_FEATURES)).round(6).tolist()


def _train(path: Path, trees: int, rows: int) -> None:
    import joblib
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, N_FEATURES))
    y = (x[:, 0] + rng.normal(size=rows) > 0).astype(int)  # noisy: trees grow to every row
    forest = RandomForestClassifier(n_estimators=trees, random_state=0, n_jobs=2).fit(x, y)
    forest.n_jobs = None  # serve single-threaded, as on Lambda
    joblib.dump(forest, path)


def big_forest(trees: int = TREES, rows: int = ROWS) -> Path:
    """The cached forest's joblib file (built on first use)."""
    import numpy
    import sklearn

    identity = f"{trees} {rows} {sklearn.__version__} {numpy.__version__} {sys.version_info[:2]}"
    key = hashlib.sha256(f"{identity} {platform.machine()}".encode()).hexdigest()[:16]
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"forest-{trees}x{rows}-{key}.joblib"
    with open(CACHE / f"forest-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.exists():
            staging = path.with_suffix(".tmp")
            _train(staging, trees, rows)
            staging.rename(path)
    return path


def unpack_live(gw, root: Path) -> Path:
    """The live model-layer version's zip, from the bucket, unpacked as Lambda's /opt."""
    import io
    import zipfile

    from publish_support import BUCKET, live_model

    from mlayer.gateway import code_sha256_to_hex

    arn = live_model(gw)
    name, version = arn.split(":")[-2:]
    sha = code_sha256_to_hex(gw.get_layer_version(name, int(version))["Content"]["CodeSha256"])
    opt = root / f"opt-{version}"
    zipfile.ZipFile(io.BytesIO(gw.get_bytes(BUCKET, f"layers/{sha}.zip"))).extractall(opt)
    return opt / "mlayer"


def serve(gw, tmp_path: Path, deps_layer, runtime_dir, lambda_tmp: Path, name: str, **env: str):
    """The real handler in a child Python on the live model layer, /tmp at ``lambda_tmp``."""
    from function_support import HandlerProcess

    lambda_tmp.mkdir(exist_ok=True)
    return HandlerProcess(
        model_dir=unpack_live(gw, tmp_path),
        deps_layer=deps_layer,
        runtime_dir=runtime_dir,
        workdir=tmp_path / name,
        env={"TMPDIR": str(lambda_tmp), **env},
    )
