"""deploy-function's file trigger, planned from typed views (file_trigger_plan.py), and the
[trigger] s3 keys checked against [output] (config/file_trigger.py).

GIVEN what a bucket and a function hold, WHEN planned, THEN only mlayer's own notifications for
this function change, the permission is added once, and an output overlapping the watched
prefix is refused naming both.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from mlayer.config import Settings
from mlayer.config.file_trigger import overlaps, validate_file_trigger
from mlayer.deploying.file_trigger_plan import plan_file_trigger
from mlayer.errors import ConfigError
from mlayer.gateway.file_events import InvokePermission, LambdaNotification

TARGET = "arn:aws:lambda:us-east-1:123456789012:function:scorer"
EVENTS = ("s3:ObjectCreated:*",)


def plan(notifications=(), permissions=(), suffixes=(".csv", ".jsonl")):
    return plan_file_trigger(
        bucket="in",
        prefix="drop/",
        suffixes=suffixes,
        function="scorer",
        qualifier="",
        target=TARGET,
        account="123456789012",
        notifications=list(notifications),
        permissions=list(permissions),
    )


def test_a_bare_bucket_gets_one_notification_per_suffix_and_the_permission():
    p = plan()
    assert p.permission == "add" and p.notifications_changed and p.changed
    assert [(n.id, n.prefix, n.suffix, n.events) for n in p.desired] == [
        ("mlayer-scorer-csv", "drop/", ".csv", EVENTS),
        ("mlayer-scorer-jsonl", "drop/", ".jsonl", EVENTS),
    ]


def test_what_is_already_there_is_left_alone_and_others_notifications_kept():
    other = LambdaNotification("theirs", "arn:other", EVENTS, "", ".png")
    granted = InvokePermission(
        "mlayer-s3-in", "s3.amazonaws.com", "arn:aws:s3:::in", "123456789012", TARGET
    )
    done = plan()
    p = plan([other, *done.desired], [granted])
    assert not p.changed and p.keep_ids == frozenset({"theirs"})
    dropped = plan([other, *done.desired], [granted], suffixes=(".csv",))
    assert dropped.remove_ids == ("mlayer-scorer-jsonl",) and dropped.notifications_changed
    stale = plan(done.desired, [replace(granted, source_account="999999999999")])
    assert stale.permission == "replace"


@pytest.mark.parametrize(
    ("a", "b", "loop"),
    [
        ("s3://in/drop/", "s3://in/drop/", True),
        ("s3://in/drop/scores/", "s3://in/drop/", True),
        ("s3://in/", "s3://in/drop/", True),  # outputs are named from the input key
        ("s3://in/scores/", "s3://in/drop/", False),
        ("s3://out/drop/", "s3://in/drop/", False),
    ],
)
def test_overlapping_locations_are_the_ones_that_loop(a, b, loop):
    assert overlaps(a, b) is loop


def test_the_config_refuses_an_overlap_and_a_non_s3_sink_naming_the_keys():
    s = Settings()
    t = replace(s.trigger, s3="s3://in/drop/")

    def at(key):
        return f"{key} in mlayer.toml"

    with pytest.raises(ConfigError) as err:
        validate_file_trigger(t, replace(s.output, sink="s3://in/drop/out/"), at)
    assert "output.sink in mlayer.toml" in err.value.message
    assert "overlaps [trigger] s3 ('s3://in/drop/')" in err.value.message
    assert err.value.exit_code == 2
    with pytest.raises(ConfigError, match="one S3 object per input object"):
        validate_file_trigger(t, s.output, at)
    with pytest.raises(ConfigError, match="chunk_records"):
        validate_file_trigger(replace(t, chunk_records=0), s.output, at)
    validate_file_trigger(t, replace(s.output, sink="s3://out/scores/"), at)
