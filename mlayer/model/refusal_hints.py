"""What to tell a user whose pickle names globals mlayer refused: never a key to run code.

A hint that offers ``--trust posix.system`` hands an attacker's file the keys: a user pastes
it. So names that run commands, code, imports or I/O (``CODE_RUNNING``, data, and whatever
mlayer.model.trust denies inside the allowed packages) get no ``--trust`` hint, only why they cannot
be trusted. A class from a ``.py`` beside the model file is the user's own code: hinted
``--code FILE.py``. A class from another installed package (lightgbm, xgboost, ...) is hinted
``--trust NAME``, with the reminder that the package must be in the dependencies layer too.
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Sequence
from pathlib import Path

from mlayer.model import trust

# module (or module prefix) -> what it does; any global under it can run code
CODE_RUNNING_MODULES: dict[str, str] = {
    "os": "runs commands and touches files",
    "posix": "runs commands and touches files",
    "nt": "runs commands and touches files",
    "subprocess": "runs commands",
    "pty": "runs commands",
    "multiprocessing": "starts processes",
    "importlib": "imports code",
    "runpy": "runs modules",
    "code": "runs code",
    "codeop": "compiles code",
    "pickle": "unpickles more data (runs what it names)",
    "_pickle": "unpickles more data (runs what it names)",
    "marshal": "loads code objects",
    "dill": "unpickles code",
    "cloudpickle": "unpickles code",
    "joblib": "loads (unpickles) files and runs tasks",
    "ctypes": "calls native memory and libraries",
    "_ctypes": "calls native memory and libraries",
    "sys": "reaches the interpreter's modules and hooks",
    "shutil": "copies, moves and deletes files",
    "socket": "opens network connections",
    "_socket": "opens network connections",
    "urllib": "opens URLs",
    "http": "opens network connections",
    "webbrowser": "runs a browser",
    "pdb": "runs code",
    "types": "builds functions and code objects",
    "operator": "calls methods and reads attributes by name (attrgetter, methodcaller)",
    "io": "opens files",
    "_io": "opens files",
    "pathlib": "reads and writes files",
    "tempfile": "creates files",
    "signal": "changes signal handlers",
    "inspect": "reaches frames and source",
    "gc": "reaches every object",
}
CODE_RUNNING_BUILTINS: dict[str, str] = {
    name: "runs code or reaches objects by name"
    for name in (
        "eval exec compile __import__ getattr setattr delattr open input breakpoint globals "
        "locals vars help exit quit __build_class__ memoryview"
    ).split()
}
_HOME_PACKAGES = {"sklearn", "numpy", "scipy", "joblib"}


def code_running(qualname: str) -> str | None:
    """Why this global can never be trusted (it runs code, commands or I/O), or None."""
    module, _, name = qualname.rpartition(".")
    if module in ("builtins", "__builtin__") and name in CODE_RUNNING_BUILTINS:
        return CODE_RUNNING_BUILTINS[name]
    for prefix, why in CODE_RUNNING_MODULES.items():
        if module == prefix or module.startswith(prefix + "."):
            return why
    denied = trust._denied_module(module) or trust._denied_module(qualname)
    if denied or (module.split(".")[0] in _HOME_PACKAGES and name in trust.DENIED_NAMES):
        return denied or trust.DENIED_NAMES[name]
    return None


def _beside(folder: Path | None, module: str) -> Path | None:
    if folder is None:
        return None
    top = module.split(".")[0]
    for candidate in (folder / f"{top}.py", folder / top / "__init__.py"):
        if candidate.is_file():
            return candidate if candidate.name != "__init__.py" else candidate.parent
    return None


def _installed(module: str) -> list[str]:
    top = module.split(".")[0]
    if top in sys.stdlib_module_names or top in _HOME_PACKAGES:
        return []
    return sorted(set(importlib.metadata.packages_distributions().get(top, [])))


def hint(names: Sequence[str], folder: Path | None = None) -> str:
    """The hint for a pickle refused for ``names``; ``folder`` is the model file's folder."""
    if any(n.startswith("__main__.") for n in names):
        return (
            "Classes and functions defined in a script or notebook (__main__) do not exist on "
            "Lambda: move them into a module, save the model again and publish with --code "
            "my_module.py."
        )
    lines, trusts, packages, stats = [], [], set(), False
    for name in names:
        module = name.rpartition(".")[0]
        why = code_running(name)
        if why:
            lines.append(f"{name} cannot be trusted: it {why}. Save the model without it.")
        elif module == "scipy.stats" or module.startswith("scipy.stats."):
            stats = True
            trusts.append(name)
        elif (path := _beside(folder, module)) is not None:
            lines.append(f"{name} is your code: publish with --code {path.name}.")
        elif dists := _installed(module):
            trusts.append(name)
            packages.update(dists)
        else:
            trusts.append(name)
            if module.split(".")[0] not in _HOME_PACKAGES | set(sys.stdlib_module_names):
                top = module.split(".")[0]
                lines.append(f"If {top} is your own module, publish with --code {top}.py.")
    if stats:
        lines.append(
            "A scipy.stats distribution (a RandomizedSearchCV's param_distributions) runs code "
            "saved in the pickle when it is loaded: save the search's best_estimator_ alone and "
            "publish that file instead."
        )
    if trusts:
        given = " ".join(f"--trust {n}" for n in trusts)
        lines.append(
            "mlayer loads only scikit-learn, numpy, scipy and joblib objects and your --code "
            f"modules. If you reviewed what these names do and trust them, publish with {given}."
        )
    if packages:
        lines.append(
            f"The package ({', '.join(sorted(packages))}) must be installed here and in the "
            "deps layer."
        )
    return " ".join(lines)
