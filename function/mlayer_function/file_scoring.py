"""One batch of a file's records -> its output lines and its dead letters (pure: no I/O).

The stream's path, reused: the same row checks (decoding.to_row, the table schema), one
vectorized predict per batch isolating a bad row by bisection (predict_isolation.py), the
same line encoder. Every record ends as exactly one output line or one dead letter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .batch_ports import Predictor
from .decoding import BadRecord, RowRules, to_row
from .delivery import SYSTEMIC_ERRORS, cut, describe, to_json_line
from .file_cells import CsvRows, json_objects
from .predict_isolation import predict_isolating

try:  # the deps layer ships orjson (delivery.py's encoder prefers it too)
    import orjson

    _dumps = orjson.dumps
    _OPTION = (
        orjson.OPT_PASSTHROUGH_SUBCLASS
        | orjson.OPT_PASSTHROUGH_DATACLASS
        | orjson.OPT_PASSTHROUGH_DATETIME
    )
except ImportError:  # pragma: no cover - a layer without orjson: one row at a time
    _dumps, _OPTION = None, 0


@dataclass(frozen=True)
class Scored:
    output: bytes  # JSON lines, one per predicted row, in line order
    predicted: int
    letters: list[tuple[int, bytes, str]]  # (line, raw record, reason), in line order


def objects_of(texts: list[str], csv_rows: CsvRows | None) -> list:
    return csv_rows.objects(texts) if csv_rows is not None else json_objects(texts)


def score_batch(
    records: Sequence[tuple[int, bytes]],
    *,
    model: Predictor,
    rules: RowRules,
    csv_rows: CsvRows | None,
) -> Scored:
    letters: list[tuple[int, bytes, str]] = []
    texts, kept = _decoded(records, letters)
    fast = csv_rows.feature_block(texts, rules.n_features) if csv_rows is not None else None
    if fast is not None:  # a features model's well-formed chunk: one array, no per-row checks
        block, ids = fast
        rows = block  # predicted as it is: LoadedModel takes the array unchanged
        has_id = ids is not None
        meta = [
            (line, raw, rid, has_id)
            for (line, raw), rid in zip(kept, ids if has_id else [None] * len(kept), strict=True)
        ]
    else:
        rows, meta = _rows(kept, objects_of(texts, csv_rows), rules, letters)
    return _results(rows, meta, letters, model)


def _decoded(records: Sequence[tuple[int, bytes]], letters: list) -> tuple[list[str], list]:
    """Each record's text, and the records that have one; the others' letters added. The whole
    chunk at once when it is UTF-8 and no record spans lines (the common case)."""
    try:
        texts = b"\n".join([raw for _, raw in records]).decode("utf-8").split("\n")
    except UnicodeDecodeError:
        texts = []
    if len(texts) == len(records):
        return texts, list(records)
    texts, kept = [], []
    for line, raw in records:
        try:
            texts.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            letters.append((line, raw, f"not UTF-8: byte {exc.start} ({exc.reason})"))
        else:
            kept.append((line, raw))
    return texts, kept


def _rows(kept, objects, rules: RowRules, letters: list) -> tuple[list, list]:
    """Each object checked as a stream's record is; the bad ones' letters added."""
    rows: list = []
    meta: list[tuple[int, bytes, object, bool]] = []  # (line, raw, id, has an id)
    for (line, raw), obj in zip(kept, objects, strict=True):
        try:
            if isinstance(obj, BadRecord):
                raise obj
            has_id = isinstance(obj, dict) and "id" in obj
            if isinstance(obj, dict) and not has_id:
                obj["id"] = line  # to_row wants one; the output line carries none
            rid, row = to_row(obj, rules)
        except BadRecord as exc:
            letters.append((line, raw, cut(exc.reason)))
        except SYSTEMIC_ERRORS:
            raise
        except Exception as exc:
            letters.append((line, raw, f"cannot decode: {describe(exc)}"))
        else:
            rows.append(row)
            meta.append((line, raw, rid, has_id))
    return rows, meta


def _predict(model: Predictor, rows) -> tuple[list, list | None, dict[int, str]]:
    """(labels, probabilities or None, {position: reason}): one call on the whole chunk (an
    array as it is); when it raises, the stream's bisection finds the rows that make it."""
    if len(rows):
        try:
            labels, probas = model.predict(rows)
            if len(labels) == len(rows) and (probas is None or len(probas) == len(labels)):
                return labels, probas, {}
        except SYSTEMIC_ERRORS:
            raise
        except Exception:  # noqa: S110 - bisected below, which names the rows and the reason
            pass
    predictions, errors = predict_isolating(model.predict, list(rows))
    labels = [predictions[p][0] if p in predictions else None for p in range(len(rows))]
    probas = [predictions[p][1] if p in predictions else None for p in range(len(rows))]
    return labels, (probas if any(x is not None for x in probas) else None), errors


