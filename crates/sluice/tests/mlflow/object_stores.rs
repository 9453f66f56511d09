//! The real client's whole flow (`tests/mlflow/client_flow.py`: log, list and download
//! artifacts, log and load models, the registry) with `sluice server --artifacts-destination` on
//! Azure Blob (Azurite, `SLUICE_TEST_AZURITE`) and on S3 (`SeaweedFS`, `SLUICE_TEST_S3`), the
//! credentials given to the server as MLflow's server takes them (environment variables). After
//! the flow the objects are in the bucket or container, and none in the workspace's folder.
//! Skipped (and said so) when the service is not running; `tests/run.sh` starts both.

use std::path::Path;

use sluice_artifacts::store::Artifacts;

#[path = "../support/object_stores.rs"]
mod support;
use support::{AZURITE_KEY, S3_KEY, S3_SECRET, service};

#[test]
fn mlflow3_client_flow_with_artifacts_on_azurite() {
    let Some(endpoint) = service("SLUICE_TEST_AZURITE", "the Azurite client flow") else {
        return;
    };
    let prefix = support::unique("mlflow");
    let destination = format!("wasbs://artifacts@devstoreaccount1.blob.core.windows.net/{prefix}");
    let connection = format!(
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={AZURITE_KEY};\
         BlobEndpoint={endpoint};"
    );
    let dir = super::client_flow_with(
        "venv-mlflow3",
        &["--artifacts-destination", &destination],
        &[("AZURE_STORAGE_CONNECTION_STRING", connection)],
    );
    let store = support::azurite(&endpoint, &prefix);
    the_artifacts_are_in(&store, dir.path());
}

#[test]
fn mlflow3_client_flow_with_artifacts_on_seaweedfs() {
    let Some(endpoint) = service("SLUICE_TEST_S3", "the SeaweedFS client flow") else {
        return;
    };
    let prefix = support::unique("mlflow");
    let dir = super::client_flow_with(
        "venv-mlflow3",
        &[
            "--artifacts-destination",
            &format!("s3://artifacts/{prefix}"),
        ],
        &[
            ("AWS_ACCESS_KEY_ID", S3_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", S3_SECRET.to_owned()),
            ("MLFLOW_S3_ENDPOINT_URL", endpoint.clone()),
        ],
    );
    let store = support::seaweedfs(&endpoint, &prefix);
    the_artifacts_are_in(&store, dir.path());
}

/// The flow's files are objects under the destination's prefix, and the workspace's own
/// artifact folder holds none of them.
fn the_artifacts_are_in(store: &Artifacts, dir: &Path) {
    if std::env::var_os(super::VENVS_VAR).is_none_or(|v| v.is_empty()) {
        return; // the flow was skipped (and said so)
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let files = runtime
        .block_on(store.list_files(""))
        .expect("list the destination");
    let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
    for wanted in [
        "/artifacts/data/blob.bin",
        "/MLmodel",
        "/artifacts/notes/readme.txt",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(wanted)),
            "no object ending in {wanted} in {}: {names:?}",
            store.describe()
        );
    }
    let local = dir.join("ws/mlartifacts");
    let on_disk = walk_files(&local);
    assert!(
        on_disk.is_empty(),
        "artifacts were written to the workspace's folder instead: {on_disk:?}"
    );
}

fn walk_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p.display().to_string());
        }
    }
    out
}
