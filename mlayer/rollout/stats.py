"""The numbers behind the gates (pure): PSI, its sampling noise, proportion bounds, p99.

Every gate must let an identical model (A/A) through however the traffic falls, so each one
asks two things: is the difference past the user's threshold, and is it past what chance alone
would give for the records seen (bounds at EVIDENCE_Z standard errors, a false stop in about
one step in 30,000 per gate)?
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

EVIDENCE_Z = 4.0
PSI_FLOOR = 1e-4  # the share given to a class one side never predicted (keeps the log finite)


def shares(
    counts: Mapping[str, float], keys: Iterable[str], smoothing: float = 0.0
) -> dict[str, float]:
    """Each key's share of the total (``smoothing`` added to every count first), floored at
    PSI_FLOOR and renormalised."""
    keys = list(keys)
    smoothed = {k: max(0.0, counts.get(k, 0.0)) + smoothing for k in keys}
    total = sum(smoothed.values())
    if total <= 0:
        return {k: 1.0 / len(keys) for k in keys}
    raw = {k: max(PSI_FLOOR, v / total) for k, v in smoothed.items()}
    norm = sum(raw.values())
    return {k: v / norm for k, v in raw.items()}


def psi(old: Mapping[str, float], new: Mapping[str, float], smoothing: float = 0.0) -> float:
    """Population stability index of ``new`` against ``old`` over the union of their classes
    (or bins): sum of (new - old) * ln(new / old) over the shares. 0 for equal shares.
    The gate adds half a record to every class (``smoothing=0.5``), so a class a small
    sample happened to miss does not weigh as if it could never occur."""
    keys = sorted(set(old) | set(new))
    if len(keys) < 2:
        return 0.0
    p, q = shares(old, keys, smoothing), shares(new, keys, smoothing)
    return sum((q[k] - p[k]) * math.log(q[k] / p[k]) for k in keys)


def psi_noise_bound(classes: int, n_old: float, n_new: float, z: float = EVIDENCE_Z) -> float:
    """The PSI two samples of one distribution stay under (one-sided, z standard errors).

    PSI is Jeffreys' divergence; times n_old*n_new/(n_old+n_new) it is close to chi-square with
    classes-1 degrees of freedom, whose quantile is taken by Wilson-Hilferty.
    """
    if classes < 2 or n_old <= 0 or n_new <= 0:
        return math.inf
    df = classes - 1
    quantile = df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3
    return quantile * (n_old + n_new) / (n_old * n_new)


def excess_lower_bound(
    bad_new: float, n_new: float, bad_old: float, n_old: float, z: float = EVIDENCE_Z
) -> float:
    """A lower bound on (new rate - old rate), its spread taken from both sides pooled: what
    the difference would vary by if both versions shared one rate (the A/A case), so a side
    that happened to see no failure does not look certain; with a continuity correction for
    the few invocations a small step sees."""
    if n_new <= 0 or n_old <= 0:
        return -math.inf
    pooled = (bad_new + bad_old) / (n_new + n_old)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_new + 1 / n_old))
    continuity = 0.5 * (1 / n_new + 1 / n_old)  # Yates: counts are whole, the normal is not
    return bad_new / n_new - bad_old / n_old - continuity - z * se


def _bin_order(key: str) -> tuple[bool, float]:
    """A fine bin's place on the value axis (its name is its edge nearest zero; NaN last)."""
    value = float(key)
    return (math.isnan(value), 0.0 if math.isnan(value) else value)


def group_bins(
    old: Mapping[str, float], new: Mapping[str, float], groups: int = 10
) -> tuple[dict[str, float], dict[str, float]]:
    """A regressor's fine value bins (the function's, the same for both versions) merged into
    at most ``groups`` groups of about equal old-version mass, in value order. A bin the old
    version never predicted into joins its neighbour below (the first group when none is), so
    every group holds old records: PSI then stays close to its chi-square bound (a group only
    the new version filled would weigh a chance outlier as a shift), and a new version
    predicting outside the old one's range piles into an edge group."""
    keys = sorted(set(old) | set(new), key=_bin_order)
    total = sum(max(0.0, old.get(k, 0.0)) for k in keys)
    if total <= 0:
        return dict(old), dict(new)
    of_key: dict[str, str] = {}
    before = 0.0
    for key in keys:
        mass = max(0.0, old.get(key, 0.0))
        if mass > 0:
            of_key[key] = f"g{min(groups - 1, int(groups * (before + mass / 2) / total))}"
            before += mass
    group = next(iter(of_key.values()))
    out_old: dict[str, float] = {}
    out_new: dict[str, float] = {}
    for key in keys:
        group = of_key.get(key, group)
        out_old[group] = out_old.get(group, 0.0) + max(0.0, old.get(key, 0.0))
        out_new[group] = out_new.get(group, 0.0) + max(0.0, new.get(key, 0.0))
    return out_old, out_new


def percentile(values: Mapping[float, float], q: float) -> float:
    """The q-th percentile (nearest rank) of values given as value -> count."""
    items = sorted((v, c) for v, c in values.items() if c > 0)
    total = sum(c for _, c in items)
    if total <= 0:
        return 0.0
    rank = max(1.0, math.ceil(q / 100 * total))
    seen = 0.0
    for value, count in items:
        seen += count
        if seen >= rank:
            return value
    return items[-1][0]
