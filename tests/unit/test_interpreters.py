"""Choosing the runtime's interpreter: PATH first, then pyenv; a mismatch is never bridged."""

from __future__ import annotations

import sys

import pytest

from mlayer.build.runner import Completed, probe_version
from mlayer.errors import LocalRuntimeError
from mlayer.interpreters import candidates, find_python, find_python_once, require_python


def fake_exe(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def machine(tmp_path):
    bin_dir = tmp_path / "bin"
    pyenv = tmp_path / "pyenv"
    return {
        "path_312": fake_exe(bin_dir / "python3.12"),
        "pyenv_312": fake_exe(pyenv / "versions/3.12.1/bin/python3.12"),
        "pyenv_311": fake_exe(pyenv / "versions/3.11.7/bin/python3.11"),
        "path": str(bin_dir),
        "pyenv_root": pyenv,
    }


def where(machine):
    return {"path": machine["path"], "pyenv_root": machine["pyenv_root"]}


def test_path_comes_before_pyenv(machine):
    got = candidates("3.12", path=machine["path"], pyenv_root=machine["pyenv_root"])
    assert got == [machine["path_312"], machine["pyenv_312"]]


def test_pyenv_dev_builds_count_but_not_other_minor_versions(machine, tmp_path):
    dev = fake_exe(machine["pyenv_root"] / "versions/3.13-dev/bin/python3.13")
    fake_exe(machine["pyenv_root"] / "versions/3.130.0/bin/python3.13")
    assert candidates("3.13", path=str(tmp_path / "empty"), pyenv_root=machine["pyenv_root"]) == [
        dev
    ]


def test_the_first_candidate_that_reports_the_version_wins(machine):
    answers = {machine["path_312"]: "3.12", machine["pyenv_312"]: "3.12"}
    exe = require_python("python3.12", "why", answers.get, **where(machine))
    assert exe == machine["path_312"]


def test_a_shim_that_does_not_run_falls_back_to_pyenv(machine):
    answers = {machine["path_312"]: None, machine["pyenv_312"]: "3.12"}
    exe = require_python("python3.12", "why", answers.get, **where(machine))
    assert exe == machine["pyenv_312"]


def test_find_python_says_none_and_what_it_tried(machine):
    answers = {machine["path_312"]: "3.11", machine["pyenv_312"]: None}
    exe, tried = find_python("3.12", answers.get, **where(machine))
    assert exe is None
    assert tried == [
        f"{machine['path_312']} (reports 3.11)",
        f"{machine['pyenv_312']} (does not run)",
    ]


def test_a_mismatched_interpreter_is_refused_with_what_to_install(machine):
    answers = {machine["path_312"]: "3.11", machine["pyenv_312"]: None}
    with pytest.raises(LocalRuntimeError) as err:
        require_python("python3.12", "no other will do", answers.get, **where(machine))
    assert "python3.12" in err.value.message and "reports 3.11" in err.value.message
    assert "pyenv install 3.12" in err.value.hint
    assert err.value.hint.endswith("; no other will do.")


def test_an_absent_interpreter_says_which_to_install(machine):
    with pytest.raises(LocalRuntimeError) as err:
        require_python("python3.13", "why", lambda exe: None, **where(machine))
    assert "no working python3.13" in err.value.message and "Install Python 3.13" in err.value.hint


def test_the_real_probe_reads_the_running_python(tmp_path):
    assert probe_version(sys.executable) == "{}.{}".format(*sys.version_info[:2])
    assert probe_version("/nonexistent/python") is None
    not_executable = tmp_path / "python3.12"
    not_executable.write_text("")
    assert probe_version(str(not_executable)) is None


def test_the_probe_runs_isolated_through_the_injected_runner():
    seen = []

    def runner(argv, **kwargs):
        seen.append(list(argv))
        return Completed(tuple(argv), 0, "3.12\n", "")

    assert probe_version("/opt/python3.12", runner) == "3.12"
    assert seen[0][:3] == ["/opt/python3.12", "-I", "-c"]
    assert probe_version("/opt/python3.12", lambda argv, **kw: Completed((), 1, "", "")) is None


def test_find_python_once_probes_once_until_the_candidates_change(tmp_path, monkeypatch):
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        fake_exe(folder / "python3.98")
    asked: list[str] = []

    def probe(exe: str) -> str:
        asked.append(exe)
        return "3.98"

    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    monkeypatch.setenv("PATH", str(first))
    assert find_python_once("3.98", probe) == str(first / "python3.98")
    assert find_python_once("3.98", probe) == str(first / "python3.98")
    assert asked == [str(first / "python3.98")]
    monkeypatch.setenv("PATH", str(second))  # another PATH: searched again
    assert find_python_once("3.98", probe) == str(second / "python3.98")
    assert len(asked) == 2
