"""The shared libraries a Lambda Python runtime's image provides, as data, with their source.

A layer's extension modules load with the dynamic loader of Lambda's image, not of the machine
that built the layer: a library this machine has (libgomp.so.1 is the usual one) may be missing
there. These are the sonames an extension module may name in DT_NEEDED and find on Lambda
without shipping it.

Source and certainty (stated, not measured here: this machine cannot pull the images):
- From the package lists of Amazon Linux 2 (glibc 2.26, GCC 7 runtime libraries, zlib,
  OpenSSL 1.0.2 and the openssl11 1.1.1 libraries) and Amazon Linux 2023 (glibc 2.34, GCC 11
  runtime libraries, zlib, OpenSSL 3.0) minimal images, as the Lambda base images
  public.ecr.aws/lambda/python:3.10 and :3.11 (AL2) and :3.12 and :3.13 (AL2023) carry them in
  /lib64 and /usr/lib64, plus the interpreter's own libpython in /var/lang/lib; as known to
  the mlayer authors in December 2026, from AWS's documentation of the images and their
  published package lists.
- Listed only where we are confident. Left out on purpose, because the images do not ship
  them as far as we know: libgomp.so.1 (OpenMP: LightGBM, XGBoost, some scikit-learn builds
  vendor their own), libgfortran, libquadmath, libatomic, BLAS/LAPACK.
- Left out because we are unsure they are there: libexpat, libuuid, libnsl, libcrypt on
  AL2023, libcurl, libxml2, ncurses/readline. A layer that needs one of these is refused by
  name; if the image does have it, ``build-deps --allow-missing-lib NAME`` accepts it
  (docs/FORMATS.md).
"""

from __future__ import annotations

from mlayer.runtimes import Runtime

SOURCE = (
    "package lists of the Amazon Linux 2 and Amazon Linux 2023 minimal images as the Lambda "
    "Python base images carry them (/lib64, /usr/lib64, /var/lang/lib), December 2026; "
    "not read from the images themselves"
)

_GLIBC = (
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libresolv.so.2",
    "libutil.so.1",
    "libanl.so.1",
    "libthread_db.so.1",
    "libBrokenLocale.so.1",
    "libnss_files.so.2",
    "libnss_dns.so.2",
)
_LOADER = {"x86_64": ("ld-linux-x86-64.so.2", "libmvec.so.1"), "arm64": ("ld-linux-aarch64.so.1",)}
# Libraries the interpreter's own modules link (zlib, _bz2, _lzma, _sqlite3, _ctypes, _ssl),
# so every Lambda Python image has them, and the GCC runtime.
_OS_LIBS = {
    "Amazon Linux 2": (
        "libgcc_s.so.1",
        "libstdc++.so.6",  # GCC 7: up to GLIBCXX_3.4.24
        "libz.so.1",
        "libbz2.so.1",
        "liblzma.so.5",
        "libsqlite3.so.0",
        "libffi.so.6",
        "libcrypt.so.1",  # glibc's own on AL2
        "libssl.so.10",  # OpenSSL 1.0.2k
        "libcrypto.so.10",
        "libssl.so.1.1",  # openssl11, which Python 3.10+ needs
        "libcrypto.so.1.1",
    ),
    "Amazon Linux 2023": (
        "libgcc_s.so.1",
        "libstdc++.so.6",  # GCC 11: up to GLIBCXX_3.4.29
        "libz.so.1",
        "libbz2.so.1",
        "liblzma.so.5",
        "libsqlite3.so.0",
        "libffi.so.8",
        "libssl.so.3",  # OpenSSL 3.0
        "libcrypto.so.3",
    ),
}


def provided_libs(runtime: Runtime, arch: str) -> frozenset[str]:
    """The sonames ``runtime`` on ``arch`` provides without a layer shipping them."""
    own = f"libpython{runtime.python_version}.so.1.0"
    return frozenset((*_GLIBC, *_LOADER[arch], *_OS_LIBS[runtime.os], own))
