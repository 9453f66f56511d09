#!/usr/bin/env bash
# Every test: the workspace's suites (the store on SQLite), then the store and server suites,
# the real `mlflow` clients and the fault tests again with the store on PostgreSQL.
#
# The artifact-store suites use Azurite (`SLUICE_TEST_AZURITE`) and SeaweedFS (`SLUICE_TEST_S3`):
# when those are unset and the services are installed (`.ci/services/azurite.sh install`,
# `.ci/services/seaweedfs.sh install`), one of each is started here on free ports for the whole
# run and stopped by its PID at the end; otherwise those tests say they are skipped.
#
# The Slurm tests use the cluster whose slurm.conf `SLUICE_TEST_SLURM` names; when it is unset,
# Slurm is installed (`.ci/services/slurm.sh install`) and this runs as root, a private
# single-node cluster is started here for the whole run; otherwise those tests say they are skipped.
#
# The PostgreSQL pass uses the server `SLUICE_TEST_POSTGRES` names; if it is unset and
# PostgreSQL is installed (`.ci/services/postgres.sh install`), a private one is started here on a
# free port and stopped by its PID at the end. Without either, that pass says it is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_dir="" az_dir="" sw_dir="" sl_dir=""
stop_services() {
    [ -n "$sl_dir" ] && { bash .ci/services/slurm.sh stop "$sl_dir" || true; rm -rf "$sl_dir"; }
    [ -n "$pg_dir" ] && { bash .ci/services/postgres.sh stop "$pg_dir" || true; rm -rf "$pg_dir"; }
    [ -n "$az_dir" ] && { bash .ci/services/azurite.sh stop "$az_dir" || true; rm -rf "$az_dir"; }
    [ -n "$sw_dir" ] && { bash .ci/services/seaweedfs.sh stop "$sw_dir" || true; rm -rf "$sw_dir"; }
    return 0
}
trap stop_services EXIT
cache="${SLUICE_TEST_CACHE:-$HOME/.cache/sluice-test}"
if [ -z "${SLUICE_TEST_AZURITE:-}" ] && [ -x "$cache/azurite/node_modules/.bin/azurite-blob" ]; then
    az_dir=$(mktemp -d /tmp/sluice-test-azurite.XXXXXX)
    SLUICE_TEST_AZURITE=$(bash .ci/services/azurite.sh start "$az_dir")
    export SLUICE_TEST_AZURITE
fi
if [ -z "${SLUICE_TEST_S3:-}" ] && [ -x "$cache/seaweedfs/bin/weed" ]; then
    sw_dir=$(mktemp -d /tmp/sluice-test-seaweedfs.XXXXXX)
    SLUICE_TEST_S3=$(bash .ci/services/seaweedfs.sh start "$sw_dir")
    export SLUICE_TEST_S3
fi
if [ -z "${SLUICE_TEST_SLURM:-}" ] && [ "$(id -u)" -eq 0 ] && command -v slurmctld >/dev/null 2>&1; then
    sl_dir=$(mktemp -d /tmp/sluice-test-slurm.XXXXXX)
    chmod 755 "$sl_dir"
    # Two nodes on this machine, so that steps spanning nodes run as on a cluster.
    SLUICE_TEST_SLURM=$(SLURM_NODES=2 bash .ci/services/slurm.sh start "$sl_dir")
    export SLUICE_TEST_SLURM
fi
[ -n "${SLUICE_TEST_SLURM:-}" ] || echo "skipped: the Slurm tests (Slurm is not installed, this is not root, or SLUICE_TEST_SLURM is unset)"
[ -n "${SLUICE_TEST_AZURITE:-}" ] || echo "skipped: the Azure Blob tests (Azurite is not installed and SLUICE_TEST_AZURITE is unset)"
[ -n "${SLUICE_TEST_S3:-}" ] || echo "skipped: the S3 tests (SeaweedFS is not installed and SLUICE_TEST_S3 is unset)"

echo "== tests (store on SQLite)"
SLUICE_TEST_POSTGRES= cargo test --workspace --locked

if [ -z "${SLUICE_TEST_POSTGRES:-}" ]; then
    if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
        pg_dir=$(mktemp -d /tmp/sluice-test-pg.XXXXXX)
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
    governance::four_eyes_gate_audit_and_lineage_on_the_example \
    datastore:: \
    infra::a_workspace_on_postgresql_is_applied_and_a_second_apply_changes_nothing \
    slurm::
