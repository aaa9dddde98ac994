"""A shadow model: a candidate predicts the records the live model just answered, and only the
live model's results ever leave the function.

``MLAYER_SHADOW_LAYER`` (``s3://B/layers/<sha256>.zip#<sha256>``) names the candidate's model
layer zip, as publish-model left it in the artifact bucket: it is downloaded once per container
into /tmp, verified against the sha256, unpacked and loaded like the live model (manifest,
artifacts' sha256, samples' self-check). ``MLAYER_SHADOW_SAMPLE`` (0 < share <= 1, default 1) is
the share of batches the candidate sees.

The candidate runs after the batch's live results are delivered, in a worker thread whose
result is waited for at most ``SLOW_FACTOR`` times the live predict plus ``SLOW_FLOOR_MS``: a
batch past that bound is not compared (its records are the candidate's ``slow`` dead letters),
nor is the next while that predict still runs, and ``SLOW_STRIKES`` such batches in a row
disable it (one stall of a shared CPU does not). Whatever else it does (raise, return the wrong
number of rows, fail to load), it is disabled for the container at once with a logged reason,
counted; a NaN output is that record's dead letter. No exception leaves this module, so no live result can change or fail.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from . import shadow_metrics
from .modelstore import plain

ENV_LAYER = "MLAYER_SHADOW_LAYER"
ENV_SAMPLE = "MLAYER_SHADOW_SAMPLE"
SLOW_FACTOR = 3.0  # a batch's candidate predict is waited for 3x the live one, plus the floor
SLOW_FLOOR_MS = 50.0
SLOW_STRIKES = 3  # slow batches in a row that disable the candidate
DEADLINE_MARGIN_MS = 1000.0  # never wait into the invocation's last second
DISAGREEMENTS_PER_BATCH = 5  # ids and both outputs, never payloads
DISAGREEMENTS_PER_CONTAINER = 100
SHADOW_DIRNAME = "mlayer-shadow"


class ShadowUnusable(Exception):
    """The candidate cannot be used in this container (the reason is logged and counted)."""


def parse_uri(uri: str) -> tuple[str, str, str]:
    """(bucket, key, sha256) of ``s3://bucket/key#sha256``."""
    rest, _, sha = uri.partition("#")
    if not rest.startswith("s3://") or "/" not in rest[5:] or len(sha) != 64:
        raise ShadowUnusable(f"{ENV_LAYER}={uri!r}: expected s3://BUCKET/KEY#SHA256")
    bucket, _, key = rest[5:].partition("/")
    return bucket, key, sha.lower()


def parse_sample(raw: str) -> float:
    try:
        share = float(raw) if raw else 1.0
    except ValueError:
        raise ShadowUnusable(f"{ENV_SAMPLE}={raw!r} is not a number") from None
    if not 0.0 < share <= 1.0 or math.isnan(share):
        raise ShadowUnusable(f"{ENV_SAMPLE}={raw!r} must be in (0, 1]")
    return share


def fetch_layer(bucket: str, key: str, sha: str, client: object = None) -> Path:
    """The candidate's layer unpacked under /tmp/mlayer-shadow/<sha>/ (its ``mlayer`` folder)."""
    root = Path(tempfile.gettempdir()) / SHADOW_DIRNAME
    target = root / sha
    if (target / "mlayer" / "manifest.json").is_file():
        return target / "mlayer"  # a warm re-init: already verified and unpacked
    root.mkdir(parents=True, exist_ok=True)
    zip_path = root / f"{sha}.{os.getpid()}.zip"
    if client is None:
        from .fetch import make_client

        client = make_client(1)
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    digest = hashlib.sha256()
    with zip_path.open("wb") as out:
        while chunk := body.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != sha:
        zip_path.unlink(missing_ok=True)
        raise ShadowUnusable(f"s3://{bucket}/{key}: sha256 differs from {sha[:12]}…")
    partial = root / f"{sha}.{os.getpid()}.partial"
    with zipfile.ZipFile(zip_path) as zf:
        for name in zf.namelist():
            if name.startswith("/") or ".." in Path(name).parts:
                raise ShadowUnusable(f"the candidate's zip holds an unsafe path {name!r}")
        zf.extractall(partial)
    zip_path.unlink(missing_ok=True)
    try:
        partial.rename(target)
    except OSError:  # another container process unpacked it first
        shutil.rmtree(partial, ignore_errors=True)
    return target / "mlayer"


