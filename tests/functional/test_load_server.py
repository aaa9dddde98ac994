"""publish's child load through the warm fork server (mlayer.model.load_server), on Linux.

Each load is a fork of a server that imported scikit-learn once: a model that crashes its fork is
still a refusal naming the signal and the server serves the next load; what a model does to its
process never reaches the next load; a killed server (between loads, or by the model mid-load)
costs a one-shot child for that load and a new server for the next; two threads get their own
answers; and the server goes when mlayer goes.
"""

from __future__ import annotations

import importlib
import os
import select
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from mlayer.errors import ModelError
from mlayer.model import load_server
from mlayer.model.load_child import Loaded, load_in_child
from tests.functional.test_loader_crash import crashing  # noqa: F401 (a fixture)
from tests.publish_support import (
    create_function,
    publish,
    publish_deps,
    run_cli,
    train_text_pipeline,
)

pytestmark = pytest.mark.skipif(not load_server.available(), reason="the server forks: Linux")

REPO = Path(__file__).resolve().parents[2]

# Loaded with --code: Polluter changes the process that loads it in every way a model can reach
# cheaply; Probe reports which of those changes it finds, and the MLAYER_PROBE of its caller.
STATE_MODULE = """
import os
import signal
import sys

import sklearn

LEAKED = False


class Polluter:
    def __setstate__(self, state):
        global LEAKED
        LEAKED = True
        sys.mlayer_leak = True
        sklearn.mlayer_leak = True
        os.environ["MLAYER_LEAK"] = "1"
        sys.path.insert(0, "/nonexistent/leak")
        self.__dict__.update(state)

    def predict(self, rows):
        return ["polluted" for _ in rows]


class Probe:
    def predict(self, rows):
        found = [
            name
            for name, leaked in (
                ("module", LEAKED),
                ("sys", hasattr(sys, "mlayer_leak")),
                ("sklearn", hasattr(sklearn, "mlayer_leak")),
                ("env", "MLAYER_LEAK" in os.environ),
                ("path", "/nonexistent/leak" in sys.path),
            )
            if leaked
        ]
        return [",".join(found) + "|" + os.environ.get("MLAYER_PROBE", "") for _ in rows]


class KillsTheServer:
    def __setstate__(self, state):
        parent = os.getppid()
        with open(f"/proc/{parent}/cmdline", "rb") as cmdline:
            if b"serve(handler" in cmdline.read():  # the warm server, never mlayer itself
                os.kill(parent, signal.SIGKILL)
        self.__dict__.update(state)

    def predict(self, rows):
        return ["answered" for _ in rows]
"""


@pytest.fixture(scope="module")
def code_models(tmp_path_factory):
    """my_state.py and a pickle of each of its classes (the module gone from sys.modules)."""
    folder = tmp_path_factory.mktemp("load-server-code")
    (folder / "my_state.py").write_text(STATE_MODULE)
    sys.path.insert(0, str(folder))
    try:
        module = importlib.import_module("my_state")
        paths = {}
        for name in ("Polluter", "Probe", "KillsTheServer"):
            obj = getattr(module, name)()
            obj.state = name  # a state, so that loading calls __setstate__
            paths[name] = folder / f"{name}.joblib"
            joblib.dump(obj, paths[name])
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("my_state", None)
    return folder, paths


def load_record_model(path: Path, code_dir: str) -> str:
    """One load of a model that takes records, as publish asks it: its one sample's prediction."""
    loaded = load_in_child(
        [path.read_bytes()], [path], [code_dir], [None], "record", [{"id": "r-1"}]
    )
    return str(loaded.samples[0]["prediction"])


@pytest.fixture(scope="module")
def text_model(tmp_path_factory):
    return train_text_pipeline(tmp_path_factory.mktemp("load-server-text"))


@pytest.fixture(scope="module")
def features_model(tmp_path_factory):
    rng = np.random.default_rng(1)
    model = LogisticRegression().fit(rng.random((30, 4)), np.array(["a", "b", "c"] * 10))
    path = tmp_path_factory.mktemp("load-server-features") / "model.joblib"
    joblib.dump(model, path)
    return [path]


def load_text(pipeline: dict[str, Path]) -> Loaded:
    paths = [pipeline["countvectorizer"], pipeline["tfidf"], pipeline["model"]]
    blobs = [p.read_bytes() for p in paths]
    return load_in_child(blobs, paths, [], [None] * 3, None, [{"id": "t", "text": "free cash"}])


def load_features(paths: list[Path]) -> Loaded:
    blobs = [p.read_bytes() for p in paths]
    records = [{"id": "f", "features": [0.1, 0.2, 0.3, 0.4]}]
    return load_in_child(blobs, paths, [], [None], "features", records)


