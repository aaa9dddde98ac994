"""Whether an invocation is a file to score (an S3 ObjectCreated event or a file's continuation),
told without importing files.py: its readers, writers and state load only for such an event."""

from __future__ import annotations

CONTINUATION = "mlayer_continuation"  # file_state.CONTINUATION (tests/unit/test_file_events.py)


def is_file_event(event: object) -> bool:
    if not isinstance(event, dict):
        return False
    if CONTINUATION in event:
        return True
    records = event.get("Records")
    return bool(isinstance(records, list) and records and records[0].get("eventSource") == "aws:s3")
