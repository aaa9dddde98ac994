"""The function's execution role policy, from the configuration: exact ARNs, nothing unused.

One statement per path of the function (its Sid names it), each on the resources that path
touches and no other:
  Logs                  Lambda's log group of this function, /aws/lambda/<name>
  ReadTriggerStream     the event-source mapping's reads of [trigger] stream
  ListStreams           kinesis:ListStreams, which AWS documents for Kinesis mappings and which
                        takes no resource (the one ``*``)
  WriteResults          [output] sink (BatchWriteItem / PutObject / PutRecords / SendMessage)
  WriteDeadLetters      [output] dead_letter
  WriteDeadLetterOverflow  the overflow prefix (default: the artifact bucket's dead-letters/)
  ReadModelArtifacts    s3:GetObject on the artifact bucket's models/* when a model may be
                        stored in S3 ([model] store s3, or auto: a later publish-model may move
                        a model that outgrows its layer to S3 without touching the role), and
                        on its layers/*.zip: a shadow's layer zip (publish-model --shadow)
  WriteOnFailure        the trigger's on-failure destination (deploy_plan.on_failure_url)
  ReadScoredFiles       [trigger] s3, when that key exists and is set (file scoring), with
  ScoringState          its continuation state and multipart uploads beside the s3:// output,
  ContinueScoring       and the asynchronous invoke of itself that goes on with a big file
  UseKey<Purpose>       kms:Decrypt / kms:GenerateDataKey on a customer managed key that
                        encrypts one of the above (``keys``, read from the live resources)
"""

from __future__ import annotations

from collections.abc import Mapping

from mlayer.config import Settings
from mlayer.policy.arns import Arns, s3_bucket_prefix, split_url
from mlayer.policy.document import Statement, document
from mlayer.policy.evaluate import missing

STREAM_READS = (
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
)
ON_FAILURE_S3_PREFIX = "aws/lambda/"  # where Lambda writes on-failure objects in a bucket
MODEL_STORES_IN_S3 = ("auto", "s3")
# The keys a caller may pass (``keys``): what each encrypts and what the function does with it.
KEY_PURPOSES = {
    "trigger": ("kms:Decrypt",),  # reading an SSE-KMS stream
    "sink": ("kms:GenerateDataKey",),  # writing to an SSE-KMS queue, stream or bucket
    "dead_letter": ("kms:GenerateDataKey",),
    "models": ("kms:Decrypt",),  # SSE-KMS objects of the artifact bucket
    "on_failure": ("kms:GenerateDataKey",),
}


def write_statement(sid: str, url: str, arns: Arns) -> Statement | None:
    """The write a sink URL needs (None for stdout://, which is the log)."""
    scheme, rest = split_url(url)
    if scheme == "dynamodb":
        return Statement(sid, ("dynamodb:BatchWriteItem",), (arns.table(rest),))
    if scheme == "s3":
        bucket, prefix = s3_bucket_prefix(rest)
        return Statement(sid, ("s3:PutObject",), (arns.objects(bucket, prefix),))
    if scheme == "kinesis":
        return Statement(sid, ("kinesis:PutRecords",), (arns.stream(rest),))
    if scheme == "sqs":
        return Statement(sid, ("sqs:GetQueueUrl", "sqs:SendMessage"), (arns.queue(rest),))
    return None


def on_failure_statement(url: str, arns: Arns) -> Statement | None:
    """What Lambda's mapping needs to record a batch it gave up on, with the function's role."""
    scheme, rest = split_url(url)
    if scheme == "arn":
        service = rest.split(":")[2]
        scheme, rest = service, (rest.split(":::", 1)[1] if service == "s3" else rest)
    sid = "WriteOnFailure"
    if scheme == "sqs":
        return Statement(sid, ("sqs:SendMessage",), (arns.queue(rest),))
    if scheme == "sns":
        return Statement(sid, ("sns:Publish",), (arns.topic(rest),))
    if scheme == "s3":
        bucket = rest.split("/", 1)[0]  # Lambda takes the bucket only, for stream sources
        return Statement(
            sid,
            ("s3:ListBucket", "s3:PutObject"),
            (arns.bucket(bucket), arns.objects(bucket, ON_FAILURE_S3_PREFIX)),
        )
    return None


