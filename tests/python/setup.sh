#!/usr/bin/env bash
# Installs `uv` for the Python-step tests (crates/sluice/tests/cli/python.rs) into
# $CACHE/uv/bin/uv, so that every temporary test workspace shares one uv (and one uv package
# cache) instead of installing its own. Point the tests at it with
# `export SLUICE_TEST_UV=$CACHE/uv/bin/uv SLUICE_TEST_PYPI=1`.
#
# CACHE is $SLUICE_TEST_CACHE, or $HOME/.cache/sluice-test/ when that is unset. Idempotent.
set -euo pipefail

CACHE="${SLUICE_TEST_CACHE:-$HOME/.cache/sluice-test}"
PYTHON="${SLUICE_TEST_PYTHON:-python3}"
UV="$CACHE/uv/bin/uv"

if [[ -x "$UV" ]] && "$UV" --version >/dev/null 2>&1; then
    echo "uv: already installed: $("$UV" --version)"
    exit 0
fi
start=$SECONDS
rm -rf "$CACHE/uv.partial"
mkdir -p "$CACHE"
"$PYTHON" -m pip install --quiet --disable-pip-version-check --target "$CACHE/uv.partial" 'uv>=0.5,<1'
rm -rf "$CACHE/uv"
mv "$CACHE/uv.partial" "$CACHE/uv"
echo "uv: installed $("$UV" --version) in $((SECONDS - start)) s"
