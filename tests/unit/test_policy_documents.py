"""The generated policies: exact ARNs per configuration, linted by parliament (IAM's action
database), deterministic, and two configurations differing in one resource differ in that ARN
only."""

from __future__ import annotations

import json

import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from parliament import analyze_policy_string

from mlayer.config import Settings
from mlayer.config.loading import build
from mlayer.policy import Arns, deployer_policy, function_policy, to_json
from mlayer.policy.evaluate import ALLOW, DENY, IMPLICIT, decide, missing
from mlayer.publishing.model_store import MODELS_PREFIX

ACCOUNT, REGION = "123456789012", "eu-west-1"
ARNS = Arns(ACCOUNT, REGION)
# "*" only where the action takes no resource (IAM's Service Authorization Reference).
STAR_ACTIONS = {
    "kinesis:ListStreams",
    "sts:GetCallerIdentity",
    "lambda:ListLayerVersions",
    "lambda:ListLayers",
    "lambda:ListEventSourceMappings",
    "lambda:CreateEventSourceMapping",
    "cloudwatch:GetMetricData",
    "cloudwatch:ListMetrics",
}


def configured(**sections) -> Settings:
    return build(Settings(), sections, origin="test").with_bucket(
        sections.get("artifacts", {}).get("bucket", "acme-ml")
    )


def statements(doc: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in doc["Statement"]}


