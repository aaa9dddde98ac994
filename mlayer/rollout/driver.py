"""Driving a rollout: set the split, watch each step, judge it, raise the weight or roll back.

Every alias write is preceded by a read: the split must be the one this rollout set (else
someone else changed it: the rollout stops, named, and writes nothing), and the write carries
that read's RevisionId (AWS refuses it if the alias moved in between). The state file is
written after every alias change, so a killed CLI leaves a rollout `resume` can continue.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from mlayer.errors import AwsError, ConflictError, MlayerError, UsageError
from mlayer.gateway.routing import AliasRouting, read_routing, set_routing
from mlayer.rollout.gates import Thresholds, judge
from mlayer.rollout.health import HealthReader
from mlayer.rollout.plan import METRIC_PERIOD_S, step_wait_s, step_weights
from mlayer.rollout.state import (
    CorruptStateError,
    RolloutState,
    StepRecord,
    parse_state,
    state_key,
)


class RolloutFailed(MlayerError):
    """A gate failed (or traffic never came): the alias is back on the old version."""

    def __init__(self, message: str, hint: str, state: RolloutState) -> None:
        super().__init__(message, hint)
        self.state = state


class RolloutStopped(ConflictError):
    """Someone else changed the alias: the rollout stopped without touching it."""


class WriteUnsettled(AwsError):
    """An alias write's answer was lost and the alias is unchanged: the rollout is where it
    was (still running), for `rollout resume`."""


# botocore's failures that leave a sent write's outcome unknown (gateway/translate.py's codes)
LOST_ANSWER = ("ReadTimeoutError", "ConnectionClosedError", "EndpointConnectionError")
PROVISIONED = "Provisioned Concurrency"  # AWS: "Alias with weights can not be used with ..."


class ProvisionedConcurrencyRefused(UsageError):
    """AWS refused weights on the alias: it has provisioned concurrency (set out of band)."""

    def __init__(self, state: RolloutState, exc: AwsError) -> None:
        super().__init__(
            f"AWS refused weights on alias {state.alias} of {state.function}: it has provisioned "
            f"concurrency ({exc.message}). The alias still routes all traffic to version "
            f"{state.old_version}; version {state.new_version} is published (and $LATEST carries "
            "it) but has none.",
            f"Remove the alias's provisioned concurrency for the rollout (`aws lambda "
            f"delete-provisioned-concurrency-config --function-name {state.function} "
            f"--qualifier {state.alias}`), or publish with --rollout all-at-once.",
        )


@dataclass
class Rollouts:
    """The side effects a rollout needs, injected: gateway, bucket, wall clock, sleep."""

    gw: Any
    bucket: str
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    metric_period_s: float = METRIC_PERIOD_S
    progress: Callable[[str], None] = lambda _line: None

    # -- the state file ---------------------------------------------------------------------
    def load(self, function: str, alias: str) -> RolloutState | None:
        """The alias's rollout, None when none was recorded; CorruptStateError when unreadable."""
        key = state_key(function, alias)
        where = f"s3://{self.bucket}/{key}"
        try:
            doc = self.gw.get_json_if_exists(self.bucket, key)
        except ValueError as exc:  # not JSON (json.JSONDecodeError, UnicodeDecodeError)
            raise CorruptStateError(where, alias, f"not JSON ({exc})") from None
        return None if doc is None else parse_state(doc, where, alias)

    def clear_corrupt(self, function: str, alias: str) -> str:
        """`rollout abort` on a state file no one can read: delete it, say which."""
        key = state_key(function, alias)
        self.gw.delete_object(self.bucket, key)
        return f"s3://{self.bucket}/{key}"

    def save(self, state: RolloutState) -> RolloutState:
        self.gw.put_json(self.bucket, state.key, state.to_dict())
        return state

    # -- start, drive, abort ----------------------------------------------------------------
    def start(
        self,
        current: AliasRouting,
        new_version: str,
        *,
        strategy: str,
        percent: float,
        interval_s: float,
        thresholds: Thresholds,
        models: tuple[str, str] = ("", ""),
        classes: tuple[str, ...] = (),
    ) -> RolloutState:
        """Send the first step's share to ``new_version``; the primary stays where it is."""
        weights = step_weights(strategy, percent)
        now = self.clock()
        state = RolloutState(
            function=current.function,
            alias=current.alias,
            strategy=strategy,
            old_version=current.version,
            new_version=new_version,
            weights=weights,
            interval_s=interval_s,
            thresholds=thresholds,
            started_at=now,
            updated_at=now,
            step_started_at=now,
            old_model_version=models[0],
            new_model_version=models[1],
            classes=tuple(classes),
        )
        try:
            self._write(state, current, current.version, {new_version: weights[0]})
        except WriteUnsettled as exc:  # no state file yet: nothing to resume
            raise WriteUnsettled(
                f"Rollout of {state.function}:{state.alias}: the first step's alias write was "
                f"lost ({exc.code}), and the alias still routes all traffic to version "
                f"{current.version}: the rollout did not start (no state file was written).",
                "Publish again with --rollout: the published function version is reused.",
                exc.code,
            ) from None
        self.progress(f"{state.alias}: {weights[0]:.0%} of the traffic on version {new_version}")
        return self.save(state)

    def drive(self, state: RolloutState, reader: HealthReader) -> RolloutState:
        """Watch and judge steps until the rollout is promoted (or raises: failed, stopped)."""
        state = self.reconcile(state)
        while state.active:
            state = self.step(state, reader)
        return state

    def step(self, state: RolloutState, reader: HealthReader) -> RolloutState:
        """Wait out the step (interval + one metric period), read, judge, act."""
        due = state.updated_at + step_wait_s(state.interval_s, self.metric_period_s)
        if (left := due - self.clock()) > 0:
            self.sleep(left)
        routing = self._expect(state)
        now = self.clock()
        health = reader.read([state.new_version, state.old_version], state.step_started_at, now)
        new, old = health[state.new_version], health[state.old_version]
        verdict = judge(new, old, state.thresholds, state.extensions)
        record = StepRecord(
            state.step,
            state.weight,
            state.step_started_at,
            now,
            verdict.outcome,
            new,
            old,
            verdict.readings,
        )
        if verdict.outcome == "wait":
            self.progress(f"{state.alias}: not enough traffic yet, watching again")
            return self.save(state.extended(record, now))
        if verdict.outcome == "fail":
            self._write(state, routing, state.old_version, {})
            failed = verdict.failed
            done = self.save(state.finished("rolled_back", _reason(failed), now, record))
            raise RolloutFailed(
                f"Rollout of {state.function}:{state.alias} rolled back at {state.weight:.0%}: "
                f"{_reason(failed)}. All traffic is on version {state.old_version} again.",
                "See `mlayer rollout status` for both versions' readings; fix the model or "
                "raise the [rollout] threshold if the gate is too strict.",
                done,
            )
        nxt = state.advanced(record, now)
        if nxt.step >= len(nxt.weights):
            self._write(state, routing, state.new_version, {})
            self.progress(f"{state.alias}: promoted, all traffic on version {state.new_version}")
            return self.save(nxt.finished("promoted", "", now))
        self._write(state, routing, state.old_version, {state.new_version: nxt.weight})
        self.progress(f"{state.alias}: {nxt.weight:.0%} of the traffic on {state.new_version}")
        return self.save(nxt)

    def abort(self, state: RolloutState, reason: str = "aborted") -> RolloutState:
        """All traffic back on the old version; the state file says why."""
        state = self.reconcile(state)
        if not state.active:
            return state
        routing = self._expect(state)
        self._write(state, routing, state.old_version, {})
        return self.save(state.finished("aborted", reason, self.clock()))

    # -- the alias, read and written -------------------------------------------------------
    def reconcile(self, state: RolloutState) -> RolloutState:
        """After an interruption: the alias may hold the write the CLI made before it died."""
        if not state.active:
            return state
        routing = read_routing(self.gw, state.function, state.alias)
        if routing is None:
            return self._stopped(state, "the alias no longer exists")
        now = self.clock()
        if routing.version == state.new_version and not routing.weights:
            return self.save(state.finished("promoted", "", now))
        if routing.version == state.old_version and not routing.weights:
            return self.save(state.finished("rolled_back", "found back on the old version", now))
        if routing.version == state.old_version and set(routing.weights) == {state.new_version}:
            weight = routing.weights[state.new_version]
            if weight in state.weights and state.weights.index(weight) != state.step:
                step = state.weights.index(weight)
                return self.save(
                    RolloutState.from_dict(
                        {
                            **state.to_dict(),
                            "step": step,
                            "step_started_at": now,
                            "updated_at": now,
                            "extensions": 0,
                        }
                    )
                )
        return state

    def _expect(self, state: RolloutState) -> AliasRouting:
        """The alias as this rollout left it, or stop (named) without writing."""
        routing = read_routing(self.gw, state.function, state.alias)
        expected = AliasRouting(
            state.function, state.alias, state.old_version, {state.new_version: state.weight}
        )
        if routing is None or not routing.same_split(expected):
            found = "gone" if routing is None else _split(routing)
            self._stopped(state, f"it now routes {found}, not {_split(expected)}")
        return routing

    def _write(
        self, state: RolloutState, read: AliasRouting, version: str, weights: dict[str, float]
    ) -> AliasRouting:
        """Set the split, guarded by the RevisionId read; an answer lost or refused is settled
        by what the alias holds afterwards (``_settle``), never by writing again blind."""
        target = AliasRouting(state.function, state.alias, version, dict(weights))
        try:
            return set_routing(
                self.gw, state.function, state.alias, version, weights, read.revision_id
            )
        except ConflictError as exc:  # PreconditionFailed: a retry of ours, or someone else
            return self._settle(state, read, target, exc)
        except AwsError as exc:
            if weights and PROVISIONED in exc.message:
                raise ProvisionedConcurrencyRefused(state, exc) from None
            if exc.code not in LOST_ANSWER:
                raise
            return self._settle(state, read, target, exc)

    def _settle(
        self, state: RolloutState, read: AliasRouting, target: AliasRouting, exc: AwsError
    ) -> AliasRouting:
        """After a write whose answer was lost: the alias holding the target means it landed
        (go on); holding what was read means nothing changed (stop, still running, for
        `rollout resume`); anything else is someone else's change (stop, named)."""
        now = read_routing(self.gw, state.function, state.alias)
        if now is not None and now.same_split(target):
            self.progress(f"{state.alias}: the write's answer was lost, but it landed; going on")
            return now
        if now is not None and now.same_split(read) and not isinstance(exc, ConflictError):
            raise WriteUnsettled(
                f"Rollout of {state.function}:{state.alias}: the alias write's answer was lost "
                f"({exc.message}), and the alias still routes {_split(now)}: nothing changed. "
                "The rollout is still running where it was.",
                "`mlayer rollout resume` tries again (or `mlayer rollout abort`).",
                exc.code,
            )
        why = "gone" if now is None else _split(now)
        self._stopped(state, f"AWS refused the write ({exc.message}); it now routes {why}")

    def _stopped(self, state: RolloutState, why: str) -> NoReturn:  # saves, then raises
        self.save(
            state.finished("stopped", f"the alias was changed by someone else: {why}", self.clock())
        )
        raise RolloutStopped(
            f"Rollout of {state.function}:{state.alias} stopped: the alias was changed by "
            f"someone else ({why}). mlayer left it as it is.",
            "Look at the alias (`mlayer status`); publish again to start a new rollout.",
            "Changed",
        )


def _split(routing: AliasRouting) -> str:
    extra = "".join(f" + {v} at {w:.0%}" for v, w in routing.weights.items())
    return f"version {routing.version}{extra}"


def _reason(reading: Any) -> str:
    if reading is None:
        return "failed"
    if reading.gate == "traffic":
        return (
            f"not enough traffic (gate traffic: {reading.new:g} records on the new version, "
            f"{reading.old:g} on the old, min_records {reading.threshold:g})"
        )
    detail = f"; {reading.detail}" if reading.detail else ""
    return (
        f"gate {reading.gate} failed: new {reading.new:.4g}, old {reading.old:.4g}, "
        f"threshold {reading.threshold:g}{detail}"
    )