def _fast_body(meta: list, labels: list, probas: list | None, version: str) -> bytes | None:
    """Every row's line in one pass through orjson, when each writes as the stdlib would (no
    row failed, every row alike, nothing orjson refuses, no ``null`` that may stand for a NaN);
    otherwise None, and the rows go one at a time."""
    if _dumps is None or not meta or len({m[3] for m in meta}) != 1:
        return None
    p = probas or [None] * len(meta)
    if meta[0][3]:  # an id first, as the stream's results have it
        docs = [
            {"id": m[2], "prediction": label, "probabilities": proba, "model_version": version,
             "line": m[0]}
            for m, label, proba in zip(meta, labels, p, strict=True)
        ]  # fmt: skip
    else:
        docs = [
            {"prediction": label, "probabilities": proba, "model_version": version, "line": m[0]}
            for m, label, proba in zip(meta, labels, p, strict=True)
        ]
    if probas is None:  # a model without predict_proba: no key
        for doc in docs:
            del doc["probabilities"]
    try:
        body = b"\n".join([_dumps(doc, option=_OPTION) for doc in docs]) + b"\n"
    except TypeError:
        return None
    return None if b"null" in body else body


def _results(rows, meta: list, letters: list, model: Predictor) -> Scored:
    """One vectorized predict; the output lines (one per predicted row) and the letters."""
    labels, probas, errors = _predict(model, rows)
    version = model.version
    if not errors and (probas is None or None not in probas):
        body = _fast_body(meta, labels, probas, version)
        if body is not None:
            letters.sort(key=lambda letter: letter[0])
            return Scored(body, len(meta), letters)
    out: list[str] = []
    kept: list[tuple[int, bytes]] = []
    encode = to_json_line
    for pos, (line, raw, rid, has_id) in enumerate(meta):
        if errors and pos in errors:
            letters.append((line, raw, errors[pos]))
            continue
        doc: dict = {"id": rid} if has_id else {}
        doc["prediction"] = labels[pos]
        if probas is not None and probas[pos] is not None:
            doc["probabilities"] = probas[pos]
        doc["model_version"] = version
        doc["line"] = line
        try:
            out.append(encode(doc))
        except SYSTEMIC_ERRORS:
            raise
        except Exception as exc:
            letters.append((line, raw, f"result cannot be written: {describe(exc)}"))
            continue
        kept.append((line, raw))
    try:
        body = ("\n".join(out) + "\n").encode("utf-8") if out else b""
    except UnicodeEncodeError:  # a lone surrogate (in an id): that row's letter, not the chunk's
        body, out = _encodable(out, kept, letters)
    letters.sort(key=lambda letter: letter[0])
    return Scored(body, len(out), letters)


def _encodable(out: list[str], kept: list, letters: list) -> tuple[bytes, list[str]]:
    good = []
    for text, (line, raw) in zip(out, kept, strict=True):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            letters.append((line, raw, f"result cannot be written: {describe(exc)}"))
        else:
            good.append(text)
    return ("\n".join(good) + "\n").encode("utf-8") if good else b"", good
