"""The result of status: ``to_dict`` is its --json contract, ``render`` its text table."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from mlayer.results.report import human_bytes, table


@dataclass(frozen=True)
class StatusLayer:
    arn: str
    name: str | None
    version: int | None
    role: str  # deps | model | other
    zipped_size: int | None
    unzipped_size: int
    exact: bool
    label: str | None = None
    size_known: bool = True  # False: another account's layer the embedded AWS cannot read


@dataclass(frozen=True)
class StatusResult:
    function: str
    state: str | None
    last_update_status: str | None
    runtime: str | None
    architectures: tuple[str, ...]
    code_size: int
    layers: tuple[StatusLayer, ...]
    total_unzipped: int
    budget_left: int
    max_layers: int
    limit_bytes: int = 0
    model_store: str | None = None  # where the live model's artifacts are: layer | s3 | mixed
    model_trusted_globals: tuple[str, ...] = ()  # the live model's --trust globals (manifest)
    s3_objects: tuple[dict, ...] = ()
    s3_permission: dict | None = None  # {action, resources, role, granted: yes | no | unknown}
    # What `mlayer policy --function` needs that the role's policies do not grant ({sid, action,
    # resource, decision}); None: the role's policies could not be read here.
    role_missing: tuple[dict, ...] | None = None
    shadow: dict | None = None  # the active shadow's state (mlayer/shadow/state.py), or None
    rollout: dict | None = None  # the rollout running on the alias (rollout.commands), or None
    ephemeral_storage: int | None = None  # the function's /tmp, MB
    alias: str | None = None  # [model] alias, when the function has it
    alias_function_version: str | None = None  # the function version the alias points at
    alias_model_version: int | None = None  # the model-layer version that version carries
    alias_model_label: str | None = None
    unknown_sizes: tuple[str, ...] = ()  # layers whose size cannot be read here (counted as 0)
    warnings: tuple[str, ...] = ()
    problems: tuple[str, ...] = ()  # what makes the function fail now: status exits 1

    @property
    def ok(self) -> bool:
        """False when the live model cannot start (a missing S3 object): status exits 1."""
        return not self.problems

    @property
    def alias_in_sync(self) -> bool | None:
        """Whether the alias carries $LATEST's model version (None without an alias)."""
        if self.alias is None:
            return None
        model = self.model_layer
        return self.alias_model_version == (model.version if model else None)

    @property
    def model_layer(self) -> StatusLayer | None:
        return next((ly for ly in self.layers if ly.role == "model"), None)

    def to_dict(self) -> dict:
        model = self.model_layer
        return {
            "function": self.function,
            "state": self.state,
            "last_update_status": self.last_update_status,
            "runtime": self.runtime,
            "architectures": list(self.architectures),
            "code_size": self.code_size,
            "layers": [
                {
                    "arn": ly.arn,
                    "name": ly.name,
                    "version": ly.version,
                    "role": ly.role,
                    "label": ly.label,
                    "zipped_size": ly.zipped_size,
                    "unzipped_size": ly.unzipped_size,
                    "exact": ly.exact,
                    "size_known": ly.size_known,
                }
                for ly in self.layers
            ],
            "layer_count": len(self.layers),
            "max_layers": self.max_layers,
            "total_unzipped": self.total_unzipped,
            "limit_bytes": self.limit_bytes,
            "budget_left": self.budget_left,
            "model_version": model.version if model else None,
            "model_label": model.label if model else None,
            "model_store": self.model_store,
            "model_trusted_globals": list(self.model_trusted_globals),
            "s3_objects": list(self.s3_objects),
            "s3_permission": self.s3_permission,
            "role_missing": None if self.role_missing is None else list(self.role_missing),
            "shadow": self.shadow,
            "rollout": self.rollout,
            "ephemeral_storage": self.ephemeral_storage,
            "alias": self.alias,
            "alias_function_version": self.alias_function_version,
            "alias_model_version": self.alias_model_version,
            "alias_model_label": self.alias_model_label,
            "alias_in_sync": self.alias_in_sync,
            "unknown_sizes": list(self.unknown_sizes),
            "warnings": list(self.warnings),
            "problems": list(self.problems),
        }

    def render(self) -> str:
        head = (
            f"{self.function}: state {self.state or '-'}, last update {self.last_update_status or '-'}, "
            f"{self.runtime or '-'} {'/'.join(self.architectures) or '-'}"
        )
        rows = [
            [
                i + 1,
                ly.name or ly.arn,
                ly.version or "-",
                ly.role,
                ly.label or "",
                human_bytes(ly.zipped_size),
                (human_bytes(ly.unzipped_size) + ("" if ly.exact else "+"))
                if ly.size_known
                else "unknown",
            ]
            for i, ly in enumerate(self.layers)
        ]
        body = (
            table(["#", "layer", "version", "role", "label", "zipped", "unzipped"], rows)
            if rows
            else "No layers."
        )
        return "\n".join(
            [
                f"{head}\n{body}\nLayers {len(self.layers)}/{self.max_layers}; code {human_bytes(self.code_size)}; "
                f"total unzipped {human_bytes(self.total_unzipped)}; budget left {human_bytes(self.budget_left)}.",
                *self._alias_lines(),
                *self._trust_lines(),
                *self._s3_lines(),
                *self._role_lines(),
                *self._shadow_lines(),
                *self._rollout_lines(),
            ]
        )

    def _trust_lines(self) -> list[str]:
        if not self.model_trusted_globals:
            return []
        return [f"The live model loads with --trust {', '.join(self.model_trusted_globals)}."]

    def _alias_lines(self) -> list[str]:
        if self.alias is None:
            return []
        model = (
            f"model layer version {self.alias_model_version} ({self.alias_model_label})"
            if self.alias_model_version
            else "no model layer"
        )
        same = "the same as $LATEST" if self.alias_in_sync else "NOT $LATEST's (see the warning)"
        return [
            f"Alias {self.alias} -> function version {self.alias_function_version}: {model}, {same}."
        ]

    def _gone(self, obj: dict) -> str:
        """A mark on an S3 object that a problem names (missing, or of another size)."""
        uri = f"s3://{obj['bucket']}/{obj['key']} "
        return " NOT AS PUBLISHED (see the error)" if any(uri in p for p in self.problems) else ""

    def _shadow_lines(self) -> list[str]:
        s = self.shadow
        if not s:
            return []
        return [
            f"Shadow: {s['model_version']} ({s['layer_version_arn']}) beside "
            f"{s['live_model_version']}, sample {s['sample']:g}, since {s['started_at']} "
            "(`mlayer shadow status`)."
        ]

    def _rollout_lines(self) -> list[str]:
        r = self.rollout
        if not r:
            return []
        return [
            f"Rollout on alias {r['alias']} ({r['strategy']}, step {r['step'] + 1} of "
            f"{r['steps']}): version {r['old_version']} {1 - r['weight']:.0%}, version "
            f"{r['new_version']} {r['weight']:.0%}, started {_when(r['started_at'])} "
            "(`mlayer rollout status|resume|abort`)."
        ]

    def _role_lines(self) -> list[str]:
        if self.role_missing is None:
            return ["The role's policies could not be read: what it lacks is unknown."]
        if not self.role_missing:
            return ["The role grants everything this configuration needs."]
        return [
            "The role lacks what this configuration needs (`mlayer policy --function`):",
            *(f"  {m['action']} on {m['resource']} ({m['sid']})" for m in self.role_missing),
        ]

    def _s3_lines(self) -> list[str]:
        if not self.s3_objects:
            return []
        size = sum(o["size"] for o in self.s3_objects)
        lines = [
            f"The live model's artifacts are in S3 ({human_bytes(size)}), downloaded to /tmp "
            f"({self.ephemeral_storage} MB) at cold start:",
            *(
                f"  s3://{o['bucket']}/{o['key']} ({human_bytes(o['size'])}){self._gone(o)}"
                for o in self.s3_objects
            ),
        ]
        perm = self.s3_permission or {}
        granted = {
            "yes": "it has it",
            "no": "it does NOT have it: cold starts will fail",
            "unknown": "whether it has it is unknown (no IAM policy simulation here)",
        }.get(perm.get("granted"), "unknown")
        lines.append(
            f"The role {perm.get('role') or '(none)'} needs {perm.get('action')} on "
            f"{', '.join(perm.get('resources') or [])}: {granted}."
        )
        return lines


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
