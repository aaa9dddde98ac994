"""The results of publish-model --shadow and `mlayer shadow status|promote|stop`: ``to_dict``
is the --json contract (docs/FORMATS.md, "Shadow"), ``render`` the text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlayer.publishing.models import RelinkOutcome
from mlayer.results.report import human_bytes


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.2%}"


def _num(x: float | None, unit: str = "") -> str:
    return "-" if x is None else f"{x:.4g}{unit}"


def reading_line(r: Any, label: str) -> str:
    parts = [f"{label}: {r.records_compared} records compared in {r.batches} batches"]
    if r.agreement is not None:
        parts.append(f"agreement {_pct(r.agreement)}")
    if r.mean_abs_diff is not None:
        parts.append(f"mean |diff| {_num(r.mean_abs_diff)}, p95 |diff| <= {_num(r.p95_abs_diff)}")
    if r.live_predict_ms is not None:
        parts.append(
            f"predict {_num(r.live_predict_ms, ' ms')} live, "
            f"{_num(r.shadow_predict_ms, ' ms')} shadow per batch"
        )
    if r.extra_usd_per_million is not None:
        parts.append(f"extra ${r.extra_usd_per_million:.4f} per 1M records")
    if r.dead_letters:
        parts.append(
            "candidate dead letters: "
            + ", ".join(f"{k} {v}" for k, v in sorted(r.dead_letters.items()))
        )
    if r.disabled:
        parts.append(
            "disabled in containers: "
            + ", ".join(f"{k} {v}" for k, v in sorted(r.disabled.items()))
        )
    return "; ".join(parts)


def state_line(shadow: Any) -> str:
    return (
        f"Shadow of {shadow.function}: {shadow.model_version} ({shadow.layer_version_arn}) "
        f"beside {shadow.live_model_version}, {shadow.status}, sample {shadow.sample:g}, "
        f"since {shadow.started_at}" + (f", until {shadow.ended_at}" if shadow.ended_at else "")
    )


@dataclass(frozen=True)
class ShadowAttachResult:
    """publish-model --shadow: what was published, how it fits, and the shadow's state."""

    publish: Any
    state: Any | None
    fit: Any
    replaced: Any | None = None
    outcome: RelinkOutcome | None = None
    dry_run: bool = False

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(getattr(self.publish, "warnings", ()) or ())

    def to_dict(self) -> dict:
        return {
            **self.publish.to_dict(),
            "shadow": self.state.to_dict() if self.state else None,
            "shadow_fit": self.fit.to_dict(),
            "shadow_replaced": self.replaced.model_version if self.replaced else None,
            "function_version": self.outcome.function_version if self.outcome else None,
            "dry_run": self.dry_run,
        }

    def render(self) -> str:
        f = self.fit
        lines = [
            self.publish.render(),
            f"Fits beside the live model: /tmp holds {human_bytes(f.tmp_bytes)} for both "
            f"({f.tmp_mb} MB with the margin) of {f.ephemeral_mb} MB; both models' artifacts "
            f"{human_bytes(f.memory_bytes)} for {f.memory_mb} MB of memory.",
        ]
        if self.state is None:
            lines.append("Dry run: nothing was published or attached.")
        else:
            lines.append(state_line(self.state))
            if self.outcome and self.outcome.function_version:
                lines.append(
                    f"Alias {self.outcome.alias} -> version {self.outcome.function_version}"
                )
        if self.replaced:
            lines.append(f"It replaces the shadow {self.replaced.model_version}.")
        return "\n".join(lines)


@dataclass(frozen=True)
class ShadowStatusResult:
    """`mlayer shadow status`: the state, whether the function carries it, the readings."""

    function: str
    state: Any | None
    attached: bool = False
    total: Any | None = None
    windows: tuple = ()
    warnings: tuple[str, ...] = ()
    window_s: int = 3600

    def to_dict(self) -> dict:
        return {
            "function": self.function,
            "shadow": self.state.to_dict() if self.state else None,
            "attached": self.attached,
            "total": self.total.to_dict() if self.total else None,
            "windows": [w.to_dict() for w in self.windows],
            "window_seconds": self.window_s,
            "warnings": list(self.warnings),
        }

    def render(self) -> str:
        if self.state is None:
            return f"{self.function} has never had a shadow."
        lines = [state_line(self.state)]
        if self.total is not None:
            lines.append(reading_line(self.total, "Total"))
        for w in self.windows:
            if w.records_compared or w.dead_letters or w.disabled:
                lines.append("  " + reading_line(w, f"{w.start}..{w.end}"))
        return "\n".join(lines)


@dataclass(frozen=True)
class ShadowChangeResult:
    """`mlayer shadow promote|stop`."""

    action: str
    state: Any
    dry_run: bool = False
    outcome: RelinkOutcome | None = None
    relink: Any | None = None  # promote: the RollbackResult of the relink

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(getattr(self.relink, "warnings", ()) or ())

    def to_dict(self) -> dict:
        version = self.outcome.function_version if self.outcome else None
        return {
            "action": self.action,
            "dry_run": self.dry_run,
            "shadow": self.state.to_dict(),
            "relink": self.relink.to_dict() if self.relink is not None else None,
            "function_version": version,
        }

    def render(self) -> str:
        lines = []
        if self.relink is not None:
            lines.append(self.relink.render())
        if self.dry_run:
            lines.append(f"Dry run: the shadow {self.state.model_version} was not changed.")
        else:
            lines.append(state_line(self.state))
        return "\n".join(lines)
