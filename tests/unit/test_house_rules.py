"""The house plan's import rules, checked by parsing every module's imports with ast."""

from __future__ import annotations

import ast
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
    allowed = ("mlayer/build/", "mlayer/local/", "mlayer/demo.py")
    offenders = [
        rel(p)
        for p in modules("mlayer")
        if "subprocess" in imported_roots(p) and not rel(p).startswith(allowed)
    ]
    assert offenders == []


def test_pure_modules_import_no_side_effects():
    pure = [
        "mlayer/planner.py",
        "mlayer/manifest.py",
        "mlayer/arns.py",
        "mlayer/models.py",
        "mlayer/report.py",
    ]
    for name in pure:
        path = REPO / name
        if path.exists():
            assert not {"boto3", "botocore", "subprocess", "click", "socket"} & imported_roots(
                path
            ), name