def load_candidate(environ: Mapping[str, str], live: object, load_model: Callable) -> object:
    """The candidate model, checked to read the live model's rows; raises ShadowUnusable."""
    bucket, key, sha = parse_uri(environ[ENV_LAYER])
    try:
        model_dir = fetch_layer(bucket, key, sha)
        candidate = load_model(model_dir)
    except ShadowUnusable:
        raise
    except Exception as exc:  # missing object, denied, /tmp full, integrity, self-check
        raise ShadowUnusable(f"cannot load: {type(exc).__name__}: {exc}") from exc
    if candidate.manifest.get("code"):
        raise ShadowUnusable("it ships --code modules, which a shadow cannot import")
    same = (candidate.input_kind, candidate.n_features) == (live.input_kind, live.n_features)
    if not same or candidate.manifest.get("input_schema") != live.manifest.get("input_schema"):
        raise ShadowUnusable("it reads other records than the live model (input kind or schema)")
    return candidate


class Shadow:
    """The candidate beside the live model, for one container."""

    def __init__(
        self,
        live: object,
        candidate: object | None,
        sample: float,
        emit: Callable[[str], None],
        dimensions: dict[str, str],
        namespace: str,
        reason: str = "",
    ) -> None:
        self.live, self.candidate, self.sample = live, candidate, sample
        self.emit, self.namespace = emit, namespace
        self.version = str(getattr(candidate, "version", "") or "unknown")
        self.dimensions = {**dimensions, "model_version": live.version}
        self.dimensions["shadow_version"] = self.version
        self.classifier = live.class_keys is not None
        self.reason = reason  # why it is disabled ("" while active)
        self._credit = 1.0 - sample  # the first batch is seen, then one in 1/sample
        self._logged = 0
        self._pool: ThreadPoolExecutor | None = None
        self._running: Future | None = None  # a slow predict still running in the worker
        self._strikes = 0

    @property
    def active(self) -> bool:
        return self.candidate is not None and not self.reason

    def observe(self, good: list, predictions: dict, live_ms: float, left_ms: float | None):
        """Compare one batch (``good``: (index, id, row); ``predictions``: position ->
        (label, probabilities)). Never raises; returns what it emitted, for tests."""
        if not self.active:
            return None
        self._credit += self.sample
        if self._credit < 1.0 - 1e-9:
            return None
        self._credit -= 1.0
        positions = sorted(predictions)
        if not positions:
            return None
        try:
            return self._compare(good, predictions, positions, live_ms, left_ms)
        except Exception as exc:  # a bug of the comparison itself: still never the live result's
            return self._disable(f"comparison failed: {type(exc).__name__}: {exc}", len(positions))

    def _compare(self, good, predictions, positions, live_ms, left_ms):
        bound_ms = SLOW_FACTOR * live_ms + SLOW_FLOOR_MS
        if left_ms is not None and left_ms - DEADLINE_MARGIN_MS < bound_ms:
            return None  # too close to the deadline: this batch is not compared
        rows = [good[p][2] for p in positions]
        if self._running is not None and not self._running.done():
            return self._slow(len(rows), "its previous predict is still running")
        self._pool = self._pool or ThreadPoolExecutor(1, thread_name_prefix="mlayer-shadow")
        future = self._pool.submit(_timed_predict, self.candidate, rows)
        try:
            labels, shadow_ms = future.result(timeout=bound_ms / 1000)
        except FutureTimeout:
            self._running = future
            return self._slow(len(rows), f"its predict ran past {bound_ms:.0f} ms")
        except Exception as exc:
            return self._disable(f"raised {type(exc).__name__}: {exc}", len(rows), "raised")
        if len(labels) != len(rows):
            why = f"wrong shape: {len(labels)} predictions for {len(rows)} rows"
            return self._disable(why, len(rows), "wrong_shape")
        self._strikes = 0
        live = [predictions[p][0] for p in positions]
        ids = [good[p][1] for p in positions]
        result = shadow_metrics.compare(live, labels, ids, self.classifier)
        self._log_disagreements(result.disagreements)
        lines = shadow_metrics.batch_lines(
            result, live_ms, shadow_ms, self.dimensions, self.namespace, _now_ms()
        )
        for line in lines:
            self.emit(line)
        return result

    def _slow(self, records: int, why: str):
        """A batch not compared; SLOW_STRIKES in a row disable the candidate."""
        self._strikes += 1
        if self._strikes >= SLOW_STRIKES:
            return self._disable(f"slow: {why} ({self._strikes} batches in a row)", records, "slow")
        self.emit(shadow_metrics.slow_line(records, self.dimensions, self.namespace, _now_ms()))
        return None

    def _disable(self, reason: str, records: int = 0, kind: str = "error"):
        self.reason = reason
        self.emit(
            json.dumps(
                {
                    "level": "WARN",
                    "message": "shadow disabled for this container",
                    "shadow_version": self.version,
                    "reason": reason,
                }
            )
        )
        for line in shadow_metrics.disabled_lines(
            kind, records, self.dimensions, self.namespace, _now_ms()
        ):
            self.emit(line)
        return None

    def _log_disagreements(self, found: list[dict]) -> None:
        room = min(DISAGREEMENTS_PER_BATCH, DISAGREEMENTS_PER_CONTAINER - self._logged)
        if room <= 0 or not found:
            return
        self._logged += min(room, len(found))
        self.emit(
            json.dumps(
                {
                    "level": "INFO",
                    "message": "shadow disagreements",
                    "model_version": self.live.version,
                    "shadow_version": self.version,
                    "records": found[:room],
                },
                default=str,
            )
        )


