//! `sluice datastore create|show|list` from Azure's datastore YAML, and pipelines whose inputs
//! and outputs are `azureml://datastores/...` paths on real object stores: Azure Blob on Azurite
//! (`SLUICE_TEST_AZURITE`) and S3 on `SeaweedFS` (`SLUICE_TEST_S3`), shared by every test of this
//! binary (`tests/run.sh` starts them). A test that needs a store it was not given says it is
//! skipped. The fault test starts a `SeaweedFS` of its own (it stops it mid-run).

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sluice_artifacts::store::{Artifacts, block_on};

use crate::common::TestContext;

#[path = "../support/object_stores.rs"]
mod support;
use support::{AZURITE_KEY, S3_KEY, S3_SECRET, service};

fn unique() -> String {
    support::unique("ds")
}

fn azurite_store(endpoint: &str) -> Artifacts {
    support::azurite(endpoint, "")
}

fn s3_store(endpoint: &str) -> Artifacts {
    support::seaweedfs(endpoint, "")
}

fn azure_datastore_yaml(name: &str, endpoint: &str) -> String {
    format!(
        "$schema: https://azuremlschemas.azureedge.net/latest/azureBlob.schema.json\n\
         name: {name}\ntype: azure_blob\ndescription: Test data on Azurite.\n\
         account_name: devstoreaccount1\ncontainer_name: artifacts\nendpoint: {endpoint}\n\
         credentials:\n  account_key: {AZURITE_KEY}\n"
    )
}

fn s3_datastore_yaml(name: &str, endpoint: &str) -> String {
    format!(
        "name: {name}\ntype: s3\nbucket: artifacts\nendpoint: {endpoint}\n\
         credentials:\n  access_key_id: {S3_KEY}\n  secret_access_key: {S3_SECRET}\n"
    )
}