def on_failure_url(settings: Settings) -> str:
    """As deploy-function sets it: [trigger] on_failure, else an SQS dead-letter queue, else
    the artifact bucket (deploy_plan.on_failure_url, repeated here to keep this package pure)."""
    if settings.trigger.on_failure:
        return settings.trigger.on_failure
    if settings.output.dead_letter.startswith("sqs://"):
        return settings.output.dead_letter
    return f"s3://{settings.artifacts.bucket}" if settings.artifacts.bucket else ""


def scored_files_statements(settings: Settings, arns: Arns) -> list[Statement]:
    """[trigger] s3 (file scoring; tolerated when these settings lack the key): read the
    dropped files; beside the s3:// output, the continuation state (read, deleted), its
    multipart uploads (aborted) and HEADs of absent keys (ListBucket); invoke itself to go on."""
    url = getattr(settings.trigger, "s3", "") or ""
    if not url.startswith("s3://"):
        return []
    bucket, prefix = s3_bucket_prefix(url[len("s3://") :])
    fn = settings.function.name
    out = [
        Statement("ReadScoredFiles", ("s3:GetObject",), (arns.objects(bucket, prefix),)),
        Statement(
            "ContinueScoring",
            ("lambda:InvokeFunction",),
            (arns.function(fn), arns.function_qualified(fn)),
        ),
    ]
    scheme, rest = split_url(settings.output.sink)
    if scheme == "s3":
        out_bucket, out_prefix = s3_bucket_prefix(rest)
        state = ("s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListBucket")
        resources = (arns.bucket(out_bucket), arns.objects(out_bucket, out_prefix))
        out.append(Statement("ScoringState", state, resources))
    return out


def key_statements(keys: Mapping[str, str], used: set[str]) -> list[Statement]:
    """kms statements for the keys of the paths this configuration uses."""
    out = []
    for purpose, key_arn in sorted(keys.items()):
        if purpose in used and key_arn:
            sid = "UseKey" + "".join(p.title() for p in purpose.split("_"))
            out.append(Statement(sid, KEY_PURPOSES[purpose], (key_arn,)))
    return out


def function_statements(
    settings: Settings, arns: Arns, keys: Mapping[str, str] | None = None
) -> list[Statement]:
    """Every statement the function's role needs for ``settings`` (bucket named: with_bucket)."""
    out = [
        Statement(
            "Logs",
            ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"),
            (arns.log_group(settings.function.name),),
        )
    ]
    used: set[str] = set()
    stream = settings.trigger.stream
    if stream:
        used.add("trigger")
        out.append(Statement("ReadTriggerStream", STREAM_READS, (arns.stream(stream),)))
        out.append(Statement("ListStreams", ("kinesis:ListStreams",), ("*",)))
        failure = on_failure_statement(on_failure_url(settings), arns)
        if failure is not None:
            used.add("on_failure")
            out.append(failure)
    for sid, url, purpose in (
        ("WriteResults", settings.output.sink, "sink"),
        ("WriteDeadLetters", settings.output.dead_letter, "dead_letter"),
    ):
        st = write_statement(sid, url, arns) if url else None
        if st is not None:
            used.add(purpose)
            out.append(st)
    overflow = settings.dead_letter_overflow_url() if settings.artifacts.bucket else ""
    if settings.output.dead_letter_overflow:
        overflow = settings.output.dead_letter_overflow
    if overflow:
        out.append(write_statement("WriteDeadLetterOverflow", overflow, arns))
    if settings.model.store in MODEL_STORES_IN_S3 and settings.artifacts.bucket:
        used.add("models")
        bucket = settings.artifacts.bucket
        models = arns.objects(bucket, "models/")
        shadows = f"{arns.bucket(bucket)}/layers/*.zip"  # a shadow's zip (mlayer/shadow/state.py)
        out.append(Statement("ReadModelArtifacts", ("s3:GetObject",), (models, shadows)))
    out += scored_files_statements(settings, arns)
    named = {purpose: arns.key(key) for purpose, key in (keys or {}).items() if key}
    return out + key_statements(named, used)


def _needed(statements: list[Statement]) -> list[Statement]:
    """Without the statements others already grant whole (the on-failure queue that is the
    dead-letter queue): a statement no path needs is a defect."""
    kept: list[Statement] = []
    for i, st in enumerate(statements):
        others = document([*kept, *statements[i + 1 :]])
        if not missing(document([st]), [others]):
            continue
        kept.append(st)
    return kept


def function_policy(settings: Settings, arns: Arns, keys: Mapping[str, str] | None = None) -> dict:
    """The function's inline policy document (see the module docstring)."""
    return document(_needed(function_statements(settings, arns, keys)))
