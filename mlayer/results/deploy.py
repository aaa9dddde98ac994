"""The result of deploy-function: ``to_dict`` is its --json contract, ``render`` its text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlayer.deploying.deploy_plan import AliasPlan, Change, FunctionPlan, TriggerPlan
from mlayer.deploying.file_trigger_plan import FileTriggerPlan
from mlayer.policy.role_plan import RolePlan


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 90 else text[:87] + "..."


def _change_lines(changes: Any, create: bool) -> list[str]:
    """``  key: before -> after`` a change (only ``after`` for what is being created)."""
    return [
        f"  {c.key}: {'' if create else _short(c.before) + ' -> '}{_short(c.after)}"
        for c in changes
    ]


def _action(create: bool, changed: bool) -> str:
    return "created" if create else "updated" if changed else "unchanged"


def _changes_json(changes: Sequence[Change]) -> list[dict[str, Any]]:
    return [{"key": c.key, "before": c.before, "after": c.after} for c in changes]


@dataclass(frozen=True)
class DeployResult:
    function: FunctionPlan
    trigger: TriggerPlan | None
    applied: bool
    dry_run: bool
    function_arn: str = ""  # the live function's ARN ("" while it does not exist)
    alias_arn: str = ""
    mapping_uuid: str = ""
    code_sha256: str = ""
    code_size: int = 0
    warnings: tuple[str, ...] = ()  # what --allow-version-mismatch let through (compat.py)
    alias: AliasPlan | None = None  # with [model] alias: publish + move, provisioned concurrency
    role: RolePlan | None = None  # [function] role = "create": mlayer-<function> and its policy
    files: FileTriggerPlan | None = None  # [trigger] s3: the bucket's notifications, permission

    @property
    def changed(self) -> bool:
        return (
            self.function.changed
            or bool(self.trigger and self.trigger.changed)
            or bool(self.alias and self.alias.changed)
            or bool(self.role and self.role.changed)
            or bool(self.files and self.files.changed)
        )

    def _alias_json(self) -> dict[str, Any] | None:
        a = self.alias
        if a is None:
            return None
        return {
            "name": a.alias,
            "action": "created" if a.version is None else "moved" if a.publish else "unchanged",
            "version_before": a.version,
            "provisioned_concurrency": {"before": a.pc_before, "after": a.pc_after},
            "changes": _changes_json(a.changes()),
        }

    def _alias_lines(self, verb: str) -> list[str]:
        a = self.alias
        if a is None or not a.changed:
            return []
        lines = []
        if a.publish:
            what = "create" if a.version is None else f"move (from version {a.version})"
            lines.append(f"{verb} publish $LATEST as a version and {what} alias {a.alias}.")
        if a.pc_changed:
            lines.append(
                f"{verb} set the provisioned concurrency of alias {a.alias}: "
                f"{a.pc_before} -> {a.pc_after}"
            )
        return lines

    def to_dict(self) -> dict[str, Any]:
        """The --json document; its keys are stable (a dry run says what it would do)."""
        fn, trig = self.function, self.trigger
        trigger = None
        if trig is not None:
            trigger = {
                "action": _action(trig.create, trig.changed),
                "uuid": self.mapping_uuid or trig.uuid or "",
                "stream_arn": trig.stream_arn,
                "target": trig.target,
                "settings": trig.desired.as_dict(),
                "changes": _changes_json(trig.changes),
                "notes": list(trig.notes),
            }
        return {
            "function_name": fn.name,
            "function_arn": self.function_arn,
            "alias_arn": self.alias_arn,
            "action": _action(fn.create, fn.changed),
            "changed": self.changed,
            "dry_run": self.dry_run,
            "applied": self.applied,
            "code": {
                "sha256": self.code_sha256,
                "size": self.code_size,
                "changed": fn.code_changed,
            },
            "configuration": fn.desired.as_dict(),
            "changes": _changes_json(fn.changes),
            "alias": self._alias_json(),
            "trigger": trigger,
            "role": self.role.to_dict() if self.role else None,
            "file_trigger": self.files.to_dict() if self.files else None,
            "notes": [*fn.notes, *self.warnings],
        }

    def render(self) -> str:
        fn, trig = self.function, self.trigger
        notes = [f"  note: {n}" for n in (*fn.notes, *(trig.notes if trig else ()))]
        if not self.changed:
            lines = [f"Nothing to change: {fn.name} and its trigger are as configured."]
            if trig is None:
                lines = [f"Nothing to change: {fn.name} is as configured (no [trigger] stream)."]
            return "\n".join(lines + notes)
        verb = "Would" if self.dry_run else "Did"
        lines = self.role.render_lines(verb) if self.role else []
        if fn.create:
            lines.append(f"{verb} create function {fn.name} ({self.code_size} bytes of code):")
        elif fn.changed:
            lines.append(f"{verb} update function {fn.name}:")
        else:
            lines.append(f"Function {fn.name}: unchanged.")
        if fn.code_changed and not fn.create:
            lines.append(f"  code -> sha256 {self.code_sha256[:12]} ({self.code_size} bytes)")
        lines += _change_lines(fn.changes, fn.create)
        lines += self._alias_lines(verb)
        if trig is None:
            lines.append("No [trigger] stream: no Kinesis trigger.")
        elif trig.create:
            lines.append(f"{verb} create the trigger {trig.stream_arn} -> {trig.target}:")
        elif trig.changes:
            lines.append(f"{verb} update the trigger {trig.uuid}:")
        else:
            lines.append(f"Trigger {trig.uuid}: unchanged.")
        if trig is not None:
            lines += _change_lines(trig.changes, trig.create)
        lines += self.files.render_lines(verb) if self.files else []
        lines += notes
        if self.dry_run:
            lines.append("Dry run: nothing was changed.")
        return "\n".join(lines)
