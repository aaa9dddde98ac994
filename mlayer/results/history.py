"""The result of history: ``to_dict`` is its --json contract, ``render`` its text table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlayer.results.report import human_bytes, table


@dataclass(frozen=True)
class HistoryRow:
    version: int
    arn: str
    label: str
    short_sha: str
    content_sha256: str | None
    created: str
    zipped_size: int
    unzipped_size: int | None
    sklearn_version: str | None
    live: bool
    live_on_alias: bool
    description: str
    store: str = "unknown"  # layer | s3 | mixed | unknown (no manifest): model_store.placement
    s3_objects: tuple[dict[str, Any], ...] = ()  # the S3 objects this version needs
    prunable: bool = False  # `mlayer prune` ([prune] keep, older_than_days) would delete it
    trusted_globals: tuple[str, ...] = ()  # accepted only with --trust (the manifest's list)
    shadow: bool = False  # the function's active shadow (publish-model --shadow)


@dataclass(frozen=True)
class HistoryResult:
    """Every model-layer version. ``to_dict`` is the ``--json`` contract (docs/FORMATS.md)."""

    layer_name: str
    function: str
    alias: str | None
    versions: tuple[HistoryRow, ...]
    warnings: tuple[str, ...] = ()
    model_room: int | None = None  # bytes the function's code and other layers leave the model

    @property
    def live_version(self) -> int | None:
        return next((r.version for r in self.versions if r.live), None)

    @property
    def alias_version(self) -> int | None:
        return next((r.version for r in self.versions if r.live_on_alias), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer_name": self.layer_name,
            "function": self.function,
            "alias": self.alias,
            "live_version": self.live_version,
            "alias_version": self.alias_version,
            "versions": [
                {
                    "version": r.version,
                    "layer_version_arn": r.arn,
                    "label": r.label,
                    "short_sha": r.short_sha,
                    "content_sha256": r.content_sha256,
                    "created": r.created,
                    "zipped_size": r.zipped_size,
                    "unzipped_size": r.unzipped_size,
                    "sklearn_version": r.sklearn_version,
                    "live": r.live,
                    "live_on_alias": r.live_on_alias,
                    "description": r.description,
                    "store": r.store,
                    "s3_objects": list(r.s3_objects),
                    "prunable": r.prunable,
                    "trusted_globals": list(r.trusted_globals),
                    "shadow": r.shadow,
                }
                for r in self.versions
            ],
            "warnings": list(self.warnings),
            "model_room": self.model_room,
        }

    def render(self) -> str:
        notes: list[str] = []  # warnings go to stderr (cli.App.emit)
        if not self.versions:
            return "\n".join(
                [
                    *notes,
                    f"Layer {self.layer_name} has no versions yet. Publish one with `mlayer publish-model`.",
                ]
            )
        rows = []
        for r in self.versions:
            live = [self.function] if r.live else []
            if r.live_on_alias:
                live.append(f"alias {self.alias}")
            if r.shadow:
                live.append(f"shadow of {self.function}")
            if r.prunable:
                live.append("(prune would delete)")
            rows.append(
                [
                    r.version,
                    r.label,
                    r.short_sha,
                    r.created[:19],
                    human_bytes(r.zipped_size),
                    human_bytes(r.unzipped_size),
                    r.sklearn_version or "-",
                    r.store,
                    ", ".join(live),
                ]
            )
        head = f"{self.layer_name} (function {self.function}" + (
            f", alias {self.alias})" if self.alias else ")"
        )
        return "\n".join(
            [
                *notes,
                head,
                table(
                    [
                        "version",
                        "label",
                        "sha",
                        "created",
                        "zipped",
                        "unzipped",
                        "sklearn",
                        "store",
                        "live on",
                    ],
                    rows,
                ),
                *self._s3_lines(),
            ]
        )

    def _s3_lines(self) -> list[str]:
        """What each S3-stored version needs (only `mlayer prune` deletes it), and the room left."""
        lines = [
            f"Version {r.version} loads with --trust {', '.join(r.trusted_globals)}."
            for r in self.versions
            if r.trusted_globals
        ]
        lines += [
            f"Version {r.version} needs s3://{o['bucket']}/{o['key']} ({human_bytes(o['size'])})."
            for r in self.versions
            for o in r.s3_objects
        ]
        if self.model_room is not None:
            lines.append(
                f"Room for the model layer on {self.function}: {human_bytes(self.model_room)} "
                "(a bigger model goes to S3 with --store auto)."
            )
        return lines
