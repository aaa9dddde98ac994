"""Lambda entry point ``mlayer_function.handler.handler``; the model loads at import, once per container.

Cold start reads the environment once, verifies and loads the model named by the manifest, and
builds the sinks; an integrity or configuration problem raises here, so Lambda reports an init
error instead of serving a model that is not the published one. Each invocation is then only
an adapter (Kinesis, SQS or a direct ``{"instances": [...]}`` call) around batch.py; an S3
ObjectCreated event (or a file's continuation) goes to files.py.

Environment:
  MLAYER_MODEL_DIR            folder of manifest.json (default /opt/mlayer)
  MLAYER_OUTPUT_SINK          dynamodb://T | s3://B/P | kinesis://S | sqs://Q | stdout:// (default)
  MLAYER_OUTPUT_DEAD_LETTER   sqs://Q | s3://B/P; unset: dead letters are logged to stdout
  MLAYER_DEAD_LETTER_OVERFLOW s3://B/P for the raw data of dead letters too big for their sink
                              (deploy-function sets the artifact bucket's dead-letters/)
  MLAYER_MAX_TEXT_CHARS       longest text accepted (default 10000)
  MLAYER_METRICS_NAMESPACE    CloudWatch namespace of the EMF lines (default mlayer)
  MLAYER_SHADOW_LAYER         s3://B/layers/<sha>.zip#<sha>: a candidate model beside the live one
  MLAYER_SHADOW_SAMPLE        the share of batches the candidate sees (default 1; shadow.py)
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple

from . import STARTED as PACKAGE_STARTED
from . import batch, sinks, snapstart, telemetry
from .decoding import RowRules
from .delivery import new_tuple
from .file_events import is_file_event
from .modelstore import DEFAULT_MODEL_DIR, load_model
from .prediction_counts import CountingOutput
from .serving import ServingModel

if TYPE_CHECKING:  # imported when needed: a shadow's threads and zips, files' readers and
    from . import files, shadow  # writers, cost a cold start that does not use them
    from .batch_ports import Clock, OutputSink  # protocols: for the annotations only

IMPORTED = time.perf_counter()  # the function's own modules are in: the "imports" phase


class Settings(NamedTuple):  # not a dataclass: dataclasses (and inspect) cost a cold start
    model_dir: str = DEFAULT_MODEL_DIR
    output: str = "stdout://"
    dead_letter: str = ""
    dead_letter_overflow: str = ""
    max_text_chars: int = 10_000
    namespace: str = "mlayer"
    function_name: str = ""
    function_version: str = ""  # a dimension of the EMF metrics: a rollout reads them per version


def read_settings(environ: Mapping[str, str]) -> Settings:
    raw_limit = environ.get("MLAYER_MAX_TEXT_CHARS", "") or "10000"
    try:
        limit = int(raw_limit)
    except ValueError:
        raise ValueError(f"MLAYER_MAX_TEXT_CHARS={raw_limit!r} is not an integer") from None
    if limit < 1:
        raise ValueError(f"MLAYER_MAX_TEXT_CHARS={limit} must be at least 1")
    return Settings(
        model_dir=environ.get("MLAYER_MODEL_DIR") or DEFAULT_MODEL_DIR,
        output=environ.get("MLAYER_OUTPUT_SINK") or "stdout://",
        dead_letter=environ.get("MLAYER_OUTPUT_DEAD_LETTER", ""),
        dead_letter_overflow=environ.get("MLAYER_DEAD_LETTER_OVERFLOW", ""),
        max_text_chars=limit,
        namespace=environ.get("MLAYER_METRICS_NAMESPACE") or "mlayer",
        function_name=environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
        function_version=environ.get("AWS_LAMBDA_FUNCTION_VERSION", ""),
    )


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.perf_counter()


def emit(line: str) -> None:
    """One line to stdout (CloudWatch Logs on Lambda); sys.stdout is looked up per call."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def warn(message: str) -> None:
    emit(telemetry.log_line("WARN", message))


