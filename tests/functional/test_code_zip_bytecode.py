"""deploy-function's code zip carries the function's bytecode for its runtime, compiled by that
runtime's own Python (deploying/code_bytecode.py): unchecked-hash pycs, the same bytes for the
same sources, which the real handler starts from without compiling or writing anything. Where
that Python is missing, the zip holds the sources only and deploy-function says so in a note.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from emulated_support import RUNTIME, interpreter_and_runtime, link_venv_deps
from function_support import kinesis_event

from mlayer.build.runner import probe_version, run_subprocess
from mlayer.cli import cli
from mlayer.deploying.code_bytecode import TASK_DIR
from mlayer.deploying.function_code import build_code_zip, code_zip, function_sources
from mlayer.interpreters import find_python
from mlayer.local import sandbox
from mlayer.runtimes import RUNTIMES

pytestmark = pytest.mark.slow

# Run by the runtime's own interpreter over the zip: its magic number, and for each pyc the
# header's flags, whether the header's source hash is that of the shipped source, and the
# source file the code object names.
READ_PYCS = """
import importlib.util, json, marshal, sys, zipfile
zf = zipfile.ZipFile(sys.argv[1])
tag = sys.implementation.cache_tag
pycs = {}
for name in zf.namelist():
    if not name.endswith(".py"):
        continue
    folder, _, file = name.rpartition("/")
    pyc = f"{folder}/__pycache__/{file[:-3]}.{tag}.pyc"
    if pyc not in zf.namelist():
        continue
    data = zf.read(pyc)
    pycs[name] = {
        "magic_ok": data[:4] == importlib.util.MAGIC_NUMBER,
        "flags": int.from_bytes(data[4:8], "little"),
        "hash_ok": data[8:16] == importlib.util.source_hash(zf.read(name)),
        "filename": marshal.loads(data[16:]).co_filename,
    }
print(json.dumps(pycs))
"""


def _python(runtime: str) -> str:
    exe, _tried = find_python(RUNTIMES[runtime].python_version, probe_version)
    if exe is None:
        pytest.skip(f"no {runtime} interpreter on this machine")
    return exe


def _sources() -> list[str]:
    return [name for name, _ in function_sources()]


@pytest.mark.parametrize("runtime", sorted(RUNTIMES))
def test_the_zip_holds_every_modules_unchecked_pyc_for_its_runtime_and_is_deterministic(
    runtime, tmp_path, monkeypatch
):
    python = _python(runtime)
    monkeypatch.setenv("MLAYER_CACHE_DIR", str(tmp_path / "cache-a"))
    first = code_zip(tmp_path / "a.zip", runtime)
    monkeypatch.setenv("MLAYER_CACHE_DIR", str(tmp_path / "cache-b"))  # compiled again
    second = code_zip(tmp_path / "b.zip", runtime)
    assert first.data == second.data and first.sha256 == second.sha256
    assert first.note == ""
    started: list[list[str]] = []

    def recording(argv, **kwargs):
        started.append(list(argv))
        return run_subprocess(argv, **kwargs)

    third = code_zip(tmp_path / "c.zip", runtime, runner=recording)  # cache-b has its pycs
    assert third.data == first.data
    assert not [argv for argv in started if "compileall" in argv]

    names = zipfile.ZipFile(io.BytesIO(first.data)).namelist()
    tag = RUNTIMES[runtime].pyc_tag
    assert [n for n in names if n.endswith(".pyc")] == [
        f"mlayer_function/__pycache__/{Path(s).stem}.{tag}.pyc" for s in sorted(_sources())
    ]
    done = subprocess.run(
        [python, "-I", "-c", READ_PYCS, str(tmp_path / "a.zip")],
        capture_output=True,
        text=True,
        check=True,
    )
    pycs = json.loads(done.stdout)
    assert sorted(pycs) == sorted(_sources())  # that interpreter finds a pyc for every module
    for source, pyc in pycs.items():
        assert pyc["magic_ok"], source
        assert pyc["flags"] == 0b01, source  # hash-based, check_source off: unchecked-hash
        assert pyc["hash_ok"], source
        assert pyc["filename"] == f"{TASK_DIR}/{source}"


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _run_real_handler(task: Path, opt: Path) -> None:
    """The real handler from ``task`` in the emulation (a fresh runtime process, the caller's
    environment not passed on: no PYTHONDONTWRITEBYTECODE), one batch answered."""
    from mlayer.deploying.deploy import HANDLER
    from mlayer.local.emulator import Emulator, FunctionSpec

    interpreter, rdir = interpreter_and_runtime()
    spec = FunctionSpec(
        "pycs",
        HANDLER,
        RUNTIME,
        task,
        opt,
        memory_mb=1024,
        timeout_s=60,
        environment={"MLAYER_OUTPUT_SINK": "stdout://"},
    )
    with Emulator(spec, interpreter, rdir, caller_env={"PATH": os.environ["PATH"]}) as em:
        result = em.invoke(kinesis_event([{"id": "a", "text": "win money now"}]))
    assert result.error is None, result.payload
    assert result.payload == {"batchItemFailures": []}


def test_the_real_handler_starts_from_the_pycs_and_writes_nothing(tmp_path, model_layers):
    """Python writes a pyc for each module it compiles where it can (here /var/task is
    writable): with the zip's pycs nothing is written or changed; a sources-only zip, run the
    same way, gains pycs, so the check would see a compile."""
    from mlayer.local.opt import extract

    opt = tmp_path / "opt"
    shutil.copytree(model_layers["text"], opt / "mlayer")
    link_venv_deps(opt)
    with_pycs, sources_only = tmp_path / "task", tmp_path / "task-sources"
    extract(code_zip(tmp_path / "code.zip", RUNTIME).data, with_pycs)
    extract(build_code_zip(tmp_path / "sources.zip")[0], sources_only)

    before = _files(with_pycs)
    assert any(name.endswith(".pyc") for name in before)
    _run_real_handler(with_pycs, opt)
    assert _files(with_pycs) == before

    plain = _files(sources_only)
    _run_real_handler(sources_only, opt)
    written = sorted(set(_files(sources_only)) - set(plain))
    assert f"mlayer_function/__pycache__/handler.{RUNTIMES[RUNTIME].pyc_tag}.pyc" in written


@pytest.fixture
def no_python(tmp_path, monkeypatch):
    """No python3.X anywhere mlayer looks (interpreters.py: PATH, then pyenv's versions)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))


def test_without_the_runtimes_python_the_zip_holds_the_sources_and_a_note(tmp_path, no_python):
    built = code_zip(tmp_path / "code.zip", "python3.12")
    assert built.data == build_code_zip(tmp_path / "sources.zip")[0]
    names = zipfile.ZipFile(io.BytesIO(built.data)).namelist()
    assert sorted(names) == sorted(_sources())
    assert built.note.startswith("no python3.12 on this machine")
    assert "Install Python 3.12" in built.note


def test_a_module_the_runtime_cannot_compile_ships_as_its_source_and_is_named(tmp_path):
    """A module in syntax newer than the runtime (PEP 695 on python3.10): the others keep their
    pycs, and the note names the one that would not even import on Lambda."""
    _python("python3.10")
    package = tmp_path / "function" / "mlayer_function"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "handler.py").write_text("def handler(event, context):\n    return 1\n")
    (package / "newer.py").write_text("type Pair = tuple[int, int]\n")
    built = code_zip(tmp_path / "code.zip", "python3.10", tmp_path / "function")
    names = zipfile.ZipFile(io.BytesIO(built.data)).namelist()
    assert [n for n in names if n.endswith(".pyc")] == [
        "mlayer_function/__pycache__/__init__.cpython-310.pyc",
        "mlayer_function/__pycache__/handler.cpython-310.pyc",
    ]
    assert "did not compile mlayer_function/newer.py" in built.note
    assert "python3.10" in built.note


