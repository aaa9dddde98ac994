"""The result of build-deps: ``to_dict`` is its --json contract, ``render`` its text."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mlayer.results.report import human_bytes, table


@dataclass(frozen=True)
class BuildDepsResult:
    """The layer built (or found in the cache) and, with --publish, where it was published."""

    build: Any  # mlayer.build.LayerBuild
    publish: Any = None  # mlayer.build.publish.Published, or None without --publish

    def to_dict(self) -> dict[str, Any]:
        return {
            "build": self.build.to_dict(),
            "publish": asdict(self.publish) if self.publish else None,
        }

    def render(self) -> str:
        """build-deps: what was built and how, slimming per step, the size budget, the publish."""
        b = self.build
        budget = b.budget
        how = "from the build cache" if b.cached else f"in {b.seconds:.1f}s"
        lines = [
            f"Layer for {b.runtime} ({b.arch}) built {how} with {b.builder_reason}.",
            f"  zip      {b.zip_path}  sha256 {b.zip_sha256[:16]}…",
            f"  lock     {b.lock_path}",
            "  packages " + ", ".join(f"{n}=={v}" for n, v in b.packages.items()),
            f"  checked  {b.check}",
            "",
            "Slimming:",
        ]
        rows = [
            [
                s.name,
                s.status,
                human_bytes(s.bytes_saved) if s.bytes_saved else "-",
                s.files,
                s.detail,
            ]
            for s in b.slim_steps
        ] or [["(off)", "skipped", "-", 0, "--no-slim"]]
        lines.append(table(["step", "status", "saved", "files", "detail"], rows))
        lines += [
            "",
            f"Bytecode: {b.bytecode.detail}"
            + (f" (+{human_bytes(b.bytecode.bytes_added)})" if b.bytecode.bytes_added else ""),
            "",
            f"Size: {human_bytes(budget.unzipped)} unzipped, {human_bytes(budget.zipped)} zipped; "
            f"{human_bytes(budget.room_left)} left under Lambda's {human_bytes(budget.limit)} "
            "for the function code and the model layer.",
            table(
                ["largest packages", "unzipped"],
                [[name, human_bytes(size)] for name, size in budget.largest],
            ),
        ]
        if not budget.fits:
            lines.append("Over the limit: this layer cannot be published.")
        p = self.publish
        if p is not None:
            lines.append("")
            if p.published:
                lines.append(f"Published {p.layer_arn} (from s3://{p.bucket}/{p.zip_key}).")
            else:
                lines.append(
                    f"Not published again: the latest version already holds this zip: {p.layer_arn}"
                )
            lines.append(f"Lock: s3://{p.bucket}/{p.lock_key}")
        return "\n".join(lines)
