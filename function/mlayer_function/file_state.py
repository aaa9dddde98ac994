"""Where a scored file's output goes, and how far its scoring got (the continuation state).

Output: ``<sink prefix><input key>.<etag>.<model version>.jsonl`` in the sink's bucket: one
object per input object, ETag and model, so a re-delivered event finds its output (and does
nothing) and a newer ETag or another model gets its own. Characters of the version other than
``A-Za-z0-9._-`` become ``_``; a key over S3's 1,024 bytes keeps its last 200 characters
after a digest of the whole.

State: ``<sink prefix>.mlayer-continuations/<sha256 of the output key, 32 hex>.json``, written
only when an invocation hands the rest of a file to the next one, deleted when the output is
complete. The output's buffered tail that is not yet a multipart part (S3 takes parts of 5 MiB
or more, except the last) is kept beside it as ``….pending-<offset>``. The continuation event
(docs/FORMATS.md) names the state and the offset it continues from: an event whose offset is
not the state's was already continued (a re-delivered event) and does nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field

CONTINUATION = "mlayer_continuation"  # the continuation event's only top-level key
STATE_DIR = ".mlayer-continuations/"
MAX_KEY_BYTES = 1024
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def bare_etag(etag: str) -> str:
    return etag.strip().strip('"')


def output_key(prefix: str, key: str, etag: str, model_version: str) -> str:
    """The output object's key for this input object, ETag and model."""
    version = _UNSAFE.sub("_", model_version) or "_"
    name = f"{prefix}{key}.{bare_etag(etag)}.{version}.jsonl"
    if len(name.encode("utf-8")) <= MAX_KEY_BYTES:
        return name
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"{prefix}{digest}-{key[-200:]}.{bare_etag(etag)}.{version}.jsonl"


def state_key(prefix: str, out_key: str) -> str:
    digest = hashlib.sha256(out_key.encode("utf-8")).hexdigest()[:32]
    return f"{prefix}{STATE_DIR}{digest}.json"


def pending_key(state: str, offset: int) -> str:
    return f"{state.removesuffix('.json')}.pending-{offset}"


@dataclass
class FileJob:
    """One input object being scored: where it is read from, where its output goes, how far."""

    bucket: str
    key: str
    etag: str
    size: int
    model_version: str
    out_bucket: str
    out_key: str
    state_key: str
    offset: int = 0  # the next row starts here (a row boundary)
    line: int = 1  # ... on this line
    header: list[str] | None = None  # a CSV's columns, once read
    upload_id: str = ""  # the output's multipart upload, once it has one
    parts: list[dict] = field(default_factory=list)  # [{"PartNumber", "ETag"}], in order
    pending: str = ""  # the key of the buffered output not yet a part, when there is one
    pending_bytes: int = 0
    predicted: int = 0
    dead_lettered: int = 0
    invocations: int = 1

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(cls, body: bytes) -> FileJob:
        doc = json.loads(body)
        if not isinstance(doc, dict):
            raise ValueError("a continuation state must be a JSON object")
        return cls(**doc)

    def continuation_event(self) -> dict:
        """What the next invocation is given (the state holds the rest)."""
        return {
            CONTINUATION: {
                "version": 1,
                "bucket": self.bucket,
                "key": self.key,
                "etag": self.etag,
                "model_version": self.model_version,
                "state": f"s3://{self.out_bucket}/{self.state_key}",
                "offset": self.offset,
                "line": self.line,
            }
        }


def parse_continuation(doc: object) -> tuple[str, str, int]:
    """(state bucket, state key, offset) of a continuation event; ValueError if it is not one."""
    if not isinstance(doc, dict) or not isinstance(doc.get("state"), str):
        raise ValueError(f"{CONTINUATION} must be an object naming its 'state' (s3://bucket/key)")
    scheme, _, rest = doc["state"].partition("://")
    bucket, _, key = rest.partition("/")
    offset = doc.get("offset")
    if scheme != "s3" or not bucket or not key or not isinstance(offset, int) or offset < 0:
        raise ValueError(f"{CONTINUATION}: bad state {doc['state']!r} or offset {offset!r}")
    return bucket, key, offset
