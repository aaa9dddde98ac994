"""Shared objects that need libgomp.so.1, compiled here with gcc, in layer trees (issue 23 case 11)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

SOURCE = "int omp_get_max_threads(void);\nint threads(void) { return omp_get_max_threads(); }\n"
REFUSAL = (
    "gompdemo/lib/libgompdemo.so needs libgomp.so.1, which python3.12 on Lambda does not provide"
    " and the layer does not ship."
)


def host_libgomp() -> Path | None:
    if shutil.which("gcc") is None:
        return None
    found = subprocess.run(
        ["gcc", "-print-file-name=libgomp.so.1"], capture_output=True, text=True
    ).stdout.strip()
    return Path(found).resolve() if found and Path(found).is_file() else None


def compile_so(out: Path, rpath: str | None = None) -> Path:
    """A shared object whose DT_NEEDED names libgomp.so.1 (and libc.so.6)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    source = out.with_suffix(".c")
    source.write_text(SOURCE)
    argv = ["gcc", "-shared", "-fPIC", "-o", str(out), str(source), "-lgomp"]
    if rpath:
        argv.append(f"-Wl,-rpath,{rpath}")
    subprocess.run(argv, check=True)
    source.unlink()
    return out


def tree_with(tmp_path: Path, *, vendored: str | None = None, rpath: str | None = None) -> Path:
    """A layer tree: gompdemo/lib/libgompdemo.so, and a copy of libgomp at ``vendored``."""
    tree = tmp_path / "python"
    compile_so(tree / "gompdemo" / "lib" / "libgompdemo.so", rpath)
    (tree / "gompdemo" / "__init__.py").write_text("")
    if vendored:
        (tree / vendored).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(host_libgomp(), tree / vendored)
    return tree
