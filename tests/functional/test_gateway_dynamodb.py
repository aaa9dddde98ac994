"""gateway/dynamodb.py: a table's items on the embedded AWS come back as plain rows, every
DynamoDB type without its tag (numbers as the exact text DynamoDB stores), over every page."""

from __future__ import annotations

import boto3

from mlayer.gateway.dynamodb import plain, scan_rows
from mlayer.local import sandbox

TABLE = "predictions"


def test_items_come_back_as_plain_rows(gw, aws):
    sandbox.ensure_table(gw, TABLE)
    ddb = boto3.client("dynamodb", endpoint_url=aws.endpoint_url, region_name=aws.region)
    ddb.put_item(
        TableName=TABLE,
        Item={
            "event_id": {"S": "e-1"},
            "prediction": {"S": "billing"},
            "score": {"N": "0.125"},
            "ok": {"BOOL": True},
            "nothing": {"NULL": True},
            "probs": {"M": {"billing": {"N": "0.9"}, "other": {"L": [{"S": "a"}, {"N": "1"}]}}},
            "raw": {"B": b"\x00\xff"},
            "tags": {"SS": ["x"]},
        },
    )
    assert scan_rows(gw, TABLE) == [
        {
            "event_id": "e-1",
            "prediction": "billing",
            "score": "0.125",
            "ok": True,
            "nothing": None,
            "probs": {"billing": "0.9", "other": ["a", "1"]},
            "raw": b"\x00\xff",
            "tags": ["x"],
        }
    ]


def test_every_page_is_read(gw, aws):
    sandbox.ensure_table(gw, TABLE)
    ddb = boto3.client("dynamodb", endpoint_url=aws.endpoint_url, region_name=aws.region)
    big = "x" * 300_000  # 3 items fill a 1 MB page: 3 pages
    for i in range(9):
        ddb.put_item(TableName=TABLE, Item={"event_id": {"S": f"e-{i}"}, "pad": {"S": big}})
    rows = scan_rows(gw, TABLE)
    assert sorted(r["event_id"] for r in rows) == [f"e-{i}" for i in range(9)]
    assert {r["pad"] for r in rows} == {big}


def test_an_empty_table_has_no_rows(gw):
    sandbox.ensure_table(gw, TABLE)
    assert scan_rows(gw, TABLE) == []


def test_a_number_keeps_its_exact_text():
    assert plain({"N": "12345678901234567890.000000000001"}) == "12345678901234567890.000000000001"
