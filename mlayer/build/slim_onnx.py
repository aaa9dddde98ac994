"""What an onnxruntime layer carries that serving never loads, found by evidence, not by name.

``onnxruntime/capi/libonnxruntime.so.*`` (35 MB) is the C API library for C/C++ callers; the
Python binding (``onnxruntime_pybind11_state*.so``) is a separate build that neither links it
(no DT_NEEDED entry) nor dlopens it (its soname appears in no other file of the layer). It is
proposed for removal only when that holds, and slim.py's remove_step still keeps it unless the
layer imports without it. The pure-Python tool packages (model transformers, quantization,
conversion tools) are for building models, and ``import onnxruntime`` does not import them.
"""

from __future__ import annotations

from pathlib import Path

C_API_PREFIX = "libonnxruntime.so"
TOOL_PACKAGES = ("transformers", "quantization", "tools")
_ELF_MAGIC = b"\x7fELF"


def _mentions(path: Path, needle: bytes) -> bool:
    """Whether ``needle`` occurs in the file, read in overlapping chunks (large .so files)."""
    tail = b""
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            if needle in tail + chunk:
                return True
            tail = chunk[-len(needle) :]
    return False


def _is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(4) == _ELF_MAGIC
    except OSError:
        return False


def c_api_libraries(tree: Path) -> list[Path]:
    """The C API library files, when no other binary or module of the tree refers to them."""
    capi = tree / "onnxruntime" / "capi"
    if not capi.is_dir():
        return []
    libs = sorted(p for p in capi.iterdir() if p.name.startswith(C_API_PREFIX))
    if not libs:
        return []
    needle = C_API_PREFIX.encode()
    for path in sorted(tree.rglob("*")):
        if path in libs or not path.is_file() or path.is_symlink():
            continue
        if (path.suffix == ".py" or _is_elf(path)) and _mentions(path, needle):
            return []
    return libs


def tool_packages(tree: Path) -> list[Path]:
    """onnxruntime's model-building packages that its own runtime modules never import."""
    root = tree / "onnxruntime"
    if not root.is_dir():
        return []
    found = [root / name for name in TOOL_PACKAGES if (root / name).is_dir()]
    runtime_code = [
        p for p in root.rglob("*.py") if not any(p.is_relative_to(pkg) for pkg in found)
    ]
    kept = []
    for pkg in found:
        dotted = f"onnxruntime.{pkg.name}".encode()
        relative = f"from .{pkg.name}".encode()
        if not any(_mentions(p, dotted) or _mentions(p, relative) for p in runtime_code):
            kept.append(pkg)
    return kept


def find_onnxruntime_unused(tree: Path) -> list[Path]:
    """slim.py's finder for onnxruntime layers (empty for any other layer)."""
    return c_api_libraries(tree) + tool_packages(tree)
