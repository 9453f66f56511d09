#!/usr/bin/env bash
# Installs `onnxruntime` and `onnx` (from PyPI) into $CACHE/onnx, for the tests that check the
# ONNX form of Sluice's models with a real runtime (crates/sluice-ml/tests/onnx.rs) and load it
# with `mlflow.pyfunc.load_model` (crates/sluice/tests/cli/step.rs). Point the tests at it with
# `export SLUICE_TEST_ONNXRUNTIME=$CACHE/onnx`.
#
# CACHE is $SLUICE_TEST_CACHE, or $HOME/.cache/sluice-test/ when that is unset. Idempotent.
set -euo pipefail

CACHE="${SLUICE_TEST_CACHE:-$HOME/.cache/sluice-test}"
PYTHON="${SLUICE_TEST_PYTHON:-python3}"
DEST="$CACHE/onnx"
check() { PYTHONPATH="$DEST" "$PYTHON" -c 'import onnx, onnxruntime; print("onnxruntime", onnxruntime.__version__, "onnx", onnx.__version__)'; }

if check >/dev/null 2>&1; then
    echo "onnx: already installed: $(check)"
    exit 0
fi
start=$SECONDS
rm -rf "$DEST.partial"
mkdir -p "$CACHE"
"$PYTHON" -m pip install --quiet --disable-pip-version-check --target "$DEST.partial" \
    'onnxruntime>=1.17,<2' 'onnx>=1.15,<2'
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"
echo "onnx: installed $(check) in $((SECONDS - start)) s"
