"""What a local poll did: each batch's progress line and the totals, for text and --json."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class BatchProgress:
    """One batch read from a shard, after it was handled completely."""

    number: int
    shard_id: str
    first_sequence: str
    last_sequence: str
    records: int
    invocations: int = 0
    retries: int = 0
    bisections: int = 0
    succeeded: int = 0
    gave_up: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        text = (
            f"batch {self.number}: {self.shard_id} seq {self.first_sequence}..{self.last_sequence} "
            f"{self.records} records -> {self.succeeded} ok"
        )
        extras = [
            f"{n} {label}"
            for n, label in (
                (self.gave_up, "given up"),
                (self.retries, "retries"),
                (self.bisections, "bisections"),
            )
            if n
        ]
        extras.append(f"{self.invocations} invocation{'s' * (self.invocations != 1)}")
        return f"{text}, {', '.join(extras)} ({self.seconds:.2f}s)"


@dataclass
class PollResult:
    stream: str
    batches: list[BatchProgress] = field(default_factory=list)
    failure_records: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: dict[str, str] = field(default_factory=dict)
    failures_sent_to: list[str] = field(default_factory=list)  # where each record went

    @property
    def records(self) -> int:
        return sum(b.records for b in self.batches)

    @property
    def succeeded(self) -> int:
        return sum(b.succeeded for b in self.batches)

    @property
    def gave_up(self) -> int:
        return sum(b.gave_up for b in self.batches)

    @property
    def invocations(self) -> int:
        return sum(b.invocations for b in self.batches)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "records": self.records,
            "succeeded": self.succeeded,
            "gave_up": self.gave_up,
            "invocations": self.invocations,
            "batches": [b.__dict__ for b in self.batches],
            "failure_records": self.failure_records,
            "failures_sent_to": self.failures_sent_to,
            "checkpoints": self.checkpoints,
        }

    @property
    def ok(self) -> bool:
        """False when records were given up (as Lambda's mapping would, after retries or age)."""
        return self.gave_up == 0

    def render(self) -> str:
        """The totals: each batch's line was shown as it happened (the progress callback)."""
        text = (
            f"{len(self.batches)} batches, {self.records} records: {self.succeeded} ok, "
            f"{self.gave_up} given up, {self.invocations} invocations."
        )
        if self.gave_up:
            where = sorted({d.split("/aws/lambda/")[0] for d in self.failures_sent_to})
            text += (
                f"\nGave up {self.gave_up} record{'s' * (self.gave_up != 1)} in "
                f"{len(self.failure_records)} on-failure record(s), "
                + (
                    f"written to {', '.join(where)}."
                    if where
                    else "written nowhere: no on-failure destination ([trigger] on_failure)."
                )
            )
        return text
