"""handler.py tells a file event by file_events.is_file_event, so files.py loads only for one:
its answer must be files.is_file_event's for any event."""

from __future__ import annotations

import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))

from mlayer_function import file_events, file_state, files  # noqa: E402

sources = st.sampled_from(["aws:s3", "aws:kinesis", "aws:sqs", "", None, 3])
records = st.lists(st.fixed_dictionaries({}, optional={"eventSource": sources}), max_size=2)
events = (
    st.fixed_dictionaries(
        {},
        optional={
            "Records": records | st.none() | st.text(max_size=2),
            file_state.CONTINUATION: st.just({"bucket": "b"}),
            "instances": st.just([]),
        },
    )
    | st.none()
    | st.lists(st.integers(), max_size=2)
    | st.text(max_size=3)
)


def test_the_continuation_key_is_file_states():
    assert file_events.CONTINUATION == file_state.CONTINUATION


@settings(max_examples=200)
@given(events)
def test_the_handlers_check_answers_as_files_does(event):
    assert file_events.is_file_event(event) == files.is_file_event(event)
