"""The restore-path audit (mlayer.model.restore_audit) covers every class the allowlist accepts."""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import pkgutil
import warnings
from pathlib import Path

import pytest
from scipy.stats import _continuous_distns, _distn_infrastructure
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree._tree import Tree

from mlayer.model import restore_audit, trust


def _imported(name: str) -> object:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(name)
    except Exception:  # the policy refuses what does not import ("not found here")
        return None


@functools.cache
def allowlisted_classes() -> dict[str, type]:
    """Every class reachable under an allowed package that the policy would let a pickle call."""
    policy = trust.Policy()
    names, todo = set(), list(trust.CLASS_PACKAGES)
    while todo:  # like pkgutil.walk_packages, but never importing a denied package to walk it
        name = todo.pop()
        names.add(name)
        path = getattr(_imported(name), "__path__", None)
        for info in pkgutil.iter_modules(path or []):
            child = f"{name}.{info.name}"
            if not trust._denied_module(child):
                todo.append(child) if info.ispkg else names.add(child)
    found = {}
    for name in sorted(names):
        module = _imported(name)
        for attr, obj in list(vars(module).items() if module else ()):
            if isinstance(obj, type) and policy.judge(name, attr).kind == trust.CALL:
                found[f"{name}.{attr}"] = obj
    return found


def audited_file_text() -> str:
    """restore_audit_classes.txt as the walk writes it (regenerate: python -m
    tests.unit.test_restore_audit > mlayer/restore_audit_classes.txt)."""
    names = sorted({restore_audit.class_name(cls) for cls in allowlisted_classes().values()})
    versions = " ".join(f"{d} {v}" for d, v in restore_audit.AUDITED_VERSIONS.items())
    return "\n".join([f"# the classes mlayer's restore audit walked: {versions}", *names]) + "\n"


def test_the_audited_classes_file_is_the_walk():
    path = Path(restore_audit.__file__).with_name(restore_audit.AUDITED_CLASSES_FILE)
    assert path.read_text() == audited_file_text()


def test_the_audit_is_of_the_installed_versions():
    for dist, version in restore_audit.AUDITED_VERSIONS.items():
        assert importlib.metadata.version(dist) == version, dist


def test_every_allowlisted_class_has_an_audited_restore_path():
    classes = allowlisted_classes()
    assert len(classes) > 1500  # sklearn's estimators, numpy's scalars, scipy.sparse's formats
    for qualname, cls in classes.items():
        assert restore_audit.rebuild_problem(cls) is None, qualname
        for owner, name in restore_audit._definers(cls, restore_audit.REBUILD + ("__init__",)):
            if owner is not type:
                assert restore_audit.judge_definer(owner, name) is not None, (qualname, name)


def test_cython_reconstructors_are_judged_as_the_class_they_rebuild():
    policy = trust.Policy()
    accepted = []
    for module in sorted({q.rpartition(".")[0] for q in allowlisted_classes()}):
        for attr in vars(importlib.import_module(module)):
            if attr.startswith("__pyx_unpickle_") and policy.judge(module, attr).kind == trust.CALL:
                accepted.append(f"{module}.{attr}")
    assert "numpy.random.bit_generator.__pyx_unpickle_SeedSequence" in accepted
    refused = policy.judge("sklearn.tree._criterion", "__pyx_unpickle_Criterion")
    assert refused.kind == trust.REFUSED and "no fitted model keeps" in refused.reason


def test_hand_audit_names_only_definers_that_exist():
    for definer in restore_audit.HAND:
        module, cls, name = definer.rsplit(".", 2)
        if module.startswith("scipy.stats"):
            owner = getattr(importlib.import_module(module), cls)
        else:
            owner = restore_audit.resolve(f"{module}.{cls}")
        assert isinstance(owner, type) and name in vars(owner), definer


def test_scipy_stats_restore_path_runs_code():
    assert "execs the pickled" in restore_audit.rebuild_problem(_continuous_distns.reciprocal_gen)
    frozen = _distn_infrastructure.rv_continuous_frozen
    assert "calls dist._updated_ctor_param" in restore_audit.call_problem(frozen)
    verdict = trust.Policy().judge(frozen.__module__, frozen.__name__)
    assert verdict.kind == trust.REFUSED


def test_fit_time_cython_objects_are_refused():
    problem = trust.Policy().judge("sklearn.tree._splitter", "BestSplitter").reason
    assert "no fitted model keeps" in problem and "--trust" in problem


def test_calling_a_class_whose_init_does_more_than_store_is_refused():
    assert restore_audit.rebuild_problem(RandomForestClassifier) is None
    assert "does more than store" in restore_audit.call_problem(RandomForestClassifier)
    assert restore_audit.call_problem(LogisticRegression) is None  # its __init__ only stores
    assert restore_audit.call_problem(Tree) is None  # Tree(n_features, n_classes, n_outputs)


@pytest.fixture
def another_sklearn(monkeypatch):
    real = restore_audit._version
    monkeypatch.setattr(
        restore_audit, "_version", lambda top: "9.9.9" if top == "sklearn" else real(top)
    )
    restore_audit.rebuild_problem.cache_clear()
    restore_audit.call_problem.cache_clear()
    yield
    restore_audit.rebuild_problem.cache_clear()
    restore_audit.call_problem.cache_clear()


def test_another_library_version_fails_closed(another_sklearn, monkeypatch):
    # the classes the audit walked keep their verdicts; any other class is refused
    assert restore_audit.rebuild_problem(Tree) is None
    assert restore_audit.rebuild_problem(LogisticRegression) is None
    assert "execs the pickled" in restore_audit.rebuild_problem(_continuous_distns.reciprocal_gen)
    walked = restore_audit.audited_classes() - {"sklearn.tree._tree.Tree"}
    monkeypatch.setattr(restore_audit, "audited_classes", lambda: walked)  # Tree: a new class
    restore_audit.rebuild_problem.cache_clear()
    problem = restore_audit.rebuild_problem(Tree)
    assert "sklearn.tree._tree.Tree is not a class mlayer's restore audit knows" in problem
    assert "scikit-learn 1.7.2" in problem and "this is scikit-learn 9.9.9" in problem
    verdict = trust.Policy().judge("sklearn.tree._tree", "Tree")
    assert verdict.kind == trust.REFUSED and "9.9.9" in verdict.reason
    # what the installed source itself shows still holds: numpy is the audited one
    import numpy as np

    assert restore_audit.rebuild_problem(np.ndarray) is None


if __name__ == "__main__":
    print(audited_file_text(), end="")
