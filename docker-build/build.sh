#!/usr/bin/env bash
# Runs inside the Lambda build image (public.ecr.aws/sam/build-python3.X:latest-<arch>), started
# by mlayer's docker builder:
#   build.sh install <requirements file> <target dir>
# Installs into <target dir> with the image's own Python, so wheels match the runtime's glibc and
# CPU exactly, and packages without a wheel are compiled here (the image has gcc). Slimming,
# bytecode and zipping happen afterwards, driven by mlayer.
set -euo pipefail

PYTHON="${PYTHON:-python${MLAYER_PYTHON_VERSION:?MLAYER_PYTHON_VERSION is not set}}"

case "${1:-}" in
  install)
    requirements="$2"
    target="$3"
    mkdir -p "$target"
    "$PYTHON" -m pip install \
      --disable-pip-version-check --no-input --no-compile --prefer-binary \
      --target "$target" -r "$requirements"
    ;;
  *)
    echo "usage: build.sh install <requirements> <target>" >&2
    exit 2
    ;;
esac
