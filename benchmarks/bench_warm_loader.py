"""publish's child load (load_in_child): a fork of the warm server against a one-shot child.

The text pipeline (CountVectorizer, TfidfTransformer, LogisticRegression) loaded 20 times each
way, in paired rounds (one of each per round, the order alternating), as publish-model loads it:
the scanned bytes, a --sample record. Baseline, measured in the same run: the one-shot child
(a fresh Python importing scikit-learn), what every load cost before the server and what every
load costs off Linux. Target: the median warm load at most a quarter of the one-shot's, and both
give the same answer. The server's own start (once per mlayer process) is printed apart.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 20
TARGET = 0.25  # warm load / one-shot load, median of the rounds
sys.path.insert(0, str(ROOT / "tests"))


@contextlib.contextmanager
def _one_shot() -> Iterator[None]:
    """Loads as off Linux: no server, a fresh child each."""
    from mlayer.model import load_server

    available = load_server.available
    load_server.available = lambda: False
    try:
        yield
    finally:
        load_server.available = available


def main() -> int:
    from publish_support import train_text_pipeline

    from mlayer.model import load_server
    from mlayer.model.load_child import load_in_child

    if not load_server.available():
        print("no fork server here (Linux only): nothing to compare")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        pipeline = train_text_pipeline(Path(tmp))
        paths = [pipeline["countvectorizer"], pipeline["tfidf"], pipeline["model"]]
        blobs = [p.read_bytes() for p in paths]
        record = [{"id": "r-1", "text": "claim your free prize"}]

        def load() -> object:
            return load_in_child(blobs, paths, [], [None] * 3, None, record)

        start = time.perf_counter()
        warm_answer = load()
        first = time.perf_counter() - start
        warm, cold, ratios = [], [], []
        for n in range(ROUNDS):
            for which in ("warm", "cold") if n % 2 == 0 else ("cold", "warm"):
                with _one_shot() if which == "cold" else contextlib.nullcontext():
                    start = time.perf_counter()
                    answer = load()
                    (warm if which == "warm" else cold).append(time.perf_counter() - start)
                if answer != warm_answer:
                    print(f"FAILED: the {which} load answered differently")
                    return 1
            ratios.append(warm[-1] / cold[-1])
    ratio = statistics.median(ratios)
    print(f"server start + first load: {first:.3f} s (once per mlayer process)")
    print(f"{'load':<22} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, times in (("warm (fork of server)", warm), ("one-shot child", cold)):
        print(f"{name:<22} {statistics.median(times):>9.3f} {min(times):>7.3f} {max(times):>7.3f}")
    print(f"{ROUNDS} paired rounds: warm/one-shot median {ratio:.3f} (target <= {TARGET})")
    print(f"{ROUNDS} loads: {sum(warm):.1f} s warm, {sum(cold):.1f} s one-shot")
    return 0 if ratio <= TARGET else 1
