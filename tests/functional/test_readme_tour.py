"""The README's Tour runs as printed, in an empty folder, against the embedded AWS (issue 23,
case 9).

GIVEN the console blocks of README.md's "## Tour" (up to "### `make demo`"), WHEN each ``$``
command runs in order in an empty folder (``mlayer …`` through the CLI in this process, ``python``
and ``echo`` in bash, ``mlayer local-aws`` as its own process, the four ``aws … create-…``
commands as the same boto3 calls, ``echo $?`` as the exit code before it, and the ``python``
block named ``# tickets.py`` written to that file first), THEN every command succeeds (the one
the Tour shows failing fails) and its output matches what is printed, modulo:

- ``…``: a line that is only ``…`` stands for any lines (none included), and ``…`` inside a line
  for any text;
- volatile fields: ports, UUIDs, hex digests (12+ digits), timestamps, durations, decimal
  numbers, dollar amounts, the folder's path (printed as /tmp/tour); sizes (``61.1 MB``) and
  4+ digit integers within 25%; runs of spaces (table widths) as one space.

``build-deps`` uses the repository's build cache (.cache/mlayer, shared with the tests'
``deps_layer_build``): when the layer comes from it, its install/verify/slim/compile/zip progress
lines do not appear, so those expected lines are left out of the comparison (and ``built in N s``
is ``built from the build cache``). The first run on a machine builds with pip for real, which is
why this test is ``slow``. Docker is made unreachable so the builder is pip, as printed. The Tour's
claims about the sink and the dead-letter queue are checked too.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from base64 import b64decode
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlayer.cli import cli

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PRINTED_FOLDER = "/tmp/tour"
CACHED_STEPS = ("  install:", "  verify:", "  slim:", "  compile:", "  zip:")


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


def tour_text() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return text[text.index("## Tour\n") : text.index("### `make demo`")]


def fenced(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", text, flags=re.S | re.M)


def steps_of(text: str) -> list[Step]:
    """Every ``$`` command of the console blocks, with the lines printed under it."""
    steps: list[Step] = []
    for block in fenced(text, "console"):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append(Step(line[2:]))
            elif steps:
                steps[-1].expected.append(line)
    for step in steps:
        while step.expected and not step.expected[-1].strip():
            step.expected.pop()
    return steps


# --- comparing output --------------------------------------------------------------------------

SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?) (B|KB|MB|GB)\b")
BIG_INT = re.compile(r"(?<![\w.:/-])(\d{4,})(?![\w.])")
VOLATILE = [
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<port>"),
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:\+0000|Z)?"), "<time>"),
    (re.compile(r"[0-9a-f]{12,}"), "<sha>"),
    (re.compile(r"built (?:in \d+(?:\.\d+)?s|from the build cache)"), "built <when>"),
    (re.compile(r"(?<![\w.])\d+(?:\.\d+)? ?(?:ms|s)\b"), "<time>"),
    (re.compile(r"Max Memory Used: \d+ MB"), "Max Memory Used: <mb>"),
    (re.compile(r"\$\d+(?:\.\d+)?"), "$<n>"),
]
FLOAT = re.compile(r"(?<![\w.])\d+\.\d+(?![\w.])")  # after sizes: load_ms, probabilities
MUNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


def normalized(line: str) -> tuple[str, list[float]]:
    """The line with volatile fields replaced, and its sizes/big numbers (compared apart)."""
    for pattern, stand_in in VOLATILE:
        line = pattern.sub(stand_in, line)
    numbers: list[float] = []

    def size(m: re.Match) -> str:
        numbers.append(float(m.group(1)) * MUNITS[m.group(2)])
        return "<size>"

    def big(m: re.Match) -> str:
        numbers.append(float(m.group(1)))
        return "<int>"

    line = FLOAT.sub("<num>", BIG_INT.sub(big, SIZE.sub(size, line)))
    return re.sub(r"\s+", " ", line).strip(), numbers


def line_matches(expected: str, actual: str) -> bool:
    want, want_numbers = normalized(expected)
    got, got_numbers = normalized(actual)
    pattern = ".*?".join(re.escape(part) for part in want.split("…"))
    if not re.fullmatch(pattern, got):
        return False
    if "…" in want:
        return True  # the cut may hide numbers: the text is what is compared
    return len(want_numbers) == len(got_numbers) and all(
        abs(w - g) <= 0.25 * max(abs(w), abs(g))
        for w, g in zip(want_numbers, got_numbers, strict=True)
    )


def segments(expected: list[str]) -> tuple[list[list[str]], bool, bool]:
    """Runs of lines between ``…`` lines, and whether the output may have lines before/after."""
    runs: list[list[str]] = [[]]
    for line in expected:
        if line.strip() == "…":
            runs.append([])
        else:
            runs[-1].append(line)
    open_start = bool(expected) and expected[0].strip() == "…"
    open_end = bool(expected) and expected[-1].strip() == "…"
    return [r for r in runs if r], open_start, open_end


def output_matches(expected: list[str], actual: list[str]) -> bool:
    runs, open_start, open_end = segments(expected)
    if not runs:
        return open_start or not [a for a in actual if a.strip()]
    position = 0
    for i, run in enumerate(runs):
        last_start = len(actual) - len(run)
        starts = [position] if i == 0 and not open_start else range(position, last_start + 1)
        found = next(
            (
                s
                for s in starts
                if s + len(run) <= len(actual)
                and all(
                    line_matches(e, a) for e, a in zip(run, actual[s : s + len(run)], strict=True)
                )
            ),
            None,
        )
        if found is None:
            return False
        position = found + len(run)
    return open_end or not [a for a in actual[position:] if a.strip()]


# --- running the commands ----------------------------------------------------------------------

AWS_SETUP = {  # the Tour's aws commands, as the same boto3 calls
    "aws iam create-role --role-name mlayer-role": lambda b: b.client("iam").create_role(
        RoleName="mlayer-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    ),
    "aws kinesis create-stream --stream-name tickets --shard-count 1": lambda b: b.client(
        "kinesis"
    ).create_stream(StreamName="tickets", ShardCount=1),
    "aws dynamodb create-table --table-name predictions": lambda b: b.client(
        "dynamodb"
    ).create_table(
        TableName="predictions",
        AttributeDefinitions=[{"AttributeName": "event_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "event_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    ),
    "aws sqs create-queue --queue-name bad-records": lambda b: b.client("sqs").create_queue(
        QueueName="bad-records"
    ),
}


def local_aws_banner() -> tuple[int, list[str]]:
    """`mlayer local-aws` as its own process: its lines up to "Press Ctrl-C", then Ctrl-C."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlayer.cli", "local-aws"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                break
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return 0, lines


