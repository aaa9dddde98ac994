"""retries.Deadline and Retry.rounds: retries that stop before the invocation's deadline.

A fake Lambda context and a fake clock share one time line; sleeping and each round's work
move it. GIVEN any remaining time and any round durations, THEN the first attempt is made,
no retry starts that would leave less than the reserve after its pause and a round as long as
the last one, and a write that keeps failing reports every item it could not write.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "function"))

from mlayer_function import deadletters, sinks  # noqa: E402
from mlayer_function.delivery import ChunkedSink, Prepared  # noqa: E402
from mlayer_function.retries import Deadline, Retry  # noqa: E402


class TimeLine:
    """Seconds since the invocation began; a context whose deadline is ``budget_ms`` away."""

    def __init__(self, budget_ms: float) -> None:
        self.now = 0.0
        self.budget_ms = budget_ms
        self.reads = 0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds

    def get_remaining_time_in_millis(self) -> int:
        self.reads += 1
        return int(self.budget_ms - self.now * 1000)


def retry_on(line: TimeLine, attempts: int = 6) -> Retry:
    return Retry(attempts=attempts, sleep=line.sleep, clock=line.clock, deadline=Deadline())


def run_rounds(retry: Retry, line: TimeLine, durations: list[float]) -> tuple[list, object]:
    """Every round fails after its duration; returns (left_ms at each round's start, rounds)."""
    rounds = retry.rounds()
    starts = []
    for attempt in rounds:
        starts.append(line.budget_ms - line.now * 1000)
        line.now += durations[attempt % len(durations)]
    return starts, rounds


@settings(max_examples=150, deadline=None)
@given(
    budget_ms=st.integers(min_value=0, max_value=900_000),
    durations=st.lists(st.floats(min_value=0, max_value=5), min_size=1, max_size=8),
    attempts=st.integers(min_value=1, max_value=10),
)
def test_no_retry_starts_that_would_eat_into_the_reserve(budget_ms, durations, attempts):
    line = TimeLine(budget_ms)
    retry = retry_on(line, attempts)
    retry.deadline.arm(line)
    reserve = retry.deadline.reserve_ms
    assert reserve == max(2000, 0.05 * budget_ms)

    starts, rounds = run_rounds(retry, line, durations)

    assert rounds.made == len(starts) >= 1  # the first attempt is always made
    for n in range(1, len(starts)):
        last = durations[(n - 1) % len(durations)] * 1000
        # the decision saw at least the reserve beyond this retry's pause and the last round
        assert starts[n] >= reserve + last - 1  # 1 ms: the context's int milliseconds
    if rounds.made < attempts:
        assert "stopped retrying with" in rounds.note and f"keeping {reserve:.0f} ms" in rounds.note
    else:
        assert rounds.note == ""
    assert line.reads <= rounds.made + 1  # one context read per retry round, none per record


@settings(max_examples=100, deadline=None)
@given(
    budget_ms=st.integers(min_value=0, max_value=120_000),
    duration=st.floats(min_value=0, max_value=3),
)
def test_with_even_rounds_every_retry_ends_before_the_reserve(budget_ms, duration):
    line = TimeLine(budget_ms)
    retry = retry_on(line, attempts=50)
    retry.deadline.arm(line)
    starts, _ = run_rounds(retry, line, [duration])
    for start in starts[1:]:
        assert start - duration * 1000 >= retry.deadline.reserve_ms - 1


@given(durations=st.lists(st.floats(min_value=0, max_value=100), min_size=1, max_size=4))
def test_without_a_context_every_attempt_is_made(durations):
    line = TimeLine(0)  # no time at all, but nobody said so
    retry = retry_on(line, attempts=4)
    retry.deadline.arm(None)
    starts, rounds = run_rounds(retry, line, durations)
    assert rounds.made == 4 and rounds.note == ""
    assert line.reads == 0


class Throttled(ChunkedSink):
    """Every call throttled, taking ``seconds`` on the time line."""

    name = "fake://throttled"
    max_count = 25

    def __init__(self, retry: Retry, line: TimeLine, seconds: float, warn) -> None:
        super().__init__(retry, warn)
        self.line, self.seconds, self.calls = line, seconds, 0

    def _send(self, chunk):
        self.calls += 1
        self.line.now += self.seconds
        error = Exception("slow down")
        error.response = {"Error": {"Code": "ThrottlingException"}}
        raise error


@settings(max_examples=60, deadline=None)
@given(
    budget_ms=st.integers(min_value=500, max_value=60_000),
    seconds=st.floats(min_value=0.001, max_value=1.0),
)
def test_a_throttled_sink_reports_every_item_and_says_it_stopped(budget_ms, seconds):
    line = TimeLine(budget_ms)
    warnings: list[str] = []
    retry = retry_on(line)
    sink = Throttled(retry, line, seconds, warnings.append)
    retry.deadline.arm(line)
    items = [Prepared(f"s:{n}", n, 1) for n in range(60)]  # three chunks a round

    delivery = sink.send(items)

    assert delivery.retry == {item.event_id for item in items} and delivery.refused == {}
    assert sink.calls % 3 == 0 and 3 <= sink.calls <= 3 * retry.attempts
    (warning,) = warnings
    assert warning.startswith("fake://throttled: 60 not written after retries")
    assert f"({sink.calls // 3} attempts, " in warning
    if sink.calls < 3 * retry.attempts:
        assert "stopped retrying with" in warning


class Puts:
    """An S3 client whose put_object is always throttled, each call taking a second."""

    def __init__(self, line: TimeLine) -> None:
        self.line, self.calls = line, 0

    def put_object(self, **_):
        self.calls += 1
        self.line.now += 1
        error = Exception("slow down")
        error.response = {"Error": {"Code": "SlowDown"}}
        raise error


def test_s3_results_and_overflow_stop_retrying_for_the_deadline():
    line = TimeLine(4000)
    retry = retry_on(line)
    retry.deadline.arm(line)
    client, warnings = Puts(line), []
    sink = sinks.S3Sink(client, "b", "p/", retry, warnings.append)
    delivery = sink.send([sink.prepare({"event_id": "e1", "x": 1})])
    assert delivery.retry == {"e1"} and client.calls == 1  # 3 s left: a 1 s round would end < 2 s
    assert "slow down" in warnings[0] and "stopped retrying with 3000 ms" in warnings[0]

    store = deadletters.OverflowStore(client, "b", "dl/", retry)
    with pytest.raises(deadletters.OverflowFailed, match="stopped retrying"):
        store.put("e1", "data")
    assert client.calls == 2


def test_the_function_clients_make_one_http_attempt_with_short_timeouts():
    config = sinks.CLIENT_CONFIG
    assert config["retries"] == {"mode": "standard", "total_max_attempts": 1}
    # A call in flight when the reserve begins can take connect + read at most: stay within
    # the reserve's floor plus one of the rounds the deadline measures.
    assert config["connect_timeout"] + config["read_timeout"] <= 7
    client = sinks.make_client("dynamodb")
    assert client.meta.config.retries["total_max_attempts"] == 1
    assert client.meta.config.read_timeout == config["read_timeout"]
