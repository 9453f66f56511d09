#!/usr/bin/env bash
# Creates the two Python virtual environments that the `mlflow` integration tests
# (crates/sluice/tests/mlflow/) drive the real MLflow client from:
#
#   $CACHE/venv-mlflow3   mlflow 3.x (latest)  + scikit-learn + pandas
#   $CACHE/venv-mlflow2   mlflow 2.22.x        + scikit-learn + pandas
#
# CACHE is $SLUICE_TEST_CACHE, or $HOME/.cache/sluice-test/ when that is unset. Point the tests
# at it with `export SLUICE_TEST_MLFLOW_VENVS=$CACHE`.
#
# Idempotent: a venv whose install finished (a `.sluice-ok` stamp) and whose installed versions
# still match is left alone; anything else is (re)installed. Only PyPI is needed. A cold install
# of both takes a few minutes; the time of each is printed.
set -euo pipefail

CACHE="${SLUICE_TEST_CACHE:-$HOME/.cache/sluice-test}"
PYTHON="${SLUICE_TEST_PYTHON:-python3}"

# name | pip requirement for mlflow | version prefix that counts as installed
VENVS=(
    "venv-mlflow3|mlflow==3.*|3."
    "venv-mlflow2|mlflow==2.22.*|2.22."
)
EXTRAS=(scikit-learn pandas)

# Prints "mlflow=X scikit-learn=Y pandas=Z" for a venv, or fails if one is missing.
versions() {
    "$1/bin/python" - <<'EOF'
from importlib.metadata import version
print(" ".join(f"{p}={version(p)}" for p in ("mlflow", "scikit-learn", "pandas")))
EOF
}

# True when the venv finished installing and its mlflow starts with the expected prefix.
installed() {
    local dir=$1 prefix=$2 mlflow_version
    [[ -x "$dir/bin/python" && -f "$dir/.sluice-ok" ]] || return 1
    versions "$dir" >/dev/null 2>&1 || return 1
    mlflow_version=$("$dir/bin/python" -c \
        'from importlib.metadata import version; print(version("mlflow"))' 2>/dev/null) || return 1
    [[ "$mlflow_version" == "$prefix"* ]]
}

mkdir -p "$CACHE"
echo "mlflow test venvs in $CACHE (python: $("$PYTHON" --version 2>&1))"

for entry in "${VENVS[@]}"; do
    IFS='|' read -r name requirement prefix <<<"$entry"
    dir="$CACHE/$name"
    if installed "$dir" "$prefix"; then
        echo "$name: already installed: $(versions "$dir")"
        continue
    fi
    start=$SECONDS
    echo "$name: installing $requirement ${EXTRAS[*]} ..."
    rm -f "$dir/.sluice-ok"
    # A venv left broken by an interrupted run is recreated from scratch.
    if [[ ! -x "$dir/bin/python" ]] || ! "$dir/bin/python" -m pip --version >/dev/null 2>&1; then
        "$PYTHON" -m venv --clear "$dir"
    fi
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check \
        "$requirement" "${EXTRAS[@]}"
    installed_versions=$(versions "$dir")
    mlflow_version=${installed_versions%% *}
    mlflow_version=${mlflow_version#mlflow=}
    if [[ "$mlflow_version" != "$prefix"* ]]; then
        echo "$name: expected mlflow $prefix*, got $mlflow_version" >&2
        exit 1
    fi
    touch "$dir/.sluice-ok"
    echo "$name: installed in $((SECONDS - start)) s: $installed_versions"
done