def _timed_predict(candidate: object, rows: list) -> tuple[list, float]:
    started = time.perf_counter()
    labels = _labels(candidate, rows)
    return labels, (time.perf_counter() - started) * 1000


def _labels(candidate: object, rows: list) -> list:
    """The candidate's labels alone: the comparison needs no probabilities, so a scikit-learn
    pipeline skips predict_proba (an ONNX graph gives both in one run)."""
    estimator = getattr(candidate, "estimator", None)
    if estimator is None:
        return candidate.predict(rows)[0]
    table = getattr(candidate, "table", None)
    if table is not None:
        table.take_extra_fields()  # the live model already said which fields it ignored
    raw = estimator.predict(candidate.transform(rows))
    labels = raw.tolist() if hasattr(raw, "tolist") else list(raw)
    if getattr(raw, "dtype", None) is None or raw.dtype.kind == "O":
        labels = [plain(v) for v in labels]
    if len(labels) != len(rows):
        raise ValueError(f"the model returned {len(labels)} predictions for {len(rows)} rows")
    return labels


def _now_ms() -> int:
    return int(time.time() * 1000)


def from_environ(
    environ: Mapping[str, str],
    live: object,
    load_model: Callable,
    emit: Callable[[str], None],
    dimensions: dict[str, str],
    namespace: str,
) -> Shadow | None:
    """The container's shadow, or None without MLAYER_SHADOW_LAYER. A candidate that cannot be
    loaded gives a disabled Shadow (logged, counted): the live model serves regardless."""
    if not environ.get(ENV_LAYER):
        return None
    started = time.perf_counter()
    try:
        sample = parse_sample(environ.get(ENV_SAMPLE, ""))
        candidate = load_candidate(environ, live, load_model)
    except ShadowUnusable as exc:
        shadow = Shadow(live, None, 1.0, emit, dimensions, namespace)
        shadow._disable(str(exc), 0, "not_loaded")
        return shadow
    emit(
        json.dumps(
            {
                "level": "INFO",
                "message": "shadow loaded",
                "model_version": live.version,
                "shadow_version": candidate.version,
                "sample": sample,
                "load_ms": round((time.perf_counter() - started) * 1000, 3),
            }
        )
    )
    return Shadow(live, candidate, sample, emit, dimensions, namespace)
