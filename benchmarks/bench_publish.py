"""publish-model + relink, repeat publish and rollback against the embedded AWS.

Small model: the text pipeline (CountVectorizer, TfidfTransformer, LogisticRegression).
Large model: a LogisticRegression whose coefficients weigh 50 MB (random, so incompressible).
Baselines, measured in the same run: a bare update_function_configuration call (what a relink
costs at least) and, for the repeat publish, the first publish of the same model.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPEAT_TARGET = 0.5  # a repeat publish (version reused) against its first publish
ROLLBACK_TARGET_S = 2.0  # "a rollback takes seconds" (README)
sys.path.insert(0, str(ROOT / "tests"))


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _big_model(path: Path, seed: int, megabytes: int = 50) -> None:
    import joblib
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    n_features = megabytes * 1_000_000 // 8 // 2
    model = LogisticRegression().fit(rng.random((4, 8)), [0, 1, 0, 1])
    model.coef_ = rng.random((2, n_features))
    model.intercept_ = rng.random(2)
    model.n_features_in_ = n_features
    joblib.dump(model, path)


def main() -> int:
    from publish_support import BUCKET, FUNCTION, create_function, publish_deps, train_text_pipeline

    from mlayer.config import Settings, with_overrides
    from mlayer.gateway import Gateway
    from mlayer.local.aws import embedded_aws
    from mlayer.publishing import publish as publishing
    from mlayer.publishing import rollback as rolling_back
    from mlayer.request_types import PublishRequest, RollbackRequest

    with embedded_aws(set_env=True) as local, tempfile.TemporaryDirectory() as tmp:
        gw = Gateway(endpoint_url=local.endpoint_url, region="us-east-1")
        deps = publish_deps(gw)
        create_function(gw, [deps])
        settings = with_overrides(
            Settings(),
            function={"name": FUNCTION},
            artifacts={"bucket": BUCKET},  # where publish_deps put the lock
            model={"layer": "mlayer-predict-model"},
            deps={"layer": "mlayer-predict-deps"},
        )

        def publish(model, pre=()):
            return publishing.publish_model(
                Gateway(endpoint_url=local.endpoint_url, region="us-east-1"),
                settings,
                PublishRequest(model=model, preprocessors=tuple(pre)),
            )

        def rollback(version):
            return rolling_back.rollback(
                Gateway(endpoint_url=local.endpoint_url, region="us-east-1"),
                settings,
                RollbackRequest(version=version),
            )

        def linked() -> int:
            """The model layer version the function carries now: each timed step must move it."""
            arns = [ly["Arn"] for ly in gw.get_function_configuration(FUNCTION)["Layers"]]
            return next(int(a.rsplit(":", 1)[1]) for a in arns if ":mlayer-predict-model:" in a)

        def bare_update():
            layers = [ly["Arn"] for ly in gw.get_function_configuration(FUNCTION)["Layers"]]
            gw.update_function_configuration(FUNCTION, Layers=layers)

        bare = statistics.median(_timed(bare_update) for _ in range(5))
        rows = []
        for kind in ("small", "50 MB"):
            firsts, repeats, rollbacks = [], [], []
            for i in range(3 if kind == "small" else 2):
                folder = Path(tmp) / f"{kind}-{i}".replace(" ", "")
                if kind == "small":
                    p = train_text_pipeline(folder, variant=i)
                    model, pre = p["model"], [p["countvectorizer"], p["tfidf"]]
                else:
                    folder.mkdir(parents=True)
                    model, pre = folder / "model.joblib", []
                    _big_model(model, seed=i)
                firsts.append(_timed(lambda m=model, q=pre: publish(m, q)))
                newest = gw.list_layer_versions("mlayer-predict-model")[0]["Version"]
                assert linked() == newest, f"{kind}: publish did not relink"
                repeats.append(_timed(lambda m=model, q=pre: publish(m, q)))
                again = gw.list_layer_versions("mlayer-predict-model")[0]["Version"]
                assert (again, linked()) == (newest, newest), f"{kind}: repeat was not reused"
            live = gw.list_layer_versions("mlayer-predict-model")[0]["Version"]
            for _ in range(2):
                rollbacks.append(_timed(lambda v=live - 1: rollback(v)))
                assert linked() == live - 1, f"{kind}: rollback did not relink"
                rollbacks.append(_timed(lambda v=live: rollback(v)))
                assert linked() == live, f"{kind}: rollback did not relink"
            size = model.stat().st_size + sum(q.stat().st_size for q in pre)
            rows.append(
                (
                    kind,
                    size,
                    statistics.median(firsts),
                    statistics.median(repeats),
                    statistics.median(rollbacks),
                )
            )

    from mlayer.results.report import human_bytes

    print(f"baseline: bare update_function_configuration = {bare * 1000:.1f} ms (median of 5)")
    ok = True
    for kind, size, first, repeat, back in rows:
        print(f"{kind} model ({human_bytes(size)} of artifacts):")
        print(
            f"  publish-model + relink : {first:7.3f} s   vs bare update {bare:.3f} s  (x{first / bare:.0f})"
        )
        print(
            f"  repeat publish (reuse) : {repeat:7.3f} s   vs first publish {first:.3f} s  "
            f"({repeat / first:.0%} of it)"
        )
        print(
            f"  rollback               : {back:7.3f} s   vs bare update {bare:.3f} s  (x{back / bare:.0f})"
        )
        # a reused version skips the zip and the upload: it must cost well under a first publish
        ok &= repeat <= REPEAT_TARGET * first and back <= ROLLBACK_TARGET_S
    print(
        f"targets: repeat <= {REPEAT_TARGET:.0%} of first publish, rollback <= {ROLLBACK_TARGET_S} s"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