class App:
    """What the cold start builds and every invocation reuses."""

    def __init__(
        self,
        settings: Settings,
        model: ServingModel,
        output: OutputSink,
        dead_letter: sinks.DeadLetters,
        clock: Clock,
        deadline: sinks.Deadline | None = None,
    ) -> None:
        self.settings, self.model, self.clock = settings, model, clock
        self.output, self.dead_letter = output, dead_letter
        # predictions per class (a classifier) or per value bin (a regressor): a rollout's PSI
        self.counting: CountingOutput | None = None
        if settings.function_name and settings.function_version:
            classes = bool(model.class_keys)
            self.output = self.counting = CountingOutput(output, classes=classes)
        self.deadline = deadline or sinks.Deadline()  # the sinks' retries stop before it
        self.rules = RowRules(
            model.input_kind, model.n_features, settings.max_text_chars, table=model.table
        )
        self.files: files.FileScorer | None = None  # built by the first S3 event (files.py)
        self.shadow: shadow.Shadow | None = None  # a candidate beside the model (shadow.py)

    def handle(self, event: object, context: object = None) -> dict[str, Any]:
        if isinstance(event, dict) and "instances" in event:
            return self._direct(event["instances"], context)
        if is_file_event(event):  # an S3 ObjectCreated event, or a file's continuation
            if self.files is None:
                from . import files

                self.files = files.FileScorer(self, sinks.make_client)
            # is_file_event: a dict
            return self.files.handle(event, context)  # type: ignore[arg-type]
        records = event.get("Records") if isinstance(event, dict) else None
        if not isinstance(records, list):
            raise ValueError(
                "unrecognized event: expected Kinesis or SQS 'Records', or {'instances': [...]}"
            )
        source = records[0].get("eventSource") if records else "aws:kinesis"
        if source == "aws:kinesis":
            return self._batch(kinesis_records(records), "kinesis", True, context, first_only=True)
        if source == "aws:sqs":
            fifo = str(records[0].get("eventSourceARN", "")).endswith(".fifo")
            return self._batch(sqs_records(records), "sqs", fifo, context, first_only=False)
        raise ValueError(f"unsupported event source {source!r}")

    def _batch(
        self,
        records: list[batch.InRecord],
        source: str,
        ordered: bool,
        context: object,
        *,
        first_only: bool,
    ) -> dict[str, Any]:
        self.deadline.arm(context)
        overflowed = self.dead_letter.overflowed
        outcome = batch.process_batch(
            records,
            model=self.model,
            rules=self.rules,
            output=self.output,
            dead_letter=self.dead_letter,
            clock=self.clock,
            ordered=ordered,
            observe=self._shadow_observer(context),
        )
        failed = outcome.failed[:1] if first_only else outcome.failed
        self._metrics(
            source,
            outcome.metrics._asdict(),
            context,
            checkpoint=outcome.checkpoint.item_id if outcome.checkpoint else None,
            accounting=outcome.accounting,
            dead_letters_in_s3=self.dead_letter.overflowed - overflowed,
        )
        if self.counting is not None:
            for line in self.counting.lines(
                namespace=self.settings.namespace,
                timestamp_ms=int(self.clock.now().timestamp() * 1000),
                dimensions=self._version_dimensions(),
            ):
                emit(line)
        for error in outcome.sink_errors:
            warn(error)
        return {"batchItemFailures": [{"itemIdentifier": r.item_id} for r in failed]}

    def _direct(self, instances: object, context: object) -> dict[str, Any]:
        if not isinstance(instances, list):
            raise ValueError("'instances' must be a list")
        from . import direct  # a direct invocation's own module: not a stream's cold start

        result = direct.predict_instances(
            instances, model=self.model, rules=self.rules, clock=self.clock
        )
        metrics = {
            "records": len(instances),
            "predicted": result.predicted,
            "dead_lettered": 0,
            "failed": result.errors,
            "decode_ms": result.decode_ms,
            "predict_ms": result.predict_ms,
            "deliver_ms": 0.0,
        }
        self._metrics("direct", metrics, context)
        return {"model_version": self.model.version, "predictions": result.predictions}

    def _shadow_observer(
        self, context: object
    ) -> Callable[[list[Any], dict[int, Any], float], object] | None:
        if self.shadow is None or not self.shadow.active:
            return None
        left = getattr(context, "get_remaining_time_in_millis", None)
        # self.shadow: checked above, and the observer is called within this batch
        return lambda good, predictions, live_ms: self.shadow.observe(  # type: ignore[union-attr]
            good, predictions, live_ms, left() if callable(left) else None
        )

    def _version_dimensions(self) -> dict[str, str]:
        return {
            "function": self.settings.function_name,
            "function_version": self.settings.function_version,
        }

    def _metrics(
        self, source: str, metrics: dict[str, Any], context: object, **properties: Any
    ) -> None:
        dimensions = {"model_version": self.model.version}
        sets = None
        if self.settings.function_name:
            dimensions["function"] = self.settings.function_name
        if self.settings.function_name and self.settings.function_version:
            # the metrics by model version as before, and by function version (a rollout)
            dimensions["function_version"] = self.settings.function_version
            sets = [["function", "model_version"], ["function", "function_version"]]
        request_id = getattr(context, "aws_request_id", None)
        emit(
            telemetry.emf_line(
                metrics,
                namespace=self.settings.namespace,
                timestamp_ms=int(self.clock.now().timestamp() * 1000),
                dimensions=dimensions,
                properties={"source": source, "request_id": request_id, **properties},
                dimension_sets=sets,
            )
        )


