"""Pure parts of the layer builder: cache keys, budget, pins, pip argv and its failures."""

import shutil

import pytest

from mlayer.build.budget import check_budget, make_budget, to_drop
from mlayer.build.cache import cache_key
from mlayer.build.layer import choose_builder
from mlayer.build.pip_builder import (
    PIP_ATTEMPTS,
    explain_pip_failure,
    install_with_pip,
    pip_argv,
    pip_progress,
)
from mlayer.build.requirements import (
    DEFAULT_RECIPE,
    SHIPPED_ROOT,
    canonical_name,
    parse_requirements,
    requirements_path,
)
from mlayer.build.runner import Completed
from mlayer.build.versions import check_versions
from mlayer.config import DepsSettings
from mlayer.errors import BudgetError, BuildError, ConfigError
from mlayer.runtimes import get_runtime, manylinux_tags

MB = 1024 * 1024


def test_cache_key_changes_with_every_input_and_only_then():
    base = dict(
        requirements_sha256="a" * 64,
        runtime="python3.12",
        arch="x86_64",
        builder="pip",
        slim=True,
        compile=True,
    )
    key = cache_key(**base)
    assert key == cache_key(**base)
    for field, other in [
        ("requirements_sha256", "b" * 64),
        ("runtime", "python3.11"),
        ("arch", "arm64"),
        ("builder", "docker"),
        ("slim", False),
        ("compile", False),
    ]:
        assert cache_key(**{**base, field: other}) != key, field


def test_cache_key_changes_with_the_code_that_builds(monkeypatch):
    """A newer mlayer never reuses a layer an older one built: its producing code is in the key."""
    from mlayer.build import cache

    base = dict(requirements_sha256="a" * 64, runtime="python3.12", arch="x86_64")
    key = cache_key(**base, builder="pip", slim=True, compile=True)
    for name in cache.PRODUCERS:
        assert (cache.Path(cache.__file__).parent / name).is_file(), name
    monkeypatch.setattr(cache, "builder_code_sha256", lambda: "f" * 64)
    assert cache_key(**base, builder="pip", slim=True, compile=True) != key


def test_budget_reports_room_and_the_ten_largest():
    sizes = {f"pkg{i}": (i + 1) * MB for i in range(12)}
    budget = make_budget(200 * MB, 60 * MB, sizes, limit=250 * MB)
    assert budget.fits and budget.room_left == 50 * MB
    assert [n for n, _ in budget.largest][:2] == ["pkg11", "pkg10"]
    assert len(budget.largest) == 10
    check_budget(budget)


def test_over_budget_names_what_to_drop():
    budget = make_budget(
        300 * MB, 90 * MB, {"scipy": 120 * MB, "numpy": 60 * MB, "x": MB}, 250 * MB
    )
    assert not budget.fits
    assert to_drop(budget) == ["scipy"]
    with pytest.raises(BudgetError) as err:
        check_budget(budget)
    assert "over Lambda's" in err.value.message
    assert "Drop scipy" in err.value.hint


def test_pins_and_names_are_canonical():
    pins, names = parse_requirements(
        "# comment\nscikit_learn==1.7.2  # pinned\nNumPy == 2.2.6\njoblib>=1\n-r other.txt\n"
    )
    assert pins == {"scikit-learn": "1.7.2", "numpy": "2.2.6"}
    assert names == ("scikit-learn", "numpy", "joblib")
    assert canonical_name("Scikit.Learn") == "scikit-learn"


def test_a_silent_downgrade_is_an_error():
    check_versions({"numpy": "2.2.6"}, {"numpy": "2.2.6", "scipy": "1.15.3"})
    with pytest.raises(BuildError) as err:
        check_versions({"numpy": "2.2.6"}, {"numpy": "1.26.4"})
    assert "numpy 1.26.4 (pinned 2.2.6)" in err.value.message
    with pytest.raises(BuildError):
        check_versions({"numpy": "2.2.6"}, {})


def test_pip_is_given_every_tag_of_the_runtime():
    runtime = get_runtime("python3.12")
    argv = pip_argv("py", "req.txt", "out", runtime, "arm64")
    platforms = [argv[i + 1] for i, a in enumerate(argv) if a == "--platform"]
    assert platforms == manylinux_tags(runtime, "arm64")
    assert "--only-binary=:all:" in argv
    assert argv[argv.index("--python-version") + 1] == "3.12"
    assert argv[argv.index("--implementation") + 1] == "cp"


def _failed(stderr):
    return Completed(("pip",), 1, "", stderr)


def test_no_wheel_names_the_package_and_the_docker_builder():
    err = explain_pip_failure(
        _failed(
            "ERROR: Could not find a version that satisfies the requirement numpy==1.21.0\n"
            "ERROR: No matching distribution found for numpy==1.21.0\n"
        ),
        get_runtime("python3.12"),
        "arm64",
    )
    assert "numpy==1.21.0" in err.message and "python3.12" in err.message
    assert "--builder docker" in err.hint
    nothing = explain_pip_failure(
        _failed(
            "Looking in indexes: https://pypi.example/simple\n"
            "ERROR: Could not find a version that satisfies the requirement nmupy "
            "(from versions: none)\n"
        ),
        get_runtime("python3.12"),
        "x86_64",
    )
    assert "nmupy" in nothing.message and "check the name" in nothing.hint
    assert "pip looked in https://pypi.example/simple" in nothing.hint


