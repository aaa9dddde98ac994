"""The build cache: a finished layer (tree, zip, result) per key, so a repeat build is a copy.

The key covers everything that changes the output: the requirements file's bytes, the runtime,
the architecture, the builder, whether slimming and bytecode were on, and the code that makes
the layer (the producing modules' bytes and mlayer's version), so a newer mlayer never reuses a
layer an older one built. Modules that only judge a layer (checks, budget, progress) are not in
it: a new check re-judges a cached layer rather than rebuilding it. An entry appears
atomically (built beside it, then renamed), so a crash never leaves half an entry behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlayer import __version__

CACHE_FORMAT = 3  # 2: layer zips at zlib level 6; 3: onnxruntime extras slimmed
ENTRY_RESULT = "result.json"
ENTRY_ZIP = "layer.zip"
ENTRY_TREE = "python"


def default_cache_dir() -> Path:
    return Path(os.environ.get("MLAYER_CACHE_DIR") or Path.home() / ".cache" / "mlayer")


# The modules whose code shapes a layer's bytes (the builders, slimming, stripping, bytecode,
# the tree and zip), and the docker build script.
PRODUCERS = (
    "bytecode.py",
    "docker_builder.py",
    "layer.py",
    "lock.py",
    "pip_builder.py",
    "requirements.py",
    "shadowing.py",
    "slim.py",
    "slim_onnx.py",
    "strip.py",
    "target.py",
    "tree.py",
)


@lru_cache(maxsize=1)
def builder_code_sha256() -> str:
    """What the producing code is: a change to any of it is a new cache key."""
    from mlayer.shipped import shipped_path

    digest = hashlib.sha256(__version__.encode())
    here = Path(__file__).resolve().parent
    paths = [here / name for name in PRODUCERS] + [shipped_path("docker-build", "build.sh")]
    for path in paths:
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes() if path.is_file() else b"<absent>")
    return digest.hexdigest()


def cache_key(
    requirements_sha256: str, runtime: str, arch: str, builder: str, slim: bool, compile: bool
) -> str:
    doc = {
        "format": CACHE_FORMAT,
        "requirements": requirements_sha256,
        "runtime": runtime,
        "arch": arch,
        "builder": builder,
        "slim": slim,
        "compile": compile,
        "code": builder_code_sha256(),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:32]


class BuildCache:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def entry(self, key: str) -> Path:
        return self.root / "layers" / key

    def lock_path(self, key: str) -> Path:
        return self.root / "locks" / f"{key}.lock"

    def load(self, key: str) -> dict[str, Any] | None:
        """The stored result of a complete entry, or None."""
        entry = self.entry(key)
        try:
            doc: dict[str, Any] = json.loads((entry / ENTRY_RESULT).read_text())
        except (OSError, ValueError):
            return None
        zip_path = entry / ENTRY_ZIP
        if not zip_path.is_file() or zip_path.stat().st_size != doc.get("zipped_size"):
            return None
        return doc

    def staging(self, key: str) -> Path:
        path = self.root / "staging" / f"{key}-{os.getpid()}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    def commit(self, key: str, staging: Path, result: dict[str, Any]) -> Path:
        (staging / ENTRY_RESULT).write_text(json.dumps(result, indent=2, sort_keys=True))
        entry = self.entry(key)
        entry.parent.mkdir(parents=True, exist_ok=True)
        if entry.exists():
            shutil.rmtree(entry)
        os.replace(staging, entry)
        return entry
