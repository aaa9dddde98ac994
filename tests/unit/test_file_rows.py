"""The file reader (mlayer_function/file_rows.py, file_cells.py) and the file state's names.

GIVEN a file's bytes cut into any pieces, WHEN its records are read (from the start, or from
a row boundary a batch ended on), THEN the records and their line numbers are the same; CSV
quoting keeps a quoted newline inside its record. Output and state names follow FORMATS.md.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))

from mlayer_function import file_state  # noqa: E402
from mlayer_function.decoding import BadRecord  # noqa: E402
from mlayer_function.file_cells import CsvRows, header_of, json_objects  # noqa: E402
from mlayer_function.file_rows import RecordReader  # noqa: E402


def read_all(data: bytes, cuts: list[int], *, quoted: bool) -> list[tuple[int, bytes]]:
    bounds = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    pieces = [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    return [(line, rec) for line, rec, _ in RecordReader(pieces, quoted=quoted).records()]


cells = st.text(alphabet=st.sampled_from('ab ,"\n\r\u00e9\u4e2d'), max_size=8)
tables = st.lists(st.lists(cells, min_size=3, max_size=3), min_size=1, max_size=12)


def csv_bytes(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    # RFC 4180's CRLF: a field holding a lone CR is quoted too
    csv.writer(out, lineterminator="\r\n").writerows([["id", "x", "y"], *rows])
    return out.getvalue().encode("utf-8")


@settings(max_examples=80, deadline=None)
@given(rows=tables, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_any_split_of_a_csv_gives_the_rows_the_csv_module_reads_with_their_lines(rows, cuts):
    data = csv_bytes(rows)
    got = read_all(data, cuts, quoted=True)
    assert got == read_all(data, [], quoted=True)
    header = header_of(got[0][1])
    parsed = CsvRows(header, "record").objects([rec.decode() for _, rec in got[1:]])
    assert [[o[k] if o[k] is not None else "" for k in header] for o in parsed] == rows
    # line numbers: each record starts after the newlines of the ones before it
    line = 1
    for start, rec in got:
        assert start == line
        line += rec.count(b"\n") + 1


@settings(max_examples=80, deadline=None)
@given(
    lines=st.lists(
        st.sampled_from(['{"id": 1}', "", "not json", '{"t": "\u00e9"}', "\r"]), max_size=20
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=6),
    size=st.integers(min_value=1, max_value=5),
)
def test_batches_resumed_at_any_boundary_give_every_record_once(lines, cuts, size):
    data = "\n".join(lines).encode("utf-8")
    whole = read_all(data, cuts, quoted=False)
    expected = [(i + 1, t.strip("\r").encode()) for i, t in enumerate(lines) if t.strip("\r")]
    assert whole == expected
    for batch in RecordReader([data]).batches(size):  # continue from each batch's end
        rest = RecordReader(
            [data[batch.end_offset :]], offset=batch.end_offset, line=batch.next_line
        )
        after = [(ln, rec) for ln, rec, _ in rest.records()]
        upto = [r for r in whole if r[0] <= batch.records[-1][0]]
        assert upto + after == whole


def test_a_quoted_newline_stays_in_its_record_and_the_next_line_number_counts_it():
    data = b'id,text\n1,"two\nlines"\n\n2,plain\r\n3,"say ""hi"""\n'
    got = read_all(data, [5, 13, 14], quoted=True)
    assert got == [
        (1, b"id,text"),
        (2, b'1,"two\nlines"'),
        (5, b"2,plain"),
        (6, b'3,"say ""hi"""'),
    ]
    rows = CsvRows(["id", "text"], "text").objects([r.decode() for _, r in got[1:]])
    assert rows == [
        {"id": "1", "text": "two\nlines"},
        {"id": "2", "text": "plain"},
        {"id": "3", "text": 'say "hi"'},
    ]


def test_a_byte_order_mark_is_not_part_of_the_header_however_the_bytes_arrive():
    data = b"\xef\xbb\xbfid,x\n1,2\n"
    for cuts in ([], [1], [2], [3], [1, 2]):
        assert read_all(data, cuts, quoted=True)[0] == (1, b"id,x")


def test_csv_cells_are_typed_by_what_the_model_takes_and_bad_ones_say_why():
    features = CsvRows(["a", "id", "b"], "features")
    good, bad, short = features.objects(["1.5,r1,2", "x,r2,3", "1"])
    assert good == {"features": [1.5, 2], "id": "r1"}
    assert isinstance(bad, BadRecord) and "column 'a' must be a number" in bad.reason
    assert isinstance(short, BadRecord) and short.reason.startswith("wrong number of fields")
    assert isinstance(json_objects(["{nope"])[0], BadRecord)
    assert json_objects(['{"id": 1, "features": [1]}']) == [{"id": 1, "features": [1]}]


def test_the_output_is_named_from_the_key_its_etag_and_the_model_version():
    key = file_state.output_key("out/", "in/day 1/données.csv", '"abc-2"', "v3 (fix)/x")
    assert key == "out/in/day 1/données.csv.abc-2.v3__fix__x.jsonl"
    long = file_state.output_key("out/", "k" * 1100, "e", "v1")
    assert len(long.encode()) <= 1024 and long.endswith("k" * 200 + ".e.v1.jsonl")
    state = file_state.state_key("out/", key)
    assert state.startswith("out/.mlayer-continuations/") and state.endswith(".json")
    assert file_state.pending_key(state, 42) == state[:-5] + ".pending-42"


def test_the_state_round_trips_and_its_continuation_event_names_it():
    job = file_state.FileJob(
        "in", "a b.csv", "e1", 10, "v1", "out", "out/a b.csv.e1.v1.jsonl", "out/.m/x.json",
        offset=7, line=3, header=["id", "x"], upload_id="u", parts=[{"PartNumber": 1, "ETag": "p"}],
    )  # fmt: skip
    again = file_state.FileJob.from_json(job.to_json())
    assert again == job
    event = job.continuation_event()
    assert json.loads(json.dumps(event)) == event
    assert file_state.parse_continuation(event[file_state.CONTINUATION]) == (
        "out",
        "out/.m/x.json",
        7,
    )
