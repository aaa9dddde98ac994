"""An alias with weights, served as Lambda serves it: one version per invocation (per batch from
a stream), each version run with its own configuration (its layers, its environment), each
invocation's metrics published as CloudWatch would hold them: gathered, and put at most every
``flush_s`` (and when the router closes), each datum with its invocation's own timestamp, so a
poll of 300 batches makes a few PutMetricData calls rather than 600 (CloudWatch itself shows
a metric a while after it happened).

moto stores an alias's RoutingConfig and ignores it; this is where it is applied.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from mlayer.gateway.metrics import MetricDatum
from mlayer.gateway.routing import read_routing
from mlayer.local.metrics_out import invocation_data, publish_data


def split_qualifier(function: str) -> tuple[str, str | None]:
    """`name:qualifier` (a version, $LATEST or an alias) -> (name, qualifier); an ARN too."""
    parts = function.split(":")
    if function.startswith("arn:"):
        return parts[6], parts[7] if len(parts) > 7 else None
    return (parts[0], parts[1]) if len(parts) == 2 else (function, None)


def is_alias(qualifier: str | None) -> bool:
    return bool(qualifier) and qualifier != "$LATEST" and not str(qualifier).isdigit()


def pick_version(primary: str, weights: dict[str, float], draw: float) -> str:
    """The version a draw in [0, 1) lands on: each additional version takes its weight's share
    of [0, 1) from the bottom, the primary the rest."""
    edge = 0.0
    for version, weight in sorted(weights.items()):
        edge += weight
        if draw < edge:
            return version
    return primary


class AliasRouter:
    """Warm emulators per version behind one alias, chosen per call by the alias's weights."""

    def __init__(
        self,
        gw: Any,
        function: str,
        alias: str,
        make_emulator: Callable[[str], Any],
        *,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        publish: bool = True,
        refresh_s: float = 1.0,
        flush_s: float = 1.0,
    ) -> None:
        """``refresh_s``: the alias's split is re-read at most this often (Lambda too applies
        a new RoutingConfig within moments, not at the next request), so routing costs no
        round trip per invocation."""
        self.gw, self.function, self.alias = gw, function, alias
        self.make_emulator = make_emulator
        self.rng = rng or random.Random()
        self.clock = clock
        self.publish = publish
        self.emulators: dict[str, Any] = {}
        self.served: dict[str, int] = {}
        self.refresh_s = refresh_s
        self._split: tuple[str, dict[str, float]] | None = None
        self._read_at = -float("inf")
        self.flush_s = flush_s
        self._pending: list[tuple[str, MetricDatum]] = []
        self._flushed_at = time.monotonic()

    def choose(self) -> str:
        """Draw a version by the alias's split (re-read when older than ``refresh_s``: it
        moves during a rollout)."""
        now = time.monotonic()
        if self._split is None or now - self._read_at >= self.refresh_s:
            routing = read_routing(self.gw, self.function, self.alias)
            if routing is None:
                raise LookupError(f"alias {self.alias} of {self.function} does not exist")
            self._split, self._read_at = (routing.version, dict(routing.weights)), now
        primary, weights = self._split
        return pick_version(primary, weights, self.rng.random())

    def emulator(self, version: str) -> Any:
        if version not in self.emulators:
            emulator = self.make_emulator(version)
            emulator.__enter__()
            self.emulators[version] = emulator
        return self.emulators[version]

    def invoke(self, event: Any, version: str | None = None) -> tuple[str, Any]:
        """One invocation on the chosen (or given) version: (version, InvokeResult)."""
        version = version or self.choose()
        stamp = self.clock()
        result = self.emulator(version).invoke(event)
        self.served[version] = self.served.get(version, 0) + 1
        if self.publish:
            self._pending += invocation_data(self.function, self.alias, version, result, stamp)
            if time.monotonic() - self._flushed_at >= self.flush_s:
                self.flush()
        return version, result

    def flush(self) -> None:
        """Put the metrics gathered since the last flush."""
        pending, self._pending = self._pending, []
        self._flushed_at = time.monotonic()
        publish_data(self.gw, pending)

    @property
    def cold_starts(self) -> int:
        return sum(e.cold_starts for e in self.emulators.values())

    def close(self) -> None:
        try:
            self.flush()
        finally:
            for emulator in self.emulators.values():
                emulator.close()
            self.emulators.clear()

    def __enter__(self) -> AliasRouter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
