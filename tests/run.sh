#!/usr/bin/env bash
# Every test: the workspace's suites (the store on SQLite), then the store and server suites,
# the real `mlflow` clients and the fault tests again with the store on PostgreSQL.
#
# The PostgreSQL pass uses the server `SLUICE_TEST_POSTGRES` names; if it is unset and
# PostgreSQL is installed (`.ci/services/postgres.sh install`), a private one is started here on a
# free port and stopped by its PID at the end. Without either, that pass says it is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== tests (store on SQLite)"
SLUICE_TEST_POSTGRES= cargo test --workspace --locked

pg_dir=""
stop_postgres() {
    [ -n "$pg_dir" ] && bash .ci/services/postgres.sh stop "$pg_dir" || true
    [ -n "$pg_dir" ] && rm -rf "$pg_dir"
}
if [ -z "${SLUICE_TEST_POSTGRES:-}" ]; then
    if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
        pg_dir=$(mktemp -d /tmp/sluice-test-pg.XXXXXX)
        trap stop_postgres EXIT
        SLUICE_TEST_POSTGRES=$(bash .ci/services/postgres.sh start "$pg_dir")
        export SLUICE_TEST_POSTGRES SLUICE_TEST_POSTGRES_DIR="$pg_dir"
    else
        echo "skipped: the PostgreSQL pass (no PostgreSQL installed and SLUICE_TEST_POSTGRES unset;" \
             "'bash .ci/services/postgres.sh install' installs it)"
        exit 0
    fi
fi

echo "== tests (store on PostgreSQL: ${SLUICE_TEST_POSTGRES%%@*}@...)"
cargo test --locked -p sluice-store -p sluice-server
cargo test --locked -p sluice --test mlflow
cargo test --locked -p sluice --test cli -- \
    fault::every_acknowledged_write_survives_kill_9_of_the_server \
    fault::several_servers_on_one_store_serve_the_same_data \
    job::example_pipeline_trains_registers_and_gates \
    governance::four_eyes_gate_audit_and_lineage_on_the_example
