"""The parity gate: an ONNX graph is published only if it predicts what scikit-learn predicts.

Both sides predict the same batch (the user's samples plus generated ones, at least 100). The
ONNX side is the function's own predictor (both_sides.py runs the two), so the gate checks the
feeding and label mapping Lambda will run; this module judges and explains what they answer.

Tolerance (the contract; docs/FORMATS.md quotes it): every label identical; every probability within
1e-4 absolute; every regression value within 1e-4 + 1e-5 x |value|. onnxruntime computes in
float32 where scikit-learn uses float64: a correct conversion differs by ~1e-7, far inside
this, while a flipped split or a different token moves a value by far more.

A user may accept a measured disagreement explicitly (publish-model --parity-tolerance T): the
gate then passes when every probability / value lies within T of scikit-learn's, and the
manifest records T with the measured largest difference and the number of differing labels.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from mlayer.onnx.both_sides import best_ms, onnx_predict, sklearn_input, sklearn_predict
from mlayer.onnx.convert import ConvertedModel
from mlayer.onnx.errors import FALLBACK_HINT, OnnxParityError
from mlayer.onnx.estimators import as_pipeline, walk_estimators
from mlayer.onnx.samples import MIN_RECORDS, expand_rows, record_rows

PROBA_ABS_TOL = 1e-4
VALUE_ABS_TOL = 1e-4
VALUE_REL_TOL = 1e-5
LISTED = 5
CONVERTER_GAP = 1e-3  # a difference this big is not float32 rounding of a smooth model
TIE_GAP = 1e-5  # labels differ though probabilities agree this closely: a tie broken otherwise
_CONTAINERS = ("sklearn.pipeline.", "sklearn.compose.")


@dataclass(frozen=True)
class ParityReport:
    """What the gate saw: how many records, the largest differences, and both timings."""

    records: int
    generated: int
    sklearn_ms: float
    onnx_ms: float
    max_proba_diff: float | None
    max_value_diff: float | None
    samples: tuple[dict, ...] = ()  # the given records with what the ONNX graph serves for them
    differing: int = 0  # records outside the default tolerance (accepted: --parity-tolerance)
    label_disagreements: int = 0
    accepted_tolerance: float | None = None  # --parity-tolerance, when the user gave one

    @property
    def ratio(self) -> float:
        """onnxruntime's batch time as a fraction of scikit-learn's (0.07 = 14x faster)."""
        return self.onnx_ms / self.sklearn_ms if self.sklearn_ms > 0 else float("nan")

    def to_json(self) -> dict:
        out = asdict(self)
        out["samples"] = len(self.samples)
        out["parity_tolerance"] = out.pop("accepted_tolerance")
        out["ratio"] = round(self.ratio, 4)
        out["tolerance"] = {
            "proba_abs": PROBA_ABS_TOL,
            "value_abs": VALUE_ABS_TOL,
            "value_rel": VALUE_REL_TOL,
        }
        return out


def _value_pairs(a: Any, b: Any) -> list[tuple[Any, Any]] | None:
    """One record's (scikit-learn, onnxruntime) values, or None when their shapes differ."""
    if isinstance(a, list) != isinstance(b, list) or (isinstance(a, list) and len(a) != len(b)):
        return None
    return list(zip(a, b, strict=True)) if isinstance(a, list) else [(a, b)]


def _compare(converted, sk, ox, class_keys) -> tuple[list[int], float | None, float | None]:
    """Indexes of differing records, and the largest probability / value differences."""
    sk_labels, sk_proba = sk
    ox_labels, ox_proba = ox
    bad, max_p, max_v = [], None, None
    for i, (a, b) in enumerate(zip(sk_labels, ox_labels, strict=True)):
        if converted.is_classifier:
            ok = a == b and isinstance(a, str) == isinstance(b, str)
        else:  # one value per record, or a list of them (a multi-output regressor)
            pairs = _value_pairs(a, b)
            ok = pairs is not None
            for x, y in pairs or []:
                diff = abs(float(x) - float(y))
                max_v = diff if max_v is None else max(max_v, diff)
                ok = ok and diff <= VALUE_ABS_TOL + VALUE_REL_TOL * abs(float(x))
        if sk_proba is not None and ox_proba is not None:
            diff = max(
                abs(p - ox_proba[i][k]) for p, k in zip(sk_proba[i], class_keys, strict=True)
            )
            max_p = diff if max_p is None else max(max_p, diff)
            ok = ok and diff <= PROBA_ABS_TOL
        if not ok:
            bad.append(i)
    return bad, max_p, max_v


