"""The pickle trust scan (mlayer.model.pickles.scan_file) against joblib.load of the same file.

publish-model scans every artifact before loading it, so the scan's cost is read next to the
load it guards, measured in the same run on the same files: a 300-tree random forest (many
small arrays and objects), a 50 MB LogisticRegression (one big array), a HistGradientBoosting
model (Cython losses, generators), plain and zlib-compressed. Target: scan <= 1.5 x load, as
the median of paired rounds (both decompress a compressed file: joblib.load's time includes
it, and so does the scan's).
"""

from __future__ import annotations

import statistics
import tempfile
import time
import warnings
from pathlib import Path

TARGET = 1.5
ROUNDS = 9


def _paired(load, scan, rounds: int = ROUNDS) -> tuple[float, float, float]:
    """Median load, median scan and median of each round's scan/load, the two measured side by
    side in every round: the shared machine's speed drifts by tens of percent within seconds,
    so a ratio of two medians taken minutes apart says more about the drift than the scan."""
    loads, scans, ratios = [], [], []
    for _ in range(rounds):
        start = time.perf_counter()
        load()
        loads.append(time.perf_counter() - start)
        start = time.perf_counter()
        scan()
        scans.append(time.perf_counter() - start)
        ratios.append(scans[-1] / loads[-1])
    return statistics.median(loads), statistics.median(scans), statistics.median(ratios)


def _models(folder: Path) -> dict[str, Path]:
    import joblib
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X, y = rng.random((2000, 20)), rng.integers(0, 3, 2000)
    big = LogisticRegression().fit(rng.random((4, 8)), [0, 1, 0, 1])
    big.coef_ = rng.random((2, 50_000_000 // 16))
    objs = {
        "forest-300": RandomForestClassifier(n_estimators=300, random_state=0).fit(X, y),
        "logistic-50MB": big,
        "hist-gb": HistGradientBoostingClassifier(max_iter=50).fit(X, y),
    }
    out = {}
    for name, obj in objs.items():
        for compress in (0, 3):
            path = folder / f"{name}{'-zlib' if compress else ''}.joblib"
            joblib.dump(obj, path, compress=compress)
            out[path.stem] = path
    return out


def main() -> int:
    import joblib

    from mlayer.model.pickles import scan_file

    warnings.simplefilter("ignore")
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        files = _models(Path(tmp))
        for path in files.values():  # warm imports so neither side pays them
            scan_file(path)
            joblib.load(path)
        print(f"{'file':<22} {'MB':>7} {'load s':>8} {'scan s':>8} {'scan/load':>10}")
        for name, path in files.items():
            load, scan, ratio = _paired(lambda p=path: joblib.load(p), lambda p=path: scan_file(p))
            failed += ratio > TARGET
            mb = path.stat().st_size / 1e6
            print(f"{name:<22} {mb:>7.1f} {load:>8.3f} {scan:>8.3f} {ratio:>9.2f}x")
    print(f"scan/load: median of {ROUNDS} paired rounds (load, then scan, in each)")
    print(f"target: scan <= {TARGET} x load ({'met' if not failed else f'{failed} missed'})")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
