"""Which of the Lambda runtime's own packages a dependencies layer shadows, and which of those
the runtime's boto3/botocore would not accept.

On Lambda, ``/opt/python`` (every layer) comes before the runtime's packages on ``sys.path``, so
a layer that ships python-dateutil replaces the runtime's copy for botocore too. pandas 3.1
accepts any python-dateutil>=2.9 and pip picks 4.0, while botocore requires <3: botocore still
imports and parses timestamps with it today, but nothing promises it will. build-deps says so,
naming the package and both versions, before anything is published.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# What the runtime's boto3 stack declares (boto3 1.42 / botocore 1.44 / python-dateutil 2.9,
# the Python runtimes' in November 2026): package -> (who requires it, the versions accepted).
RUNTIME_REQUIRES: dict[str, tuple[str, str]] = {
    "botocore": ("boto3", ">=1.44.0,<1.45.0"),
    "jmespath": ("botocore", ">=0.7.1,<2.0.0"),
    "python-dateutil": ("botocore", ">=2.1,<3.0.0"),
    "urllib3": ("botocore", ">=1.25.4,!=2.2.0,<3"),
    "s3transfer": ("boto3", ">=0.16.0,<0.20.0"),
    "six": ("python-dateutil", ">=1.5"),
}
RUNTIME_PACKAGES = ("boto3", *RUNTIME_REQUIRES)

_CLAUSE = re.compile(r"^\s*(==|!=|>=|<=|>|<)\s*([0-9][0-9A-Za-z.+-]*)\s*$")


def release(version: str) -> tuple[int, ...]:
    """The numeric release of a version ("2.9.0.post0" -> (2, 9, 0); "2.0a0" -> (2, 0))."""
    out = []
    for part in version.split("."):
        digits = re.match(r"\d+", part)
        if not digits:
            break
        out.append(int(digits.group()))
        if digits.group() != part:
            break
    return tuple(out)


def _cmp(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    width = max(len(a), len(b))
    a, b = a + (0,) * (width - len(a)), b + (0,) * (width - len(b))
    return (a > b) - (a < b)


def accepts(spec: str, version: str) -> bool:
    """Whether ``version`` meets every clause of ``spec`` (release numbers only)."""
    have = release(version)
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        match = _CLAUSE.match(clause)
        if not match:
            continue
        op, want = match.group(1), release(match.group(2))
        c = _cmp(have, want)
        ok = {
            "==": c == 0,
            "!=": c != 0,
            ">=": c >= 0,
            "<=": c <= 0,
            ">": c > 0,
            "<": c < 0,
        }[op]
        if not ok:
            return False
    return True


@dataclass(frozen=True)
class Shadow:
    package: str
    version: str  # the layer's
    required_by: str | None  # the runtime package that needs it (None: boto3 itself)
    accepted: str | None  # the versions it accepts
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "version": self.version,
            "required_by": self.required_by,
            "accepted": self.accepted,
            "ok": self.ok,
        }

    def warning(self) -> str | None:
        if self.ok:
            return None
        return (
            f"The layer's {self.package} {self.version} shadows the runtime's on Lambda "
            f"(/opt/python comes first), but the runtime's {self.required_by} requires "
            f"{self.package}{self.accepted}: pin a version it accepts in the requirements "
            f"(e.g. {self.package}=={_example(self.accepted or '')})."
        )


def _example(spec: str) -> str:
    low = [c.strip()[2:] for c in spec.split(",") if c.strip().startswith(">=")]
    return low[0] if low else "…"


def shadowed(
    packages: Mapping[str, str], requires: Mapping[str, tuple[str, str]] = RUNTIME_REQUIRES
) -> list[Shadow]:
    """The runtime packages the layer (canonical name -> version) ships, each judged.

    A requirement is only checked when the package that declares it is the runtime's: when the
    layer ships that one too, pip already resolved the two together.
    """
    out = []
    for name in sorted(packages):
        if name not in RUNTIME_PACKAGES:
            continue
        required_by, accepted = requires.get(name, (None, None))
        ok = (
            required_by is None
            or required_by in packages
            or accepts(accepted or "", packages[name])
        )
        out.append(Shadow(name, packages[name], required_by, accepted, ok))
    return out


def shadow_warnings(shadows: list[Shadow]) -> list[str]:
    return [w for s in shadows if (w := s.warning())]