def likely_cause(
    converted: ConvertedModel, steps: Sequence[Any], inputs: list, largest: float | None = None
) -> str:
    """The usual reason onnxruntime and scikit-learn disagree, for the refusal's hint.

    ``largest``: the biggest probability / value difference seen; float32 rounding moves a
    smooth model's outputs by ~1e-7, so one far above that means the graph computes otherwise.
    """
    texts = [json.dumps(x, ensure_ascii=False) for x in inputs]
    tokenizes = converted.input_kind == "text" or any(
        hasattr(e, "vocabulary_") for s in steps for e in walk_estimators(s)
    )
    if tokenizes and any(not t.isascii() for t in texts):
        return (
            "tokenizer: skl2onnx replaces the default token pattern with an ASCII one "
            "([a-zA-Z0-9_]), so words with non-ASCII letters tokenize differently"
        )
    names = " ".join(converted.estimators)
    if converted.is_classifier and largest is not None and largest < TIE_GAP:
        return (
            f"a tie: probabilities agree within {largest:.2g}, but two classes are (nearly) "
            "equally likely for these records and onnxruntime's float32 sums break the tie the "
            "other way"
        )
    if any(word in names for word in ("Tree", "Forest", "Boosting", "Extra")):
        return (
            "float32 thresholds: onnxruntime compares float32 values against float32 split "
            "thresholds, so records close to a split can fall on the other side"
        )
    if largest is not None and largest > CONVERTER_GAP:
        steps_named = ", ".join(
            n.rsplit(".", 1)[-1] for n in converted.estimators if not n.startswith(_CONTAINERS)
        )
        return (
            f"conversion: outputs differ by up to {largest:.3g}, far beyond float32 rounding, so "
            f"the graph computes something else than scikit-learn for these records (a "
            f"skl2onnx converter limitation in one of: {steps_named})"
        )
    return "float32 arithmetic: onnxruntime computes in float32 where scikit-learn uses float64"


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def check_parity(
    steps: Sequence[Any],
    converted: ConvertedModel,
    records: Sequence[dict],
    *,
    columns: Sequence[Any] = (),
    minimum: int = MIN_RECORDS,
    tolerance: float | None = None,
) -> ParityReport:
    """Predict the records both ways; refuse (OnnxParityError) unless they agree, or differ by
    at most ``tolerance`` (--parity-tolerance) when the user accepted that."""
    rows = record_rows(records, converted.input_kind, columns)
    rows, generated = expand_rows(rows, converted.input_kind, steps, columns, minimum)
    ids = [str(r.get("id", f"sample-{i + 1}")) for i, r in enumerate(records)]
    ids += [f"generated-{i + 1}" for i in range(generated)]
    pipeline = as_pipeline(steps)
    with_proba = converted.proba_output is not None
    x = sklearn_input(rows, converted.input_kind, columns)
    sk, sk_ms = best_ms(lambda: sklearn_predict(pipeline, x, with_proba))
    ox, ox_ms, class_keys = onnx_predict(converted, rows)
    bad, max_p, max_v = _compare(converted, sk, ox, class_keys)
    largest = max((d for d in (max_p, max_v) if d is not None), default=None)
    if bad and not _accepted(tolerance, largest):
        raise _refusal(converted, steps, rows, ids, sk, ox, class_keys, bad, largest)
    return ParityReport(
        len(rows),
        generated,
        round(sk_ms, 3),
        round(ox_ms, 3),
        max_p,
        max_v,
        _served(records, ox),
        differing=len(bad),
        label_disagreements=_label_disagreements(converted, sk[0], ox[0]),
        accepted_tolerance=tolerance,
    )


def _served(records: Sequence[dict], ox: Any) -> tuple[dict, ...]:
    """The given records with what the ONNX graph serves for them (the manifest's samples)."""
    served = []
    for i, record in enumerate(records):
        sample = {"record": record, "prediction": ox[0][i]}
        if ox[1] is not None:
            sample["probabilities"] = ox[1][i]
        served.append(sample)
    return tuple(served)


def _label_disagreements(converted: ConvertedModel, sk_labels: list, ox_labels: list) -> int:
    if not converted.is_classifier:
        return 0
    return sum(a != b for a, b in zip(sk_labels, ox_labels, strict=True))


def _accepted(tolerance: float | None, largest: float | None) -> bool:
    """The user's --parity-tolerance covers the measured largest difference (labels alone,
    without probabilities, give nothing to measure: never accepted)."""
    return tolerance is not None and largest is not None and largest <= tolerance


def suggested_tolerance(largest: float) -> float:
    """The measured difference rounded up to two significant digits: what --parity-tolerance
    needs to accept it."""
    exponent = math.floor(math.log10(largest)) - 1 if largest > 0 else -7
    step = 10.0**exponent
    return round(math.ceil(largest / step - 1e-9) * step, max(0, -exponent))


def _refusal(converted, steps, rows, ids, sk, ox, class_keys, bad, largest) -> OnnxParityError:
    def outputs(side, i):
        labels, proba = side
        out = {"prediction": labels[i]}
        if proba is not None:
            row = proba[i]
            out["probabilities"] = (
                dict(zip(class_keys, row, strict=True)) if isinstance(row, list) else row
            )
        return out

    differences = [
        {"id": ids[i], "input": rows[i], "sklearn": outputs(sk, i), "onnx": outputs(ox, i)}
        for i in bad[:LISTED]
    ]
    cause = likely_cause(converted, steps, [rows[i] for i in bad], largest)
    lines = [
        f"  {d['id']}: input {_shown(d['input'])}; scikit-learn {_shown(d['sklearn'])}, "
        f"onnxruntime {_shown(d['onnx'])}"
        for d in differences
    ]
    labels_differ = _label_disagreements(converted, sk[0], ox[0])
    measured = f"{labels_differ} labels differ" if converted.is_classifier else "values differ"
    if largest is not None:
        kind = "probabilities" if converted.is_classifier else "values"
        measured += f", {kind} by up to {largest:.3g}"
    message = (
        f"the ONNX graph does not reproduce scikit-learn on {len(bad)} of {len(rows)} records "
        f"({measured}; labels must be identical, probabilities within {PROBA_ABS_TOL}); nothing "
        f"was published. Likely cause: {cause}. First differing records:\n" + "\n".join(lines)
    )
    hint = FALLBACK_HINT
    if largest is not None:
        hint += (
            f" Or accept this measured disagreement with --parity-tolerance "
            f"{suggested_tolerance(largest):g} (recorded in the manifest)."
        )
    return OnnxParityError(message, hint, differences, cause)