def kinesis_records(raw: list[dict[str, Any]]) -> list[batch.InRecord]:
    out: list[batch.InRecord] = []
    append, in_record = out.append, batch.InRecord
    for record in raw:
        kinesis = record["kinesis"]
        seq = str(kinesis["sequenceNumber"])
        if not seq.isdigit():
            raise ValueError(f"Kinesis sequence number {seq!r} is not a decimal number")
        event_id = record.get("eventID") or f"shardId-unknown:{seq}"
        append(new_tuple(in_record, (event_id, seq, kinesis.get("data"), "base64", int(seq))))
    return out


def sqs_records(raw: list[dict[str, Any]]) -> list[batch.InRecord]:
    return [
        batch.InRecord(r["messageId"], r["messageId"], r.get("body"), "text", i)
        for i, r in enumerate(raw)
    ]


def init(environ: Mapping[str, str] = os.environ) -> App:
    """The cold start: settings, verified model, sinks; one structured log line."""
    started = time.perf_counter()
    settings = read_settings(environ)
    model = load_model(settings.model_dir)
    retry = sinks.Retry(deadline=sinks.Deadline())  # armed per invocation by App._batch
    output = sinks.sink_from_url(settings.output, retry=retry, warn=warn)
    dead_letter = sinks.dead_letters_from_url(
        settings.dead_letter, settings.dead_letter_overflow, retry=retry, warn=warn
    )
    sklearn = sys.modules.get("sklearn")
    emit(
        telemetry.log_line(
            "INFO",
            "model loaded",
            model_version=model.version,
            content_sha256=model.manifest.get("content_sha256"),
            input_kind=model.input_kind,
            **telemetry.init_phases(PACKAGE_STARTED, IMPORTED, getattr(model, "phases", {})),
            init_ms=round((time.perf_counter() - started) * 1000, 3),
            artifacts=[
                {"file": a["file"], "size": a.get("size"), "role": a.get("role")}
                for a in model.manifest["artifacts"]
            ],
            output=settings.output,
            dead_letter=settings.dead_letter or "stdout:// (no MLAYER_OUTPUT_DEAD_LETTER)",
            dead_letter_overflow=settings.dead_letter_overflow or None,
            python=sys.version.split()[0],
            sklearn=getattr(sklearn, "__version__", None),
            built_with=model.manifest.get("versions"),
        )
    )
    app = App(settings, model, output, dead_letter, SystemClock(), retry.deadline)
    dims = {"function": settings.function_name} if settings.function_name else {}
    if environ.get("MLAYER_SHADOW_LAYER"):  # shadow.ENV_LAYER
        from . import shadow

        app.shadow = shadow.from_environ(environ, model, load_model, emit, dims, settings.namespace)
    return app


def cold_start() -> App:
    """init() with the cyclic GC paused, then all it built frozen (gc.freeze: never scanned
    again). Importing onnxruntime or scikit-learn and loading a model allocate ~10^5 objects
    that live as long as the container; a collection every 700 allocations traversed them
    again and again (~5% of an ONNX cold start's CPU time, benchmarks/bench_coldstart.py)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return init()
    finally:
        if paused:
            gc.freeze()
            gc.enable()


APP = cold_start()
snapstart.install(APP)  # SnapStart: warm up before the snapshot, renew after restore


def handler(event: object, context: object = None) -> dict[str, Any]:
    return APP.handle(event, context)
