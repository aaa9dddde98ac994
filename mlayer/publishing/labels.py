"""Default model labels (``v<N>``) that two concurrent publishes can never share.

The label is inside the model layer's zip (the function writes it in every result), so it is
chosen before Lambda numbers the version. Each default label is claimed in the artifact bucket
with a conditional write (S3 ``If-None-Match: *``) on ``labels/<layer>/<label>.json``: of two
publishes racing for ``v9`` exactly one gets it, the other takes ``v10``. A claim holds the
content it was made for, so an interrupted publish of the same files gets its label (and so its
zip, byte for byte) back; a claim whose publish never came is taken over after ``STALE``.

A publish that had to skip such a claim lands one version below its label (Lambda gives the
skipped number to it): it publishes its zip again up to its label's number and deletes its own
stray versions, so the label is the version and later labels are not shifted (``land_on_label``).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from mlayer.arns import LayerVersionArn
from mlayer.errors import ConflictError
from mlayer.model import manifest as mf

if TYPE_CHECKING:  # the gateway is passed in: importing it would load boto3 (the plan imports this)
    from mlayer.gateway import Gateway
    from mlayer.gateway.views import LayerVersion

STALE = _dt.timedelta(minutes=15)  # a claim this old whose version never appeared is free
ATTEMPTS = 50


def label_key(layer: str, label: str) -> str:
    return f"labels/{layer}/{label}.json"


def default_label(number: int) -> str:
    return f"v{number}"


def label_number(label: str) -> int | None:
    """N of a default label ``v<N>``; None for any other label."""
    found = re.fullmatch(r"v([1-9][0-9]*)", label)
    return int(found.group(1)) if found else None


def labels_in_use(descriptions: Iterable[str]) -> set[str]:
    """The labels the layer's versions carry (their descriptions: ``<label> sha:<12 hex>``)."""
    out = set()
    for description in descriptions:
        if mf.description_sha(description):
            out.add(description.rsplit(" sha:", 1)[0])
    return out


def _parse(when: object) -> _dt.datetime | None:
    try:
        return _dt.datetime.strptime(str(when), "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=_dt.timezone.utc
        )
    except ValueError:
        return None


def _stale(claim: dict[str, Any] | None, now: str) -> bool:
    made, current = _parse((claim or {}).get("claimed_at")), _parse(now)
    return claim is None or (made is not None and current is not None and current - made > STALE)


def claim_label(
    gw: Gateway,
    bucket: str,
    layer: str,
    first: int,
    content_sha256: str,
    now: str,
    taken: Iterable[str] = (),
) -> str:
    """``v<first>``, or the next free ``v<N>``: claimed for this content in the bucket."""
    used = set(taken)
    number = first
    for _ in range(ATTEMPTS):
        label = default_label(number)
        number += 1
        if label in used:
            continue
        key = label_key(layer, label)
        body = {"layer": layer, "label": label, "content_sha256": content_sha256}
        data = json.dumps({**body, "claimed_at": now}, sort_keys=True).encode()
        if gw.put_bytes_if_absent(bucket, key, data):
            return label
        claim = gw.get_json_if_exists(bucket, key)
        if claim is not None and claim.get("content_sha256") == content_sha256:
            return label  # ours: this content's interrupted publish
        if _stale(claim, now):
            gw.put_bytes(bucket, key, data, content_type="application/json")
            return label
    raise ConflictError(
        f"No free default label for {layer} among v{first}..v{number - 1}: other publishes "
        "claimed them all.",
        "Name the version with --label, or run the command again.",
        "LabelsTaken",
    )


def _number(made: LayerVersion) -> int:
    return LayerVersionArn.parse(made.arn).version


def land_on_label(
    gw: Gateway,
    layer: str,
    label: str,
    made: LayerVersion,
    publish_again: Callable[[], LayerVersion],
) -> tuple[LayerVersion, list[str]]:
    """The version ``made`` (just published with the default ``label``), moved to ``label``'s
    number when it landed below it, and the warnings to show.

    Landing below means the claims skipped for this label never got their versions (an
    interrupted publish leaves its claim): the same zip is published again until the number is
    reached, and this publish's own stray versions (never linked) are deleted. Landing above
    (another publish took the number) cannot be undone: it warns.
    """
    want = label_number(label)
    tries = [made]
    while want is not None and _number(tries[-1]) < want and len(tries) <= ATTEMPTS:
        tries.append(publish_again())
    kept = tries[-1] if want is not None and _number(tries[-1]) == want else tries[0]
    for stray in tries:
        if stray is not kept:
            gw.delete_layer_version(layer, _number(stray))
    number = _number(kept)
    notes = []
    if len(tries) > 1 and number == want:
        skipped = ", ".join(str(_number(t)) for t in tries[:-1])
        notes.append(
            f"Published as version {number}, not {skipped}: a publish that never came "
            f"(interrupted?) had claimed the label before {label}, so this publish published "
            f"again and deleted its own stray version {skipped}: the label is the version."
        )
    if want is not None and number != want:
        notes.append(
            f"Version {number} is labelled {label}: another publish claimed that label's number "
            "first (default labels stay unique)."
        )
    return kept, notes
