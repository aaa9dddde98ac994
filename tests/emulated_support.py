"""The function's code zip in mlayer's Lambda emulation, as the emulated tests run it: /var/task
from the real code zip, /opt holding a model layer and (as links) this venv's scikit-learn
stack in place of the dependencies layer, and the runtime's interpreter and boto3 folder."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RUNTIME = "python{}.{}".format(*sys.version_info[:2])


def link_venv_deps(opt: Path) -> None:
    """Links to the venv's sklearn stack under <opt>/python stand in for the dependencies layer."""
    import joblib
    import numpy
    import scipy
    import sklearn
    import threadpoolctl

    (opt / "python").mkdir(parents=True, exist_ok=True)
    site = Path(sklearn.__file__).parents[1]
    for mod in (sklearn, numpy, scipy, joblib):
        (opt / "python" / mod.__name__).symlink_to(Path(mod.__file__).parent)
    for libs in site.glob("*.libs"):
        (opt / "python" / libs.name).symlink_to(libs)
    (opt / "python" / "threadpoolctl.py").symlink_to(threadpoolctl.__file__)


def function_folders(work: Path, model_dir: Path) -> tuple[Path, Path]:
    """(task root, opt): the code zip extracted, the model layer and the linked stack."""
    from mlayer.deploying.deploy import build_code_zip
    from mlayer.local.opt import extract

    code, _ = build_code_zip(work / "code.zip")
    extract(code, work / "task")
    opt = work / "opt"
    shutil.copytree(model_dir, opt / "mlayer")
    link_venv_deps(opt)
    return work / "task", opt


def interpreter_and_runtime() -> tuple[str, Path]:
    """This runtime's interpreter and its boto3 folder (built once into the layer cache)."""
    from mlayer.local.prepare import interpreter_for
    from mlayer.local.runtime_dir import runtime_dir

    interpreter = interpreter_for(RUNTIME)
    cache = Path(os.environ.get("MLAYER_CACHE_DIR") or REPO / ".cache" / "mlayer")
    return interpreter, runtime_dir(interpreter, RUNTIME.removeprefix("python"), root=cache)