#[test]
fn datastores_from_azure_yaml_keep_their_secrets_out_of_sight() {
    let ctx = TestContext::on_test_store();
    // Azure's own example, as published (its key is a placeholder).
    let file = ctx.write(
        "blob.yml",
        "$schema: https://azuremlschemas.azureedge.net/latest/azureBlob.schema.json\n\
         name: blob-example\ntype: azure_blob\ndescription: Datastore pointing to a blob container.\n\
         account_name: mytestblobstore\ncontainer_name: data-container\n\
         credentials:\n  account_key: XXXxxxXXXxXXXXxxXXXXXxXXXXXxXxxXxXXXxXXXxXXxxxXXxxXXXxXxXXXxxXxxXXXXxxxxxXXxxxxxxXXXxXXX\n",
    );
    let created = ctx.json(&[
        "datastore",
        "create",
        "-f",
        file.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(created["name"], "blob-example");
    assert_eq!(created["type"], "azure_blob");
    assert_eq!(created["account_name"], "mytestblobstore");
    assert_eq!(created["container_name"], "data-container");
    assert_eq!(created["endpoint"], "core.windows.net");
    assert_eq!(created["credential"], "account_key");
    let secret =
        "XXXxxxXXXxXXXXxxXXXXXxXXXXXxXxxXxXXXxXXXxXXxxxXXxxXXXxXxXXXxxXxxXXXXxxxxxXXxxxxxxXXXxXXX";
    let shown = ctx.ok(&["datastore", "show", "-n", "blob-example", "-o", "json"]);
    let listed = ctx.ok(&["datastore", "list", "-o", "json"]);
    let audit = ctx.ok(&["audit", "list", "-o", "json"]);
    for text in [&created.to_string(), &shown, &listed, &audit] {
        assert!(!text.contains(secret), "a secret was printed: {text}");
    }
    let secrets = ctx.workspace().join("secrets/datastores/blob-example.json");
    let mode = std::fs::metadata(&secrets)
        .expect("the secrets file")
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "readable by its owner only");
    // The database never holds it.
    if let Ok(db) = std::fs::read(ctx.workspace().join("sluice.db")) {
        assert!(
            !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is in the store"
        );
    }
    // Again, unchanged: nothing to do, nothing audited.
    let again = ctx.run(&["datastore", "create", "-f", file.to_str().unwrap()]);
    assert!(again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("nothing changed"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let audit = ctx.json(&["audit", "list", "-o", "json"]);
    let entries: Vec<&serde_json::Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["target"] == "datastore/blob-example")
        .collect();
    assert_eq!(entries.len(), 1, "{audit:#}");
    assert_eq!(entries[0]["action"], "datastore.create");

    // Mistakes point at their line.
    let bad = ctx.write(
        "bad.yml",
        "name: b\ntype: azure_blob\naccount_name: a\ncontainer_name: c\ncredentials:\n  account_key: k\n  sas_token: t\n",
    );
    let out = ctx.run(&["datastore", "create", "-f", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "a spec error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yml:6:") && err.contains("sas_token"),
        "{err}"
    );
    let out = ctx.run(&["datastore", "show", "-n", "nope"]);
    assert_eq!(out.status.code(), Some(5), "not found");

    // `az ml datastore delete --name X --yes`: the definition and its secrets go, audited.
    let deleted = ctx.json(&[
        "datastore",
        "delete",
        "--name",
        "azureml:blob-example",
        "--yes",
        "-o",
        "json",
    ]);
    assert_eq!(deleted["name"], "blob-example");
    assert!(!secrets.exists(), "its secrets file is removed");
    let out = ctx.run(&["datastore", "show", "-n", "blob-example"]);
    assert_eq!(out.status.code(), Some(5), "gone");
    let out = ctx.run(&["datastore", "delete", "-n", "blob-example"]);
    assert_eq!(out.status.code(), Some(5), "deleting it again: not found");
    assert!(String::from_utf8_lossy(&out.stderr).contains("`blob-example` does not exist"));
    let audit = ctx.ok(&["audit", "list", "-o", "json"]);
    assert!(
        audit.contains("datastore.delete") && audit.contains("datastore/blob-example"),
        "{audit}"
    );
    assert!(!audit.contains(secret), "a secret was printed: {audit}");
}

/// `az ml compute delete --name X --yes`: the definition goes (audited, with what it was); a
/// reader may not; an unknown name is "not found".
#[test]
fn computes_are_deleted_by_contributors() {
    let ctx = TestContext::on_test_store();
    ctx.ok(&[
        "compute",
        "create",
        "--name",
        "cpu-cluster",
        "--type",
        "amlcompute",
        "--max-instances",
        "3",
    ]);
    let reader = ctx.json(&["token", "create", "--name", "viewer", "--role", "reader"]);
    let token = reader["token"].as_str().unwrap();
    let out = ctx.run(&["--token", token, "compute", "delete", "-n", "cpu-cluster"]);
    assert_eq!(out.status.code(), Some(12), "a reader is refused");
    assert!(ctx.json(&["compute", "show", "-n", "cpu-cluster"])["max_instances"] == 3);
    let deleted = ctx.json(&["compute", "delete", "-n", "cpu-cluster", "-y"]);
    assert_eq!(deleted["name"], "cpu-cluster");
    let out = ctx.run(&["compute", "show", "-n", "cpu-cluster"]);
    assert_eq!(out.status.code(), Some(5), "gone");
    let out = ctx.run(&["compute", "delete", "-n", "cpu-cluster"]);
    assert_eq!(out.status.code(), Some(5), "deleting it again: not found");
    let audit = ctx.ok(&["audit", "list", "-o", "json"]);
    assert!(
        audit.contains("compute.delete") && audit.contains("compute/cpu-cluster"),
        "{audit}"
    );
}

/// The pipeline: its input a data asset on Azurite, its output on `SeaweedFS`.
fn remote_pipeline(prefix: &str) -> String {
    format!(
        "$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json\n\
         type: pipeline\nexperiment_name: remote-data\n\
         inputs:\n  taxi:\n    type: uri_folder\n    path: azureml:taxi_remote@latest\n\
         outputs:\n  summary:\n    type: uri_folder\n    path: azureml://datastores/s3out/paths/{prefix}/summary/\n\
         jobs:\n  count:\n    type: command\n\
         \x20   command: cat ${{{{inputs.data}}}}/*.csv | wc -l | tr -d ' ' > ${{{{outputs.out}}}}/rows.txt\n\
         \x20   inputs:\n      data: ${{{{parent.inputs.taxi}}}}\n\
         \x20   outputs:\n      out: ${{{{parent.outputs.summary}}}}\n"
    )
}

/// Every file under the workspace's datastore cache, with its inode (a download replaces it).
fn cached_files(ws: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![ws.join("cache/datastores/azdata/fetched")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "csv") {
                let ino = std::fs::metadata(&p).unwrap().ino();
                out.push((p, ino));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_pipeline_reads_from_azurite_and_writes_to_seaweedfs_and_reruns_without_downloading() {
    let (Some(azurite), Some(s3)) = (
        service("SLUICE_TEST_AZURITE", "the remote-datastore pipeline"),
        service("SLUICE_TEST_S3", "the remote-datastore pipeline"),
    ) else {
        return;
    };
    let ctx = TestContext::on_test_store();
    let prefix = unique();
    let input = azurite_store(&azurite);
    let output = s3_store(&s3);
    block_on(async {
        input
            .put_bytes(&format!("{prefix}/taxi/a.csv"), Bytes::from("fare\n1\n2\n"))
            .await?;
        input
            .put_bytes(&format!("{prefix}/taxi/b.csv"), Bytes::from("fare\n3\n"))
            .await
    })
    .expect("upload the input");

    let az = ctx.write("azdata.yml", &azure_datastore_yaml("azdata", &azurite));
    let s3yml = ctx.write("s3out.yml", &s3_datastore_yaml("s3out", &s3));
    ctx.ok(&["datastore", "create", "-f", az.to_str().unwrap()]);
    ctx.ok(&["datastore", "create", "-f", s3yml.to_str().unwrap()]);
    let data = ctx.write(
        "data.yml",
        &format!(
            "$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json\n\
             name: taxi_remote\ntype: uri_folder\n\
             path: azureml://datastores/azdata/paths/{prefix}/taxi/\n"
        ),
    );
    let asset = ctx.json(&["data", "create", "-f", data.to_str().unwrap(), "-o", "json"]);
    assert_eq!(
        asset["path"],
        format!("azureml://datastores/azdata/paths/{prefix}/taxi/"),
        "the version refers to the datastore path"
    );
    let pipeline = ctx.write("pipeline.yml", &remote_pipeline(&prefix));
    let run = |name: &str| {
        ctx.json(&[
            "job",
            "create",
            "-f",
            pipeline.to_str().unwrap(),
            "--name",
            name,
            "-o",
            "json",
        ])
    };

    let first = run("r1");
    assert_eq!(first["status"], "Completed", "{first}");
    let rows = format!("{prefix}/summary/rows.txt");
    let got = block_on(output.get_bytes(&rows)).expect("the output was uploaded");
    assert_eq!(String::from_utf8_lossy(&got), "5\n");
    let cached = cached_files(&ctx.workspace());
    assert_eq!(cached.len(), 2, "{cached:?}");

    // Unchanged input: nothing downloaded, the step reused, its output left in place.
    let second = run("r2");
    assert_eq!(second["status"], "Completed", "{second}");
    assert_eq!(
        second["jobs"]["count"]["reused_from"], "r1/count",
        "{second}"
    );
    assert_eq!(
        cached_files(&ctx.workspace()),
        cached,
        "a re-run downloaded nothing"
    );
    let got = block_on(output.get_bytes(&rows)).expect("still there");
    assert_eq!(String::from_utf8_lossy(&got), "5\n");

    // One input file changes: only it is downloaded, and the step runs again.
    block_on(input.put_bytes(&format!("{prefix}/taxi/b.csv"), Bytes::from("fare\n3\n4\n")))
        .expect("change the input");
    let third = run("r3");
    assert_eq!(third["status"], "Completed", "{third}");
    assert!(third["jobs"]["count"]["reused_from"].is_null(), "{third}");
    let now = cached_files(&ctx.workspace());
    let unchanged: Vec<_> = now.iter().filter(|f| cached.contains(f)).collect();
    assert_eq!(
        unchanged.len(),
        1,
        "a.csv stays, b.csv is fetched again: {now:?}"
    );
    assert!(unchanged[0].0.ends_with("a.csv"));
    let got = block_on(output.get_bytes(&rows)).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), "6\n");

    // No secret in what a job shows or logs.
    let shown = ctx.ok(&["job", "show", "-n", "r3", "-o", "json"]);
    let logs = ctx.ok(&["job", "stream", "-n", "r3"]);
    for text in [&shown, &logs] {
        assert!(
            !text.contains(AZURITE_KEY) && !text.contains(S3_SECRET),
            "{text}"
        );
    }
}

/// The bytes of the files under `dir`.
fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// A blob service of a test's own (it is killed mid-run), stopped by PID when the test ends.
struct PrivateService {
    dir: tempfile::TempDir,
    script: PathBuf,
    url: String,
}

impl PrivateService {
    /// `service` is `seaweedfs` or `azurite` (its `.ci/services` script); `None`, said, when it
    /// is not installed.
    fn start(service: &str, installed: &str) -> Option<Self> {
        let cache = std::env::var_os("SLUICE_TEST_CACHE").map_or_else(
            || {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                    .join(".cache/sluice-test")
            },
            PathBuf::from,
        );
        if !cache.join(installed).is_file() {
            let _ = writeln!(
                std::io::stderr(),
                "skipped: {service} is not installed (.ci/services/{service}.sh install), so its \
                 fault test did not run"
            );
            return None;
        }
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../.ci/services/{service}.sh"));
        let dir = tempfile::tempdir().expect("temp dir");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(dir.path())
            .output()
            .expect("run the service script");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Some(Self { dir, script, url })
    }

    fn pid(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pid"))
            .expect("pid file")
            .trim()
            .to_owned()
    }

    fn kill(&self) {
        let ok = std::process::Command::new("kill")
            .args(["-KILL", &self.pid()])
            .status()
            .expect("kill");
        assert!(ok.success());
    }

    fn restart(&self) {
        let out = std::process::Command::new("bash")
            .arg(&self.script)
            .arg("restart")
            .arg(self.dir.path())
            .output()
            .expect("run the service script");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for PrivateService {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(&self.script)
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

#[test]
fn killing_seaweedfs_mid_upload_fails_the_step_and_resume_completes_it() {
    let Some(service) = PrivateService::start("seaweedfs", "seaweedfs/bin/weed") else {
        return;
    };
    let yaml = s3_datastore_yaml("fault", &service.url);
    let store = s3_store(&service.url);
    kill_mid_upload(&service, &yaml, &store, "s3://artifacts/");
}

#[test]
fn killing_azurite_mid_upload_fails_the_step_and_resume_completes_it() {
    let Some(service) = PrivateService::start("azurite", "azurite/node_modules/.bin/azurite-blob")
    else {
        return;
    };
    let yaml = azure_datastore_yaml("fault", &service.url);
    let store = azurite_store(&service.url);
    kill_mid_upload(
        &service,
        &yaml,
        &store,
        "wasbs://artifacts@devstoreaccount1.blob.core.windows.net/",
    );
}

/// A step writes 400 MB to a datastore path; the service is killed once the upload is under
/// way: the step fails with the store's error, nothing is visible after a restart, and
/// `job resume` uploads it whole.
fn kill_mid_upload(service: &PrivateService, yaml: &str, store: &Artifacts, shown: &str) {
    const SIZE: u64 = 400_000_000;
    let ctx = TestContext::on_test_store();
    let prefix = unique();
    let definition = ctx.write("fault.yml", yaml);
    ctx.ok(&["datastore", "create", "-f", definition.to_str().unwrap()]);
    let job = ctx.write(
        "big.yml",
        &format!(
            "type: command\ncommand: head -c {SIZE} /dev/urandom > ${{{{outputs.out}}}}/big.bin\n\
             outputs:\n  out:\n    type: uri_folder\n    path: azureml://datastores/fault/paths/{prefix}/out/\n"
        ),
    );
    let stored = || dir_size(&service.dir.path().join("data"));
    let before = stored();
    let child = ctx
        .command(&[
            "job",
            "create",
            "-f",
            job.to_str().unwrap(),
            "--name",
            "big",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run sluice");
    // The service dies once the upload is under way (its first parts are on disk).
    let deadline = std::time::Instant::now() + std::time::Duration::from_mins(2);
    while stored() < before + 40_000_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the upload never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    service.kill();
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "the job failed:\n{stderr}");
    let shown_job = ctx.json(&["job", "show", "-n", "big", "-o", "json"]);
    let error = shown_job["jobs"]["main"]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.starts_with(&format!(
            "uploading output `out` to azureml://datastores/fault/paths/{prefix}/out failed: cannot write '{prefix}/out/big.bin' in {shown}"
        )),
        "a clear error: {error}"
    );
    assert!(
        !error.contains(S3_SECRET) && !error.contains(AZURITE_KEY),
        "{error}"
    );

    service.restart();
    let visible = block_on(store.list_files(&prefix)).expect("list");
    assert!(visible.is_empty(), "half an upload is visible: {visible:?}");

    let resumed = ctx.run(&["job", "resume", "-n", "big"]);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let done = block_on(store.head(&format!("{prefix}/out/big.bin")))
        .expect("head")
        .expect("the output is there after the resume");
    assert_eq!(done.size, SIZE);
}

#[test]
fn a_workspace_whose_artifacts_live_on_s3_registers_reads_and_keeps_outputs_there() {
    let Some(s3) = service("SLUICE_TEST_S3", "the workspace-artifacts-on-S3 test") else {
        return;
    };
    let ctx = TestContext::on_test_store();
    let prefix = unique();
    std::fs::create_dir_all(ctx.workspace()).unwrap();
    std::fs::write(
        ctx.workspace().join("artifacts"),
        format!("# where this workspace's artifacts live\ns3://artifacts/{prefix}\n"),
    )
    .unwrap();
    let env = [
        ("AWS_ACCESS_KEY_ID", S3_KEY),
        ("AWS_SECRET_ACCESS_KEY", S3_SECRET),
        ("MLFLOW_S3_ENDPOINT_URL", s3.as_str()),
    ];
    let run = |args: &[&str]| {
        let out = ctx.command(args).envs(env).output().expect("run sluice");
        assert!(
            out.status.success(),
            "`sluice {}` failed\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default()
    };
    ctx.write("model/MLmodel", "flavors: {}\n");
    ctx.write("model/weights.txt", "0.5 0.25\n");
    let mv = run(&[
        "model",
        "create",
        "--name",
        "remote-model",
        "--path",
        "model",
        "-o",
        "json",
    ]);
    assert_eq!(mv["version"], "1", "{mv}");
    let store = s3_store(&s3);
    let stored =
        block_on(store.list_files(&format!("{prefix}/registered/remote-model"))).expect("list");
    let names: Vec<&str> = stored.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(
        names.iter().any(|n| n.ends_with("/weights.txt")),
        "{names:?}"
    );
    assert!(
        !ctx.workspace().join("mlartifacts/registered").exists(),
        "the model's files went to the workspace's folder"
    );
    // A job reads the version (fetched from S3) and writes ./outputs (kept in its run's
    // artifacts, on S3).
    ctx.write(
        "use.yml",
        "type: command\ncommand: mkdir -p outputs && cat ${{inputs.m}}/weights.txt > outputs/seen.txt\n\
         inputs:\n  m:\n    type: custom_model\n    path: azureml:remote-model:1\n",
    );
    let job = run(&[
        "job", "create", "-f", "use.yml", "--name", "use", "-o", "json",
    ]);
    assert_eq!(job["status"], "Completed", "{job}");
    let run_id = job["jobs"]["main"]["mlflow"]["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let kept = block_on(store.list_files(&prefix)).expect("list");
    let seen = kept
        .iter()
        .find(|f| {
            f.path
                .ends_with(&format!("{run_id}/artifacts/outputs/seen.txt"))
        })
        .unwrap_or_else(|| panic!("no outputs/seen.txt of run {run_id} in {kept:?}"));
    let bytes = block_on(store.get_bytes(&format!("{prefix}/{}", seen.path))).unwrap();
    assert_eq!(String::from_utf8_lossy(&bytes), "0.5 0.25\n");
}
