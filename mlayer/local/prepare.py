"""From a function's name to a ready emulator: its configuration, code and layers, as AWS has them.

The configuration (handler, runtime, memory, timeout, environment, layer ARNs) is read from AWS
or the embedded AWS; the code and layers are the exact zips in the artifact bucket, unpacked
once into a cache keyed by their sha256s.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from mlayer.build.runner import probe_version
from mlayer.errors import LocalRuntimeError
from mlayer.interpreters import find_python_once, require_python
from mlayer.local import opt
from mlayer.local.emulator import Emulator, FunctionSpec
from mlayer.local.environment import function_aws_env
from mlayer.local.runtime_dir import cache_root, runtime_dir
from mlayer.runtimes import RUNTIMES, get_runtime


def function_spec(
    gateway: Any, bucket: str, name: str, cache: Path | None = None, version: str | None = None
) -> tuple[FunctionSpec, dict[str, Any]]:
    """The function's spec with its task root and /opt materialized locally; and its raw config.
    ``version``: a published version's own configuration (its layers, its environment)."""
    config = gateway.get_function_configuration(name, version)
    runtime = config.get("Runtime", "")
    if runtime not in RUNTIMES:
        raise LocalRuntimeError(
            f"Function {name} uses runtime {runtime or '(none: a container image)'}; the local emulation runs "
            f"Python zip functions only ({', '.join(RUNTIMES)}).",
            "Deploy it with `mlayer deploy-function`, which uses a Python runtime.",
        )
    cache = cache or cache_root()
    code = opt.function_artifact(config)
    try:
        code_bytes = opt.fetch(gateway, bucket, code)
    except LocalRuntimeError as exc:
        raise LocalRuntimeError(
            f"Function {name}'s code is not in s3://{bucket}/{code.key} (AWS gives no fetchable copy).",
            "Deploy it with `mlayer deploy-function`, which keeps the code zip there, or point "
            "[artifacts] bucket at the bucket that has it.",
        ) from exc
    task_root = opt.materialize(cache / "task", [code.sha256], lambda _i: code_bytes)
    layers = [opt.layer_artifact(gateway, layer["Arn"]) for layer in config.get("Layers", [])]
    opt_dir = opt.materialize(
        cache / "opt", [a.sha256 for a in layers], lambda i: opt.fetch(gateway, bucket, layers[i])
    )
    spec = FunctionSpec(
        name=config["FunctionName"],
        handler=config["Handler"],
        runtime=runtime,
        task_root=task_root,
        opt_dir=opt_dir,
        memory_mb=int(config.get("MemorySize", 128)),
        timeout_s=int(config.get("Timeout", 3)),
        architecture=(config.get("Architectures") or ["x86_64"])[0],
        environment=dict((config.get("Environment") or {}).get("Variables") or {}),
        region=gateway.region,
        arn=config["FunctionArn"],
        ephemeral_storage_mb=int((config.get("EphemeralStorage") or {}).get("Size") or 512),
        version=str(config.get("Version") or version or "$LATEST"),
    )
    return spec, config


def interpreter_for(runtime: str) -> str:
    """The runtime's own Python (PATH, then pyenv), or a LocalRuntimeError naming what to install.

    A launcher (pyenv's shim is a shell script running ``pyenv exec``) is resolved to the binary
    it runs, once: otherwise every cold start would pay for it inside its Init Duration. Both
    are found once per process (an alias's poll starts a container per version).
    """
    exe = find_python_once(get_runtime(runtime).python_version, probe_version)
    if exe is None:  # the search again, for the error naming what it tried
        exe = require_python(
            runtime,
            "the emulation never runs a function under another Python version",
            probe_version,
        )
    if exe not in _REAL:
        _REAL[exe] = real_executable(exe)
    return _REAL[exe]


_REAL: dict[str, str] = {}  # a found interpreter -> the binary behind it


def real_executable(exe: str) -> str:
    """The interpreter binary behind ``exe`` (itself when it is one, or when asking fails)."""
    try:
        done = subprocess.run(
            [exe, "-S", "-c", "import sys; print(sys.executable)"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return exe
    found = done.stdout.strip()
    return found if done.returncode == 0 and found and Path(found).is_file() else exe


def emulator_for(
    gateway: Any,
    bucket: str,
    name: str,
    version: str | None = None,
    aws_extra: dict[str, str] | None = None,
    **kwargs: Any,
) -> tuple[Emulator, dict[str, Any]]:
    """A (cold) emulator for the function (or one published ``version`` of it), with the
    runtime's interpreter and runtime directory; its AWS is its role's (``aws_extra`` added)."""
    spec, config = function_spec(gateway, bucket, name, version=version)
    exe = interpreter_for(spec.runtime)
    rdir = runtime_dir(exe, spec.python_version)
    aws_env = {**function_aws_env(gateway, config.get("Role")), **(aws_extra or {})}
    kwargs.setdefault("aws_env", aws_env)
    return Emulator(spec, exe, rdir, **kwargs), config
