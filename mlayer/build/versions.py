"""Installed versus asked: a pinned requirement must be installed at exactly its pin.

pip given too few platform tags quietly falls back to an older release that has a matching
wheel; that is an error here, not a surprise at the first prediction.
"""

from __future__ import annotations

from mlayer.errors import BuildError


def check_versions(pins: dict[str, str], installed: dict[str, str]) -> None:
    missing = sorted(name for name in pins if name not in installed)
    wrong = sorted(
        (name, want, installed[name])
        for name, want in pins.items()
        if name in installed and installed[name] != want
    )
    if missing:
        raise BuildError(
            f"pip reported success but did not install: {', '.join(missing)}.",
            "Check the requirement names in the requirements file.",
        )
    if wrong:
        said = ", ".join(f"{n} {got} (pinned {want})" for n, want, got in wrong)
        raise BuildError(
            f"Installed versions differ from the pins: {said}.",
            "No wheel of the pinned version matched this runtime's platform tags; pin a version "
            "that has one, or use --builder docker.",
        )
