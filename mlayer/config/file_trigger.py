"""[trigger] s3, s3_suffixes and chunk_records: checked once, with the output they write to.

Scoring files writes its output to ``[output] sink`` (an s3:// location) and its continuation
state beside it; an output whose objects land under the watched prefix would trigger the
function again on its own output (a recursive loop), so any overlap of the two locations (one
prefix inside the other, in one bucket) is refused with both named. An s3:// dead-letter sink
(JSON-lines objects) is held to the same rule.
"""

from __future__ import annotations

from typing import Any

from mlayer.errors import ConfigError

MAX_CHUNK_RECORDS = 1_000_000
CHUNK_ENV = "MLAYER_FILE_CHUNK_RECORDS"  # the function's (function/mlayer_function/files.py)


def function_env(settings: Any) -> dict[str, str]:
    """What the function reads for files (none without [trigger] s3)."""
    if not settings.trigger.s3:
        return {}
    return {CHUNK_ENV: str(settings.trigger.chunk_records)}


def split_s3(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix); the prefix as written (may be empty)."""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix


def overlaps(a: str, b: str) -> bool:
    """Whether objects written under one s3:// location can land under the other."""
    (bucket_a, prefix_a), (bucket_b, prefix_b) = split_s3(a), split_s3(b)
    return bucket_a == bucket_b and (prefix_a.startswith(prefix_b) or prefix_b.startswith(prefix_a))


def validate_file_trigger(t: Any, output: Any, at: Any) -> None:
    """Refusals (ConfigError, exit 2) naming the key and where it was set."""
    if not 1 <= t.chunk_records <= MAX_CHUNK_RECORDS:
        raise ConfigError(
            f"{at('trigger.chunk_records')} is {t.chunk_records}; it must be between 1 and "
            f"{MAX_CHUNK_RECORDS}.",
            "Rows per vectorized predict: 5000 suits most models.",
        )
    if not t.s3:
        return
    bucket, _ = split_s3(t.s3)
    if not t.s3.startswith("s3://") or not bucket or any(c in bucket for c in " *?"):
        raise ConfigError(
            f"{at('trigger.s3')} is {t.s3!r}; it must be s3://bucket/prefix/.",
            'Write e.g. s3 = "s3://acme-exports/nightly/", or leave it empty for no file trigger.',
        )
    for suffix in t.s3_suffixes:
        if not suffix or "*" in suffix:
            raise ConfigError(
                f"{at('trigger.s3_suffixes')} holds {suffix!r}; each must be a literal ending.",
                'Write e.g. s3_suffixes = [".csv", ".jsonl"].',
            )
    if not t.s3_suffixes:
        raise ConfigError(
            f"{at('trigger.s3_suffixes')} is empty: no object would be scored.",
            'Write e.g. s3_suffixes = [".csv", ".jsonl"].',
        )
    if not output.sink.startswith("s3://"):
        raise ConfigError(
            f"{at('trigger.s3')} is set but {at('output.sink')} is {output.sink!r}: a scored file's "
            "predictions are written as one S3 object per input object.",
            "Set [output] sink to an s3:// location outside the watched prefix, e.g. "
            'sink = "s3://acme-scores/nightly/".',
        )
    for key, url in (("output.sink", output.sink), ("output.dead_letter", output.dead_letter)):
        if url.startswith("s3://") and overlaps(url, t.s3):
            raise ConfigError(
                f"{at(key)} is {url!r}, which overlaps [trigger] s3 ({t.s3!r}): the "
                "function's own output would trigger it again (a recursive loop).",
                f"Write {key} to another bucket or to a prefix outside {t.s3}, e.g. "
                f"s3://{bucket}-scores/.",
            )
