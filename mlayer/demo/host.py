"""What a step of `make demo` may ask of the demo running it, as a Protocol.

The steps (demo_onnx, demo_files, demo_rollout) are driven by ``demo.Demo``, which imports
them; naming ``Demo`` back in their annotations would be an import cycle. They name this
instead, and ``Demo`` satisfies it as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import subprocess

    from mlayer.demo.data import DemoModel
    from mlayer.gateway import Gateway


class DemoHost(Protocol):
    workdir: Path
    gateway: Gateway | None
    env: dict[str, str]  # the deployer's shell, which the commands run in
    say: Callable[[str], None]

    def mlayer(
        self,
        *args: str,
        expect_ok: bool = True,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run one mlayer command as a user would (``env``: another shell than the demo's)."""
        ...

    def check(self, name: str, ok: bool, detail: str) -> None:
        """Record one of the story's checks and say it."""
        ...

    def grant(self, folder: Path) -> None:
        """Give the deployer exactly `mlayer policy --deployer` of ``folder``'s mlayer.toml."""
        ...

    def publish(self, model: DemoModel) -> None:
        """`mlayer publish-model` of ``model`` as the story's main function serves it."""
        ...

    def skip_onnx(self, why: str) -> None:
        """Say why the ONNX step cannot run here."""
        ...

    def results_for(self, ids: list[str], table: str = ...) -> dict[str, dict[str, Any]]:
        """The demo table's predictions of these record ids."""
        ...
