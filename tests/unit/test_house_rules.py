"""The house plan's import rules, checked by parsing every module's imports with ast."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def modules(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def test_boto3_and_botocore_only_in_the_gateway():
    offenders = [
        rel(p)
        for p in modules("mlayer")
        if {"boto3", "botocore"} & imported_roots(p) and not rel(p).startswith("mlayer/gateway/")
    ]
    assert offenders == []


def test_click_only_in_the_cli():
    offenders = [
        rel(p)
        for p in modules("mlayer")
        if "click" in imported_roots(p) and not rel(p).startswith("mlayer/cli/")
    ]
    assert offenders == []


def test_function_never_imports_mlayer():
    offenders = [rel(p) for p in modules("function") if "mlayer" in imported_roots(p)]
    assert offenders == []


def test_subprocesses_only_in_build_local_and_the_demo():
    allowed = (
        "mlayer/build/",
        "mlayer/local/",
        "mlayer/demo/story.py",
        "mlayer/demo/host.py",  # the type of what demo.mlayer returns, for the demo's steps
        "mlayer/model/load_child.py",
        "mlayer/model/load_server.py",  # the load_child's warm fork server
    )
    offenders = [
        rel(p)
        for p in modules("mlayer")
        if "subprocess" in imported_roots(p) and not rel(p).startswith(allowed)
    ]
    assert offenders == []


PURE_MODULES = (
    "mlayer/publishing/planner.py",
    "mlayer/publishing/publish_plan.py",
    "mlayer/publishing/publish_types.py",
    "mlayer/publishing/resolved.py",
    "mlayer/publishing/rollback_plan.py",
    "mlayer/deploying/deploy_plan.py",
    "mlayer/model/manifest.py",
    "mlayer/arns.py",
    "mlayer/publishing/models.py",
    "mlayer/results/report.py",
    "mlayer/publishing/compat.py",
    "mlayer/model/schema.py",
    "mlayer/publishing/ephemeral.py",
    "mlayer/rollout/plan.py",
    "mlayer/rollout/stats.py",
    "mlayer/rollout/gates.py",
    "mlayer/rollout/state.py",
    "mlayer/prune/plan.py",
    "mlayer/prune/types.py",
    "mlayer/model/packaging.py",
    "mlayer/shadow/fit.py",
    "mlayer/policy/arns.py",
    "mlayer/policy/document.py",
    "mlayer/policy/function_policy.py",
    "mlayer/policy/deployer_policy.py",
    "mlayer/policy/evaluate.py",
    "mlayer/policy/role_plan.py",
)
SIDE_EFFECTS = {"boto3", "botocore", "subprocess", "click", "socket"}
# What importing a pure module may not load, directly or through anything it imports.
LOADED_SIDE_EFFECTS = ("boto3", "botocore", "subprocess", "socket", "_socket", "ssl", "click")
MAX_LINES = 400


def test_every_module_the_rules_name_exists():
    """A rule about a module that is gone would pass vacuously: fail instead, never skip."""
    named = [*PURE_MODULES, "mlayer/gateway/__init__.py", "mlayer/cli/__init__.py"]
    missing = [name for name in named if not (REPO / name).is_file()]
    assert missing == []


def test_pure_modules_import_no_side_effects():
    offenders = {name: sorted(SIDE_EFFECTS & imported_roots(REPO / name)) for name in PURE_MODULES}
    assert {k: v for k, v in offenders.items() if v} == {}


def _dotted(path: str) -> str:
    return path.removesuffix(".py").replace("/", ".")


def test_pure_modules_load_no_side_effects_in_a_clean_interpreter():
    """The ast rule above sees direct imports only: a pure module that imports the gateway for
    a helper loads boto3 all the same. Each module alone in a fresh Python, sys.modules read."""
    probe = (
        "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
        f"print(json.dumps([m for m in {LOADED_SIDE_EFFECTS!r} if m in sys.modules]))"
    )
    loaded = {}
    for name in PURE_MODULES:
        out = subprocess.run(
            [sys.executable, "-c", probe, _dotted(name)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        loaded[name] = json.loads(out.stdout)
    assert {k: v for k, v in loaded.items() if v} == {}


def test_no_module_over_400_lines():
    """One job per module: a module past ~400 lines holds more than one."""
    long = {
        rel(p): n
        for folder in ("mlayer", "function")
        for p in modules(folder)
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def _tuple_literal(path: Path, name: str) -> tuple:
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{rel(path)} defines no {name}")


def test_input_kinds_are_defined_once_per_side_and_agree():
    """mlayer writes input_kind into the manifest; the function must accept every one of them."""
    from mlayer.config import INPUT_KINDS as config_kinds
    from mlayer.model.manifest import INPUT_KINDS as manifest_kinds

    function_kinds = _tuple_literal(REPO / "function/mlayer_function/decoding.py", "INPUT_KINDS")
    assert tuple(manifest_kinds) == function_kinds
    assert tuple(config_kinds) == ("auto", *manifest_kinds)
    defining = [
        rel(p)
        for folder in ("mlayer", "function")
        for p in modules(folder)
        if re.search(r"^INPUT_KINDS\s*=", p.read_text(), re.MULTILINE)
    ]
    assert sorted(defining) == [
        "function/mlayer_function/decoding.py",
        "mlayer/config/sections.py",
        "mlayer/model/manifest.py",
    ]
