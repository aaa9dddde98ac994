"""slim_onnx's finder on small onnxruntime-shaped trees: what it proposes, what it keeps."""

from __future__ import annotations

from pathlib import Path

from mlayer.build.slim_onnx import c_api_libraries, find_onnxruntime_unused, tool_packages


def _fake_ort_tree(root: Path, binding_mentions_capi: bool = False) -> Path:
    capi = root / "onnxruntime" / "capi"
    capi.mkdir(parents=True)
    (root / "onnxruntime" / "__init__.py").write_text("from .capi import _pybind_state\n")
    binding = b"\x7fELF" + b"\0" * 100 + b"libonnxruntime_providers_shared.so\0"
    if binding_mentions_capi:
        binding += b"libonnxruntime.so.1\0"
    (capi / "onnxruntime_pybind11_state.cpython-312-x86_64-linux-gnu.so").write_bytes(binding)
    (capi / "libonnxruntime.so.1.32.0").write_bytes(b"\x7fELF" + b"\0" * 1000)
    (capi / "libonnxruntime_providers_shared.so").write_bytes(b"\x7fELF")
    for pkg in ("tools", "quantization", "transformers"):
        (root / "onnxruntime" / pkg).mkdir()
        (root / "onnxruntime" / pkg / "__init__.py").write_text("")
    return root


def test_slim_finder_proposes_the_unreferenced_c_api_library_and_tools(tmp_path):
    tree = _fake_ort_tree(tmp_path)
    found = find_onnxruntime_unused(tree)
    assert [p.relative_to(tree).as_posix() for p in found] == [
        "onnxruntime/capi/libonnxruntime.so.1.32.0",
        "onnxruntime/transformers",
        "onnxruntime/quantization",
        "onnxruntime/tools",
    ]


def test_slim_finder_keeps_what_is_referenced(tmp_path):
    tree = _fake_ort_tree(tmp_path, binding_mentions_capi=True)
    (tree / "onnxruntime" / "debug.py").write_text("from .transformers import machine_info\n")
    assert c_api_libraries(tree) == []
    assert [p.name for p in tool_packages(tree)] == ["quantization", "tools"]


def test_slim_finder_ignores_other_layers(tmp_path):
    (tmp_path / "sklearn").mkdir()
    assert find_onnxruntime_unused(tmp_path) == []