def _project(tmp_path: Path, gw) -> Path:
    sandbox.ensure_stream(gw, "input")
    role = sandbox.ensure_lambda_role(gw, "scorer-role")
    config = tmp_path / "mlayer.toml"
    config.write_text(
        f'[function]\nname = "scorer"\nruntime = "python3.12"\nrole = "{role}"\n'
        '[artifacts]\nbucket = "artifacts"\n[trigger]\nstream = "input"\n'
    )
    return config


def _deploy(config: Path, *args: str) -> dict:
    result = CliRunner().invoke(
        cli, ["--config", str(config), "--json", "deploy-function", *args], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_deploy_function_ships_the_pycs_and_plans_no_change_the_second_time(tmp_path, gw):
    _python("python3.12")
    config = _project(tmp_path, gw)
    first = _deploy(config, "--yes")
    assert first["applied"] and not any("no python3.12" in n for n in first["notes"])
    kept = gw.get_bytes("artifacts", f"functions/{first['code']['sha256']}.zip")
    names = zipfile.ZipFile(io.BytesIO(kept)).namelist()
    assert "mlayer_function/__pycache__/handler.cpython-312.pyc" in names

    again = _deploy(config, "--dry-run")
    assert again["code"] == {**first["code"], "changed": False}
    assert not again["changed"]


def test_deploy_function_without_the_runtimes_python_says_so_once(tmp_path, gw, monkeypatch):
    _python("python3.12")
    config = _project(tmp_path, gw)
    with_pycs = _deploy(config, "--dry-run")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))

    doc = _deploy(config, "--dry-run")
    assert sorted(doc) == sorted(with_pycs)  # the same --json keys
    (note,) = [n for n in doc["notes"] if "no python3.12" in n]
    assert doc["code"]["sha256"] != with_pycs["code"]["sha256"]

    text = CliRunner().invoke(
        cli, ["--config", str(config), "deploy-function", "--dry-run"], catch_exceptions=False
    )
    assert text.exit_code == 0, text.output
    assert text.output.count("no python3.12") == 1
    assert f"note: {note}" in text.output