def run_mlayer(args: list[str]) -> tuple[int, list[str]]:
    result = CliRunner().invoke(cli, args)
    return result.exit_code, result.output.splitlines()


def run_step(step: Step, folder: Path, last_code: int) -> tuple[int, list[str]]:
    command = step.command
    if command == "mlayer local-aws":
        return local_aws_banner()
    if command.startswith("mlayer "):
        return run_mlayer(shlex.split(command)[1:])
    if command.startswith("aws "):
        import boto3

        [setup] = [call for prefix, call in AWS_SETUP.items() if command.startswith(prefix)]
        setup(boto3)
        return 0, []
    if command == "echo $?":
        return 0, [str(last_code)]
    python = f"{shlex.quote(sys.executable)} "
    done = subprocess.run(
        ["bash", "-c", re.sub(r"^python ", python, command)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.returncode, (done.stdout + done.stderr).splitlines()


def write_scripts(text: str, folder: Path) -> None:
    """The Tour's python blocks whose first line names their file (``# tickets.py: …``)."""
    for block in fenced(text, "python"):
        name = re.match(r"# ([\w-]+\.py)\b", block)
        assert name, f"a Tour python block must name its file on its first line:\n{block[:80]}"
        (folder / name.group(1)).write_text(block, encoding="utf-8")


@pytest.fixture
def tour_env(gw, tmp_path, monkeypatch):
    """An empty folder on the session's embedded AWS, Docker unreachable, the shared cache."""
    if shutil.which("python3.11") is None:
        pytest.skip("the Tour builds a python3.11 layer: no python3.11 interpreter here")
    folder = tmp_path / "tour"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.setenv(
        "MLAYER_CACHE_DIR", os.environ.get("MLAYER_CACHE_DIR", str(REPO / ".cache" / "mlayer"))
    )
    return folder


def test_the_readme_tour_runs_as_printed(tour_env, gw):
    text = tour_text()
    steps = steps_of(text)
    assert [s.command.split()[1] for s in steps if s.command.startswith("mlayer ")][:3] == [
        "local-aws",
        "init",
        "build-deps",
    ]
    write_scripts(text, tour_env)
    last_code = 0
    for step in steps:
        code, actual = run_step(step, tour_env, last_code)
        actual = [line.replace(str(tour_env), PRINTED_FOLDER) for line in actual]
        expected = step.expected
        if step.command.startswith("mlayer build-deps") and any(
            "cache: found in the build cache" in line for line in actual
        ):
            expected = [line for line in expected if not line.startswith(CACHED_STEPS)]
        fails = any(line.startswith("Error:") for line in expected)
        assert (code != 0) == fails, f"$ {step.command} exited {code}:\n" + "\n".join(actual)
        assert output_matches(expected, actual), (
            f"$ {step.command}\n--- printed in README.md\n"
            + "\n".join(expected)
            + "\n--- got\n"
            + "\n".join(actual)
        )
        last_code = code
    # "The three predictions are in the DynamoDB table, the malformed record in the queue"
    items = gw.client("dynamodb").scan(TableName="predictions")["Items"]
    assert sorted(i["id"]["S"] for i in items if "id" in i) == ["t1", "t2", "t3"]
    sqs = gw.client("sqs")
    url = sqs.get_queue_url(QueueName="bad-records")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    [letter] = [json.loads(m["Body"]) for m in messages]
    assert letter["reason"].startswith("not JSON") and b64decode(letter["data"]) == b"{not json"


def test_the_comparison_honours_cuts_and_volatile_fields():
    printed = [
        "Published arn:x:1 (from s3://b/layers/076397f5bd15….zip).",
        "…",
        "Size: 188.4 MB unzipped, took 2.83s, id 25065eac-32b7-4890-a107-7ace1dd1881a",
    ]
    got = [
        "Published arn:x:1 (from s3://b/layers/9b347be3a9bf6cf7ba9ed2ac96dabc02ec4cbe8d.zip).",
        "anything",
        "Size:   190.1 MB unzipped, took 0.5s, id 11111111-2222-4333-8444-555555555555",
    ]
    assert output_matches(printed, got)
    assert not output_matches(printed, got[:1] + got[2:] + ["an extra line"])
    assert not output_matches(printed, [*got[:2], "Size: 288.4 MB unzipped, took 1s, id x"])
    assert not output_matches(["a", "b"], ["a", "c", "b"])  # no cut: lines are consecutive
