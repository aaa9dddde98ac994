"""Issue 23 case 11: a layer whose native code needs a library Lambda's image lacks is refused.

A real shared object, compiled here with gcc and linked against libgomp (as LightGBM's
lib_lightgbm.so is), in a layer tree: refused by name for python3.12 (libgomp.so.1 is not in
Amazon Linux 2023's Lambda image), accepted when the layer vendors libgomp the way auditwheel
does (a copy in <package>.libs/ found through the RPATH), and accepted when the user vouches
for it. test_layer_libs_cli.py does the same through build-deps.
"""

from __future__ import annotations

import pytest
from native_libs_support import REFUSAL, host_libgomp, tree_with

from mlayer.build.checks import check_native_libs
from mlayer.errors import BuildError
from mlayer.runtimes import RUNTIMES

pytestmark = pytest.mark.skipif(host_libgomp() is None, reason="needs gcc and libgomp to link")


def test_a_library_the_image_lacks_is_refused_by_name(tmp_path):
    tree = tree_with(tmp_path)
    with pytest.raises(BuildError) as err:
        check_native_libs(tree, RUNTIMES["python3.12"], "x86_64")
    assert err.value.message == REFUSAL
    assert "auditwheel repair" in err.value.hint
    assert "--allow-missing-lib libgomp.so.1" in err.value.hint
    with pytest.raises(BuildError, match="which python3.11 on Lambda does not provide"):
        check_native_libs(tree, RUNTIMES["python3.11"], "x86_64")


def test_a_copy_the_loader_finds_through_the_rpath_is_accepted(tmp_path):
    tree = tree_with(
        tmp_path, vendored="gompdemo.libs/libgomp.so.1", rpath="$ORIGIN/../../gompdemo.libs"
    )
    assert check_native_libs(tree, RUNTIMES["python3.12"], "x86_64") == 2


def test_a_copy_where_the_loader_does_not_look_is_refused_with_where_it_is(tmp_path):
    tree = tree_with(tmp_path, vendored="elsewhere/libgomp.so.1")
    with pytest.raises(BuildError) as err:
        check_native_libs(tree, RUNTIMES["python3.12"], "x86_64")
    assert "the layer ships it only at elsewhere/libgomp.so.1, where the loader does not look" in (
        err.value.message
    )


def test_an_rpath_outside_the_layer_does_not_count(tmp_path):
    """This machine's /usr/lib has libgomp; Lambda's does not: an absolute RPATH finds nothing."""
    tree = tree_with(tmp_path, rpath=str(host_libgomp().parent))
    with pytest.raises(BuildError, match="needs libgomp.so.1"):
        check_native_libs(tree, RUNTIMES["python3.12"], "x86_64")


def test_a_library_the_user_vouches_for_is_accepted(tmp_path):
    tree = tree_with(tmp_path)
    assert check_native_libs(tree, RUNTIMES["python3.12"], "x86_64", ("libgomp.so.1",)) == 1
