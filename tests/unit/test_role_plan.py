"""create-role's plan (pure): a new role, an unchanged one, and a policy whose statements moved."""

from __future__ import annotations

from mlayer.policy.role_plan import plan_role

ARN = "arn:aws:iam::123456789012:role/mlayer-f"


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


LOGS = {"Sid": "Logs", "Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "arn:l"}
DDB = {
    "Sid": "WriteResults",
    "Effect": "Allow",
    "Action": "dynamodb:BatchWriteItem",
    "Resource": "arn:t",
}
SQS = {"Sid": "WriteResults", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "arn:q"}
DLQ = {
    "Sid": "WriteDeadLetters",
    "Effect": "Allow",
    "Action": "sqs:SendMessage",
    "Resource": "arn:d",
}


def test_an_absent_role_is_created_with_every_statement_added():
    plan = plan_role("mlayer-f", ARN, False, None, doc(LOGS, DDB))
    assert plan.create and plan.changed
    assert [(c.sid, c.before, c.after) for c in plan.changes] == [
        ("Logs", None, LOGS),
        ("WriteResults", None, DDB),
    ]
    assert (
        plan.render_lines("Would")[0]
        == "Would create role mlayer-f (trusting Lambda) with policy mlayer:"
    )


def test_the_same_policy_changes_nothing():
    plan = plan_role("mlayer-f", ARN, True, doc(LOGS, DDB), doc(LOGS, DDB))
    assert not plan.changed and plan.render_lines("Did") == ["Role mlayer-f: unchanged."]


def test_a_new_sink_replaces_its_statement_and_a_dropped_one_goes():
    plan = plan_role("mlayer-f", ARN, True, doc(LOGS, DDB, DLQ), doc(LOGS, SQS))
    assert [(c.sid, c.before, c.after) for c in plan.changes] == [
        ("WriteDeadLetters", DLQ, None),
        ("WriteResults", DDB, SQS),
    ]
    assert plan.render_lines("Would")[1:] == [
        "  - WriteDeadLetters: sqs:SendMessage on arn:d",
        "  ~ WriteResults: sqs:SendMessage on arn:q",
    ]
    assert plan.to_dict()["policy"] == doc(LOGS, SQS)
