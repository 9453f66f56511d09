#!/usr/bin/env bash
# Installs `check-jsonschema` (from PyPI; it ships copies of GitHub's workflow schema and
# Azure Pipelines' schema) into $CACHE/check-jsonschema, for the test that validates the
# pipelines `sluice ci init` writes (crates/sluice/tests/cli/ci.rs). Point the tests at it with
# `export SLUICE_TEST_CHECK_JSONSCHEMA=$CACHE/check-jsonschema`.
#
# CACHE is $SLUICE_TEST_CACHE, or $HOME/.cache/sluice-test/ when that is unset. Idempotent.
set -euo pipefail

CACHE="${SLUICE_TEST_CACHE:-$HOME/.cache/sluice-test}"
PYTHON="${SLUICE_TEST_PYTHON:-python3}"
DEST="$CACHE/check-jsonschema"

if PYTHONPATH="$DEST" "$PYTHON" -m check_jsonschema --version >/dev/null 2>&1; then
    echo "check-jsonschema: already installed: $(PYTHONPATH="$DEST" "$PYTHON" -m check_jsonschema --version)"
    exit 0
fi
start=$SECONDS
rm -rf "$DEST.partial"
mkdir -p "$CACHE"
"$PYTHON" -m pip install --quiet --disable-pip-version-check --target "$DEST.partial" 'check-jsonschema>=0.29,<1'
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"
echo "check-jsonschema: installed $(PYTHONPATH="$DEST" "$PYTHON" -m check_jsonschema --version) in $((SECONDS - start)) s"
