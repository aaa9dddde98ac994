"""Choosing the runtime's interpreter: PATH first, then pyenv; a mismatch is never bridged."""

from __future__ import annotations

import pytest

from mlayer.errors import LocalRuntimeError
from mlayer.local.interpreters import candidates, find_interpreter


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


def test_path_comes_before_pyenv(machine):
    got = candidates("3.12", path=machine["path"], pyenv_root=machine["pyenv_root"])
    assert got == [machine["path_312"], machine["pyenv_312"]]


def test_the_first_candidate_that_reports_the_version_wins(machine):
    answers = {machine["path_312"]: "3.12", machine["pyenv_312"]: "3.12"}
    exe = find_interpreter(
        "python3.12", path=machine["path"], pyenv_root=machine["pyenv_root"], probe=answers.get
    )
    assert exe == machine["path_312"]


def test_a_shim_that_does_not_run_falls_back_to_pyenv(machine):
    answers = {machine["path_312"]: None, machine["pyenv_312"]: "3.12"}
    exe = find_interpreter(
        "python3.12", path=machine["path"], pyenv_root=machine["pyenv_root"], probe=answers.get
    )
    assert exe == machine["pyenv_312"]


def test_a_mismatched_interpreter_is_refused_with_what_to_install(machine):
    answers = {machine["path_312"]: "3.11", machine["pyenv_312"]: None}
    with pytest.raises(LocalRuntimeError) as err:
        find_interpreter(
            "python3.12", path=machine["path"], pyenv_root=machine["pyenv_root"], probe=answers.get
        )
    assert "python3.12" in err.value.message and "reports 3.11" in err.value.message
    assert "pyenv install 3.12" in err.value.hint


def test_an_absent_interpreter_says_which_to_install(machine):
    with pytest.raises(LocalRuntimeError) as err:
        find_interpreter(
            "python3.13",
            path=machine["path"],
            pyenv_root=machine["pyenv_root"],
            probe=lambda exe: None,
        )
    assert "no working python3.13" in err.value.message and "Install Python 3.13" in err.value.hint


def test_the_real_probe_reads_the_running_python():
    import sys

    from mlayer.local.interpreters import probe_version

    assert probe_version(sys.executable) == "{}.{}".format(*sys.version_info[:2])
    assert probe_version("/nonexistent/python") is None
