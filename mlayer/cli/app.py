"""What every command gets from the global options: settings, output, progress, confirmation."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click

from mlayer.cli.progress import progress_printer
from mlayer.config import Settings, load_settings, with_overrides
from mlayer.errors import UsageError
from mlayer.results import report


@dataclass
class App:
    """What the global options give every command; settings load lazily (init needs none)."""

    config_path: str | None
    region: str | None
    profile: str | None
    endpoint_url: str | None
    json_output: bool
    verbose: bool
    _settings: Settings | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(
                self.config_path,
                region=self.region,
                profile=self.profile,
                endpoint_url=self.endpoint_url,
            )
        return self._settings

    def settings_with(self, **sections: dict[str, Any]) -> Settings:
        """Settings with this command's flags applied on top (None = flag not given)."""
        return with_overrides(self.settings, **sections)

    def emit(self, result: Any) -> None:
        """Print a result: JSON on stdout with --json, else its warnings on stderr and its text."""
        if self.json_output:
            click.echo(json.dumps(report.to_jsonable(result), indent=2, sort_keys=True))
            return
        for warning in getattr(result, "warnings", ()) or ():
            click.echo(f"Warning: {warning}", err=True)
        click.echo(report.render(result))

    def progress(self) -> Callable[[str], None]:
        """A step reporter for long work, on stderr (silent with --json unless --verbose)."""
        return progress_printer(quiet=self.json_output and not self.verbose)

    def confirmer(self, yes: bool) -> Callable[[str], None]:
        """The ``confirm`` a command passes down: asks on a terminal; --yes skips the question."""
        return lambda question: confirm(question, yes)


def confirm(question: str, yes: bool) -> None:
    """Ask before a change; without a terminal, only --yes lets it happen."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            f"{question} Refusing without confirmation: standard input is not a terminal.",
            "Pass --yes to confirm (commands that change something also take --dry-run).",
        )
    if not click.confirm(question, default=False, err=True):
        raise UsageError("Cancelled; nothing was changed.", "Pass --yes to skip the question.")


pass_app = click.make_pass_decorator(App)