def test_a_crash_through_the_server_is_a_refusal_and_the_server_serves_the_next(
    gw,
    crashing,  # noqa: F811
    text_model,
):
    path, module, said = crashing
    create_function(gw, [publish_deps(gw)])
    load_text(text_model)  # the server is up
    server = load_server.server_pid()
    assert server is not None
    args = ["publish-model", str(path), "--code", str(module), "--input", "features", "--yes"]
    result, doc = run_cli(*args)
    assert result.exit_code == 1, result.output
    assert f"the model crashed the loader: {said}" in doc["message"]
    assert load_server.server_pid() == server  # its fork died, not the server
    result, doc = publish(text_model)
    assert result.exit_code == 0, result.output
    assert doc["layer_version_arn"]
    assert load_server.server_pid() == server


def test_what_a_model_does_to_its_process_does_not_reach_the_next_load(code_models, monkeypatch):
    folder, paths = code_models
    monkeypatch.setenv("MLAYER_PROBE", "before")
    assert load_record_model(paths["Probe"], str(folder)) == "|before"
    assert load_record_model(paths["Polluter"], str(folder)) == "polluted"
    monkeypatch.setenv("MLAYER_PROBE", "after")  # the caller's env at each load, not the server's
    assert load_record_model(paths["Probe"], str(folder)) == "|after"
    assert not hasattr(sys, "mlayer_leak") and "MLAYER_LEAK" not in os.environ


def test_relative_code_dirs_follow_the_callers_working_directory(code_models, monkeypatch):
    folder, paths = code_models
    monkeypatch.chdir(folder.parent)
    assert load_record_model(paths["Probe"], folder.name) == "|"
    monkeypatch.chdir(folder)
    assert load_record_model(paths["Probe"], ".") == "|"


def test_a_server_killed_between_loads_is_replaced(text_model):
    expected = load_text(text_model)
    server = load_server.server_pid()
    assert server is not None
    os.kill(server, 9)
    assert load_text(text_model) == expected
    assert load_text(text_model) == expected
    assert load_server.server_pid() not in (None, server)


def test_a_server_killed_mid_load_falls_back_to_a_one_shot_child(code_models, text_model):
    folder, paths = code_models
    expected = load_text(text_model)
    server = load_server.server_pid()
    assert server is not None
    # the model kills the server that forked it: that load is answered by a fresh child
    assert load_record_model(paths["KillsTheServer"], str(folder)) == "answered"
    assert load_server.server_pid() is None
    assert load_text(text_model) == expected
    assert load_server.server_pid() not in (None, server)


def test_two_threads_loading_at_once_get_their_own_answers(text_model, features_model):
    expected = {"text": load_text(text_model), "features": load_features(features_model)}
    assert expected["text"] != expected["features"]
    loads = {
        "text": lambda: load_text(text_model),
        "features": lambda: load_features(features_model),
    }
    start = threading.Barrier(2)
    got: dict[str, list[Loaded]] = {"text": [], "features": []}

    def worker(kind: str) -> None:
        start.wait()
        for _ in range(3):
            got[kind].append(loads[kind]())

    threads = [threading.Thread(target=worker, args=(kind,)) for kind in loads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert got == {kind: [answer] * 3 for kind, answer in expected.items()}


def test_a_forked_mlayer_starts_its_own_server(features_model, text_model):
    """The parent's server and pipes are the parent's: a fork of mlayer never writes to them."""
    expected = load_text(text_model)
    server = load_server.server_pid()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the forked mlayer: one load, its server's pid, then gone
        code = 1
        try:
            answer = load_features(features_model).outputs["classes"]
            os.write(write, f"{load_server.server_pid()} {','.join(answer)}".encode())
            load_server.stop()
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    ready, _, _ = select.select([read], [], [], 120)
    if not ready:  # never hang the suite on a fork of a threaded pytest
        os.kill(pid, 9)
    with os.fdopen(read, "rb") as got:
        said = got.read().decode()
    assert os.waitpid(pid, 0)[1] == 0
    theirs, classes = said.split()
    assert classes == "a,b,c" and int(theirs) != server
    assert load_text(text_model) == expected and load_server.server_pid() == server


def test_a_refusal_from_the_server_is_the_one_shot_childs(features_model, tmp_path):
    """A file that is no pipeline at all: the same ModelError, message and all."""
    junk = tmp_path / "model.joblib"
    joblib.dump({"not": "a model"}, junk)
    with pytest.raises(ModelError, match=r"holds a dict, which has no predict\(\)"):
        load_in_child([junk.read_bytes()], [junk], [], [None], "features", None)
    assert load_features(features_model).outputs["classes"] == ["a", "b", "c"]


def test_the_server_exits_when_mlayer_is_gone(features_model):
    """mlayer killed outright (no atexit): the server reads EOF on its stdin and exits."""
    script = textwrap.dedent(
        """
        import os, sys
        from pathlib import Path
        from mlayer.model import load_server
        from mlayer.model.load_child import load_in_child

        path = Path(sys.argv[1])
        load_in_child([path.read_bytes()], [path], [], [None], "features", None)
        print(load_server.server_pid(), flush=True)
        os.kill(os.getpid(), 9)
        """
    )
    mlayer = subprocess.run(
        [sys.executable, "-c", script, str(features_model[0])],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert mlayer.returncode == -9, mlayer.stderr
    server = int(mlayer.stdout)
    deadline = time.monotonic() + 30
    while _running(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(server)


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for whoever adopted it to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