def test_network_failure_says_so():
    err = explain_pip_failure(
        _failed(
            "WARNING: Retrying ... NewConnectionError: Failed to establish a new connection: "
            "[Errno 111] Connection refused\nERROR: No matching distribution found for numpy\n"
        ),
        get_runtime("python3.12"),
        "x86_64",
    )
    assert "could not reach the package index" in err.message


class FakeRunner:
    def __init__(self, returncode):
        self.returncode = returncode
        self.calls = []

    def __call__(self, argv, **_kwargs):
        self.calls.append(list(argv))
        return Completed(tuple(argv), self.returncode, "27.0" if not self.returncode else "", "no")


def test_auto_picks_docker_only_when_an_engine_answers():
    assert choose_builder("auto", FakeRunner(0))[0] == "docker"
    builder, why = choose_builder("auto", FakeRunner(1))
    assert builder == "pip" and "no Docker engine answers" in why
    assert choose_builder("pip", FakeRunner(0))[0] == "pip"
    with pytest.raises(BuildError):
        choose_builder("docker", FakeRunner(1))
    with pytest.raises(ConfigError):
        choose_builder("conda", FakeRunner(0))


def test_the_default_recipe_falls_back_to_the_one_mlayer_ships(tmp_path):
    assert DepsSettings().requirements == DEFAULT_RECIPE
    shipped = SHIPPED_ROOT / DEFAULT_RECIPE
    assert shipped.is_file()
    # a fresh `mlayer init` folder has no layers/: mlayer's own recipe is used
    assert requirements_path(DEFAULT_RECIPE, tmp_path / DEFAULT_RECIPE) == shipped
    # the project's own copy wins, and any other value is taken as it is (errors stay errors)
    own = tmp_path / DEFAULT_RECIPE
    own.parent.mkdir(parents=True)
    own.write_text("numpy==2.2.6\n")
    assert requirements_path(DEFAULT_RECIPE, own) == own
    assert requirements_path("req.txt", tmp_path / "req.txt") == tmp_path / "req.txt"


def test_pip_progress_shows_download_and_install_steps_only():
    shown = []
    on_line = pip_progress(shown.append)
    for line in [
        "Looking in indexes: https://pypi.org/simple",
        "Collecting numpy==2.2.6",
        "  Downloading numpy-2.2.6-cp312-cp312-manylinux_2_17_aarch64.whl (14.1 MB)",
        "Installing collected packages: numpy",
        "Successfully installed numpy-2.2.6",
    ]:
        on_line(line)
    assert shown == [
        "Collecting numpy==2.2.6",
        "Downloading numpy-2.2.6-cp312-cp312-manylinux_2_17_aarch64.whl (14.1 MB)",
        "Installing collected packages: numpy",
        "Successfully installed numpy-2.2.6",
    ]


class ScriptedPip:
    """Answers each pip run with the next (returncode, stderr) of a script, recording the target."""

    def __init__(self, target, *answers):
        self.target, self.answers, self.runs = target, list(answers), 0

    def __call__(self, argv, **_kwargs):
        assert argv[argv.index("--target") + 1] == str(self.target)
        assert not any(self.target.iterdir()), "each run starts from an empty target"
        self.runs += 1
        code, err = self.answers.pop(0)
        (self.target / f"left-by-run-{self.runs}").mkdir()
        return Completed(tuple(argv), code, "", err)


_CUT = (
    "WARNING: Connection interrupted while downloading.\n"
    "error: incomplete-download\n× Download failed after 6 attempts\n"
)


def test_a_download_cut_short_is_run_again_into_an_empty_target(tmp_path):
    reqs, target = tmp_path / "r.txt", tmp_path / "python"
    reqs.write_text("onnxruntime==1.32.0\n")
    target.mkdir()
    shown = []
    pip = ScriptedPip(target, (1, _CUT), (0, ""))
    install_with_pip(reqs, target, get_runtime("python3.12"), "x86_64", pip, on_line=shown.append)
    assert pip.runs == 2 and shown == ["Downloading again: pip lost the network (attempt 2 of 3)"]
    always = ScriptedPip(target, *[(1, _CUT)] * 3)
    shutil.rmtree(target)
    target.mkdir()
    with pytest.raises(BuildError, match="could not reach the package index"):
        install_with_pip(reqs, target, get_runtime("python3.12"), "x86_64", always)
    assert always.runs == PIP_ATTEMPTS == 3


def test_a_failure_that_is_not_the_network_is_never_retried(tmp_path):
    target = tmp_path / "python"
    target.mkdir()
    pip = ScriptedPip(target, (1, "ERROR: No matching distribution found for nmupy\n"))
    with pytest.raises(BuildError, match="nmupy"):
        install_with_pip(tmp_path / "r.txt", target, get_runtime("python3.12"), "x86_64", pip)
    assert pip.runs == 1