def as_list(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def lint(doc: dict) -> list[tuple[str, object]]:
    """parliament's findings that mean a wrong document: unknown actions or resource types an
    action does not take, malformed statements, `*` on actions that take a resource."""
    # parliament takes an account id where AWS's own managed policies have "aws": a false
    # INVALID_ARN for arn:aws:iam::aws:policy/*, which IAM accepts.
    text = json.dumps(doc).replace("arn:aws:iam::aws:policy/", f"arn:aws:iam::{ACCOUNT}:policy/")
    policy = analyze_policy_string(text)
    return [(f.issue, f.detail) for f in policy.findings]


def test_function_policy_names_every_resource_of_a_full_configuration():
    s = configured(
        function={"name": "fraud"},
        trigger={"stream": "clicks", "on_failure": "sns://failed"},
        output={"sink": "dynamodb://preds", "dead_letter": "s3://dl-bucket/letters"},
        model={"store": "s3"},
    )
    by_sid = statements(function_policy(s, ARNS))
    assert (
        by_sid["Logs"]["Resource"]
        == "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/fraud:*"
    )
    assert (
        by_sid["ReadTriggerStream"]["Resource"]
        == "arn:aws:kinesis:eu-west-1:123456789012:stream/clicks"
    )
    assert by_sid["ListStreams"] == {
        "Sid": "ListStreams",
        "Effect": "Allow",
        "Action": "kinesis:ListStreams",
        "Resource": "*",
    }
    assert by_sid["WriteResults"]["Action"] == "dynamodb:BatchWriteItem"
    assert (
        by_sid["WriteResults"]["Resource"] == "arn:aws:dynamodb:eu-west-1:123456789012:table/preds"
    )
    assert by_sid["WriteDeadLetters"]["Resource"] == "arn:aws:s3:::dl-bucket/letters/*"
    assert by_sid["WriteDeadLetterOverflow"]["Resource"] == "arn:aws:s3:::acme-ml/dead-letters/*"
    assert by_sid["ReadModelArtifacts"]["Resource"] == [
        "arn:aws:s3:::acme-ml/layers/*.zip",  # a shadow's layer zip
        f"arn:aws:s3:::acme-ml/{MODELS_PREFIX}*",
    ]
    assert by_sid["WriteOnFailure"]["Action"] == "sns:Publish"
    assert by_sid["WriteOnFailure"]["Resource"] == "arn:aws:sns:eu-west-1:123456789012:failed"
    assert lint(function_policy(s, ARNS)) == []


@pytest.mark.parametrize(
    ("sink", "actions", "resource"),
    [
        (
            "dynamodb://t",
            "dynamodb:BatchWriteItem",
            "arn:aws:dynamodb:eu-west-1:123456789012:table/t",
        ),
        ("s3://b-out/p", "s3:PutObject", "arn:aws:s3:::b-out/p/*"),
        ("s3://b-out", "s3:PutObject", "arn:aws:s3:::b-out/*"),
        (
            "kinesis://out",
            "kinesis:PutRecords",
            "arn:aws:kinesis:eu-west-1:123456789012:stream/out",
        ),
        ("sqs://q", ["sqs:GetQueueUrl", "sqs:SendMessage"], "arn:aws:sqs:eu-west-1:123456789012:q"),
    ],
)
def test_each_sink_kind_gets_its_write_only(sink, actions, resource):
    by_sid = statements(function_policy(configured(output={"sink": sink}), ARNS))
    assert by_sid["WriteResults"]["Action"] == actions
    assert by_sid["WriteResults"]["Resource"] == resource


def test_stdout_sink_layer_store_and_no_stream_need_logs_and_the_overflow_only():
    s = configured(output={"sink": "stdout://"}, model={"store": "layer"})
    assert sorted(statements(function_policy(s, ARNS))) == ["Logs", "WriteDeadLetterOverflow"]


def test_store_auto_reads_models_because_a_later_publish_may_move_the_model_to_s3():
    assert "ReadModelArtifacts" in statements(
        function_policy(configured(model={"store": "auto"}), ARNS)
    )
    assert "ReadModelArtifacts" not in statements(
        function_policy(configured(model={"store": "layer"}), ARNS)
    )


@pytest.mark.parametrize(
    ("settings_kwargs", "expected"),
    [
        (
            {"trigger": {"stream": "s", "on_failure": "sqs://f"}},
            ("sqs:SendMessage", "arn:aws:sqs:eu-west-1:123456789012:f"),
        ),
        (
            {"trigger": {"stream": "s", "on_failure": "s3://fail-bucket"}},
            (
                ["s3:ListBucket", "s3:PutObject"],
                ["arn:aws:s3:::fail-bucket", "arn:aws:s3:::fail-bucket/aws/lambda/*"],
            ),
        ),
        (
            {"trigger": {"stream": "s", "on_failure": "arn:aws:sns:us-west-2:210987654321:t"}},
            ("sns:Publish", "arn:aws:sns:us-west-2:210987654321:t"),
        ),
        (
            {"trigger": {"stream": "s"}},  # the default: the artifact bucket
            (
                ["s3:ListBucket", "s3:PutObject"],
                ["arn:aws:s3:::acme-ml", "arn:aws:s3:::acme-ml/aws/lambda/*"],
            ),
        ),
    ],
)
def test_on_failure_destination_as_deploy_function_sets_it(settings_kwargs, expected):
    from mlayer.deploying.deploy_plan import on_failure_url

    s = configured(**settings_kwargs)
    st_ = statements(function_policy(s, ARNS))["WriteOnFailure"]
    assert (st_["Action"], st_["Resource"]) == expected
    assert on_failure_url(s)  # the same rule as deploy_plan's
    from mlayer.policy.function_policy import on_failure_url as mine

    assert mine(s) == on_failure_url(s)


def test_an_on_failure_queue_that_is_the_dead_letter_queue_needs_no_statement_of_its_own():
    s = configured(trigger={"stream": "s"}, output={"dead_letter": "sqs://dlq"})
    by_sid = statements(function_policy(s, ARNS))
    assert "WriteOnFailure" not in by_sid  # WriteDeadLetters grants SendMessage on that queue
    assert by_sid["WriteDeadLetters"]["Resource"] == "arn:aws:sqs:eu-west-1:123456789012:dlq"


def test_kms_statements_only_for_keys_of_paths_in_use():
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    s = configured(trigger={"stream": "s"}, output={"sink": "stdout://"})
    by_sid = statements(function_policy(s, ARNS, keys={"trigger": key, "sink": key}))
    assert by_sid["UseKeyTrigger"] == {
        "Sid": "UseKeyTrigger",
        "Effect": "Allow",
        "Action": "kms:Decrypt",
        "Resource": key,
    }
    assert "UseKeySink" not in by_sid  # stdout:// writes no encrypted resource


def test_a_key_named_by_its_id_is_granted_on_its_arn():
    """Kinesis names a stream's key as it was given (an id, an ARN or an alias); IAM takes
    the key's ARN."""
    s = configured(trigger={"stream": "s"}, output={"sink": "stdout://"})
    key_id = "1234abcd-12ab-34cd-56ef-1234567890ab"
    by_sid = statements(function_policy(s, ARNS, keys={"trigger": key_id}))
    assert by_sid["UseKeyTrigger"]["Resource"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"


def test_documents_are_deterministic_and_sorted():
    s = configured(trigger={"stream": "s"}, output={"sink": "sqs://q", "dead_letter": "sqs://d"})
    a, b = to_json(function_policy(s, ARNS)), to_json(function_policy(s, ARNS))
    assert a == b
    sids = [st_["Sid"] for st_ in json.loads(a)["Statement"]]
    assert sids == sorted(sids)
    for st_ in json.loads(a)["Statement"]:
        if isinstance(st_["Action"], list):
            assert st_["Action"] == sorted(st_["Action"])


def test_deployer_policy_of_a_created_role_manages_that_role_only():
    s = configured(function={"name": "fraud", "role": "create"}, trigger={"stream": "s"})
    by_sid = statements(deployer_policy(s, ARNS))
    role = "arn:aws:iam::123456789012:role/mlayer-fraud"
    assert by_sid["PassRole"]["Resource"] == role
    assert by_sid["ManageRole"]["Resource"] == role
    assert "ReadRolePolicies" not in by_sid
    assert by_sid["Function"]["Resource"] == [
        "arn:aws:lambda:eu-west-1:123456789012:function:fraud",
        "arn:aws:lambda:eu-west-1:123456789012:function:fraud:*",
    ]
    assert lint(deployer_policy(s, ARNS)) == []


def test_deployer_policy_of_a_given_role_reads_its_policies_and_passes_it_only():
    role = "arn:aws:iam::123456789012:role/team/predictor"
    by_sid = statements(deployer_policy(configured(function={"role": role}), ARNS))
    assert by_sid["PassRole"]["Resource"] == role
    assert by_sid["ReadRolePolicies"]["Resource"] == role
    assert "ManageRole" not in by_sid and "EventSourceMappings" not in by_sid


@pytest.mark.parametrize("alias", ["", "live"])
def test_metrics_are_readable_with_or_without_an_alias(alias):
    """`shadow status` reads a shadow's metrics on a function without [model] alias too;
    only prune's deletion of function versions follows the alias."""
    by_sid = statements(deployer_policy(configured(model={"alias": alias}), ARNS))
    assert as_list(by_sid["ReadMetrics"]["Action"]) == [
        "cloudwatch:GetMetricData",
        "cloudwatch:ListMetrics",
    ]
    assert by_sid["ReadMetrics"]["Resource"] == "*"
    deletes = as_list(by_sid["PruneVersions"]["Action"])
    assert ("lambda:DeleteFunction" in deletes) == bool(alias)


HAS_FILE_TRIGGER = "s3" in Settings().trigger.__dataclass_fields__


@pytest.mark.skipif(not HAS_FILE_TRIGGER, reason="[trigger] s3 is not in these settings")
def test_file_scoring_reads_the_dropped_files_and_keeps_its_state_beside_the_output():
    s = configured(
        function={"name": "files"},
        trigger={"s3": "s3://drop-box/incoming/"},
        output={"sink": "s3://scored/out/"},
    )
    fn = statements(function_policy(s, ARNS))
    assert fn["ReadScoredFiles"]["Resource"] == "arn:aws:s3:::drop-box/incoming/*"
    assert fn["ScoringState"]["Resource"] == ["arn:aws:s3:::scored", "arn:aws:s3:::scored/out/*"]
    assert fn["ContinueScoring"]["Action"] == "lambda:InvokeFunction"
    dep = statements(deployer_policy(s, ARNS))
    assert dep["FileNotifications"]["Resource"] == "arn:aws:s3:::drop-box"
    assert lint(function_policy(s, ARNS)) == [] and lint(deployer_policy(s, ARNS)) == []


# -- hypothesis: every configuration lints clean; one resource changed, one ARN changed -------
names = st.from_regex(r"[a-z][a-z0-9-]{2,12}", fullmatch=True)
buckets = st.from_regex(r"[a-z][a-z0-9-]{2,20}[a-z0-9]", fullmatch=True)
prefixes = st.from_regex(r"([a-z0-9]{1,8}/?){0,2}", fullmatch=True)


@st.composite
def configurations(draw) -> dict:
    sink = draw(
        st.sampled_from(
            ["stdout://", "dynamodb://{n}", "s3://{b}/{p}", "kinesis://{n}", "sqs://{n}"]
        )
    )
    dead = draw(st.sampled_from(["", "sqs://{n}", "s3://{b}/{p}"]))
    failure = draw(st.sampled_from(["", "sqs://{n}", "sns://{n}", "s3://{b}"]))
    stream = draw(st.sampled_from(["", "{n}"]))
    fill = lambda t: t.format(n=draw(names), b=draw(buckets), p=draw(prefixes))  # noqa: E731
    files = HAS_FILE_TRIGGER and sink.startswith("s3://") and draw(st.booleans())
    return {
        "function": {
            "name": draw(names),
            "role": draw(st.sampled_from(["", "create", "arn:aws:iam::123456789012:role/r"])),
        },
        "model": {
            "store": draw(st.sampled_from(["auto", "layer", "s3"])),
            "alias": draw(st.sampled_from(["", "live"])),
        },
        "artifacts": {"bucket": draw(buckets)},
        "trigger": {
            "stream": fill(stream),
            "on_failure": fill(failure) if stream else "",
            **({"s3": f"s3://zz-dropped-{draw(buckets)}/in/"} if files else {}),
        },
        "output": {
            "sink": fill(sink),
            "dead_letter": fill(dead),
            "dead_letter_overflow": draw(st.sampled_from(["", "s3://{b}/{p}"])).format(
                b=draw(buckets), p=draw(prefixes)
            ),
        },
        "keys": draw(
            st.dictionaries(
                st.sampled_from(["trigger", "sink", "dead_letter", "models", "on_failure"]),
                st.just(
                    "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
                ),
                max_size=3,
            )
        ),
    }


def documents(config: dict) -> list[dict]:
    sections = {k: v for k, v in config.items() if k != "keys"}
    s = configured(**sections)
    return [function_policy(s, ARNS, keys=config["keys"]), deployer_policy(s, ARNS)]


@settings(max_examples=20, deadline=None, phases=(Phase.explicit, Phase.generate))
@given(configurations())
def test_every_generated_document_lints_clean_and_names_resources(config):
    for doc in documents(config):
        assert lint(doc) == []
        for st_ in doc["Statement"]:
            if "*" in as_list(st_["Resource"]):
                assert set(as_list(st_["Action"])) <= STAR_ACTIONS, st_


RESOURCE_FIELDS = [
    ("function", "name"),
    ("artifacts", "bucket"),
    ("trigger", "stream"),
    ("output", "sink"),
    ("output", "dead_letter"),
]


def arns_in(docs: list[dict]) -> set[str]:
    return {r for doc in docs for st_ in doc["Statement"] for r in as_list(st_["Resource"])}


@settings(max_examples=20, deadline=None, phases=(Phase.explicit, Phase.generate))
@given(configurations(), st.sampled_from(RESOURCE_FIELDS), names)
def test_one_resource_changed_changes_its_arns_only(config, field, new_name):
    section, key = field
    old = config[section][key]
    if not old or old == "stdout://":
        return
    scheme, sep, rest = old.partition("://")
    old_name = rest.split("/", 1)[0] if sep else old
    new_name = f"zz{new_name}"
    new_value = f"{scheme}://{new_name}{rest[len(old_name) :]}" if sep else new_name
    changed = {**config, section: {**config[section], key: new_value}}
    before, after = documents(config), documents(changed)
    gone, came = arns_in(before) - arns_in(after), arns_in(after) - arns_in(before)
    assert all(new_name in arn for arn in came), came
    swapped_back = {a.replace(new_name, old_name) for a in came}
    assert swapped_back <= arns_in(before)  # each new ARN is an old one with the name changed
    assert gone <= swapped_back  # and each ARN that went is one of those
    # the statements themselves stay: same Sids, same actions
    for b, a in zip(before, after, strict=True):
        assert [(s["Sid"], s["Action"]) for s in b["Statement"]] == [
            (s["Sid"], s["Action"]) for s in a["Statement"]
        ]


# -- the evaluator --------------------------------------------------------------------------
def test_evaluator_explicit_deny_wins_and_wildcards_match():
    allow = {"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}]}
    deny = {
        "Statement": {
            "Effect": "Deny",
            "Action": "s3:PutObject",
            "Resource": "arn:aws:s3:::b/secret/*",
        }
    }
    assert decide([allow], "s3:GetObject", "arn:aws:s3:::b/x") == ALLOW
    assert decide([allow], "S3:GETOBJECT", "arn:aws:s3:::b/x") == ALLOW
    assert decide([allow, deny], "s3:PutObject", "arn:aws:s3:::b/secret/k") == DENY
    assert decide([allow], "s3:GetObject", "arn:aws:s3:::c/x") == IMPLICIT
    not_action = {"Statement": [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]}
    assert decide([not_action], "iam:PassRole", "*") == IMPLICIT
    assert decide([not_action], "sqs:SendMessage", "arn:aws:sqs:r:1:q") == ALLOW
    one_char = {
        "Statement": [
            {"Effect": "Allow", "Action": "sqs:Send?essage", "Resource": "arn:aws:sqs:*:*:q?"}
        ]
    }
    assert decide([one_char], "sqs:SendMessage", "arn:aws:sqs:r:1:q1") == ALLOW
    assert decide([one_char], "sqs:SendMessage", "arn:aws:sqs:r:1:q12") == IMPLICIT


def test_missing_lists_what_a_narrower_role_lacks_by_statement():
    s = configured(
        trigger={"stream": "s"}, output={"sink": "s3://out-b/preds"}, model={"store": "layer"}
    )
    required = function_policy(s, ARNS)
    assert missing(required, [required]) == []
    broad = {
        "Statement": [
            {"Effect": "Allow", "Action": ["kinesis:*", "logs:*", "s3:*"], "Resource": "*"}
        ]
    }
    assert missing(required, [broad]) == []
    narrow = {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": "arn:aws:s3:::out-b/preds/2026/*",
            }
        ]
    }
    gaps = {(m.sid, m.action) for m in missing(required, [broad | {}, narrow][1:])}
    assert ("WriteResults", "s3:PutObject") in gaps  # a sub-prefix does not cover the prefix
    assert ("ReadTriggerStream", "kinesis:GetRecords") in gaps
