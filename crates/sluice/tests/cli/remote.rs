//! The team server: `sluice server` owns a workspace and runs the jobs clients send with
//! `sluice --url URL job ...`; the client prints what the local command prints and exits with
//! the same code. A real server process on a free loopback port, real client processes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::TestContext;

/// `sluice server` on a free port over `ctx`'s workspace; stopped (SIGTERM, then KILL) on drop.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) url: String,
}

impl Server {
    fn start(ctx: &TestContext, extra: &[&str]) -> Self {
        Self::start_with(ctx, extra, &[])
    }

    /// The server with variables `env` set (and passed on to the jobs it runs).
    pub(crate) fn start_with(ctx: &TestContext, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = ctx
            .command(&["server", "--port", "0", "--mlflow-ui", "off"])
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start sluice server");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("the server printed where it listens")
                .expect("read stderr");
            if let Some(rest) = line.split("Listening on ").nth(1) {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Self { child, url }
    }
}

impl Server {
    /// SIGKILL: the server stops at once, cleaning nothing up.
    pub(crate) fn kill(&mut self) {
        self.child.kill().expect("kill the server");
        self.child.wait().expect("reap the server");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client in its own folder (no workspace there), pointed at `url` with `token`.
pub(crate) fn client(
    dir: &std::path::Path,
    url: &str,
    token: Option<&str>,
    args: &[&str],
) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("SLUICE_URL", url)
        .env_remove("SLUICE_WORKSPACE")
        .env_remove("SLUICE_STORE")
        .env_remove("SLUICE_OUTPUT");
    match token {
        Some(t) => cmd.env("SLUICE_TOKEN", t),
        None => cmd.env_remove("SLUICE_TOKEN"),
    };
    cmd
}

/// `job cancel` of `job` through the server at `url`: it succeeds and the job is `Canceled`.
fn cancel_remotely(dir: &std::path::Path, url: &str, token: Option<&str>, job: &str) {
    let out = client(dir, url, token, &["job", "cancel", "-n", job, "-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["status"], "Canceled");
}

fn token(ctx: &TestContext, name: &str, role: &str) -> String {
    let v = ctx.json(&["token", "create", "--name", name, "--role", role]);
    v["token"].as_str().unwrap().to_owned()
}

const PIPELINE: &str = r"type: pipeline
jobs:
  prep:
    type: command
    code: ./src
    command: python3 prep.py ${{inputs.raw}} ${{outputs.clean}}
    inputs:
      raw:
        type: uri_file
        path: ./data/raw.csv
    outputs:
      clean:
        type: uri_folder
  report:
    type: command
    command: echo rows=$(wc -l < ${{inputs.clean}}/clean.csv)
    inputs:
      clean: ${{parent.jobs.prep.outputs.clean}}
";

fn project(root: &std::path::Path) -> std::path::PathBuf {
    let p = root.join("team-project");
    std::fs::create_dir_all(p.join("src")).unwrap();
    std::fs::create_dir_all(p.join("data")).unwrap();
    std::fs::write(p.join("pipeline.yml"), PIPELINE).unwrap();
    std::fs::write(
        p.join("src/prep.py"),
        "import sys, os\nrows = [l for l in open(sys.argv[1]) if l.strip()]\nos.makedirs(sys.argv[2], exist_ok=True)\nopen(os.path.join(sys.argv[2], 'clean.csv'), 'w').writelines(rows)\nprint('prep kept', len(rows), 'rows')\n",
    )
    .unwrap();
    std::fs::write(p.join("data/raw.csv"), "a,1\n\nb,2\nc,3\n").unwrap();
    // Ignored by the upload.
    std::fs::write(p.join(".amlignore"), "scratch/\n").unwrap();
    std::fs::create_dir_all(p.join("scratch")).unwrap();
    std::fs::write(p.join("scratch/big.bin"), vec![0u8; 1 << 20]).unwrap();
    p
}

#[test]
fn a_client_submits_follows_and_reads_jobs_on_a_team_server() {
    let server_ctx = TestContext::on_test_store();
    let owner = token(&server_ctx, "olga", "owner");
    let carol = token(&server_ctx, "carol", "contributor");
    let rita = token(&server_ctx, "rita", "reader");
    let server = Server::start(&server_ctx, &["--auth"]);
    let clients = tempfile::tempdir().unwrap();
    let proj = project(clients.path());

    // `job create --stream`: uploaded, run on the server, its logs followed over HTTP.
    let out = client(
        &proj,
        &server.url,
        Some(&carol),
        &[
            "job",
            "create",
            "-f",
            "pipeline.yml",
            "--name",
            "team1",
            "--stream",
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("[prep] prep kept 3 rows"), "{stderr}");
    assert!(stderr.contains("[report] rows=3"), "{stderr}");
    assert!(stderr.contains("job team1: Completed"), "{stderr}");
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["name"], "team1");
    assert_eq!(shown["status"], "Completed");
    // The experiment is named after the client's folder, as a local run would name it.
    assert_eq!(shown["experiment_name"], "team-project");

    // The job ran in the server's workspace, from the uploaded copy (not the ignored folder).
    let local = server_ctx.json(&["job", "show", "-n", "team1"]);
    assert_eq!(local["status"], "Completed");
    // (The server and the token given as flags this time, neither in the environment.)
    let remote = client(
        &proj,
        &server.url,
        None,
        &[
            "--url",
            &server.url,
            "--token",
            &rita,
            "job",
            "show",
            "-n",
            "team1",
        ],
    )
    .env_remove("SLUICE_URL")
    .output()
    .unwrap();
    assert!(
        remote.status.success(),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    let remote: Value = serde_json::from_slice(&remote.stdout).unwrap();
    assert_eq!(remote, local, "`job show` is the same remotely");
    let uploads = server_ctx.workspace().join("uploads");
    let copies: Vec<_> = std::fs::read_dir(&uploads).unwrap().flatten().collect();
    assert_eq!(copies.len(), 1);
    let copy = copies[0].path().join("team-project");
    assert!(copy.join("src/prep.py").is_file());
    assert!(
        !copy.join("scratch").exists(),
        ".amlignore applies to the upload"
    );

    // It acted as the submitter: the job's MLflow run belongs to carol.
    let run_id = local["mlflow"]["run_id"].as_str().unwrap();
    let run: Value = ureq::get(format!(
        "{}/api/2.0/mlflow/runs/get?run_id={run_id}",
        server.url
    ))
    .header("Authorization", &format!("Bearer {owner}"))
    .call()
    .unwrap()
    .body_mut()
    .read_json()
    .unwrap();
    let user = run["run"]["data"]["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["key"] == "mlflow.user")
        .map(|t| t["value"].clone());
    assert_eq!(user, Some(Value::from("carol")));

    // `job list` as the reader; `-o table` as locally.
    let out = client(
        &proj,
        &server.url,
        Some(&rita),
        &["job", "list", "-o", "table"],
    )
    .output()
    .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("team1"));

    // Roles hold: a reader cannot submit (exit 12), no token is refused (exit 12).
    let out = client(
        &proj,
        &server.url,
        Some(&rita),
        &["job", "create", "-f", "pipeline.yml"],
    )
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(12),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = client(&proj, &server.url, None, &["job", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(12));

    // A step that fails: exit 1, the failure reported, as locally.
    std::fs::write(
        proj.join("fail.yml"),
        "type: command\ncommand: echo about to fail; exit 9\n",
    )
    .unwrap();
    let out = client(
        &proj,
        &server.url,
        Some(&carol),
        &["job", "create", "-f", "fail.yml", "--name", "bad"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exited with code 9"));

    // An invalid file: refused before anything is uploaded, located, exit 3.
    std::fs::write(proj.join("broken.yml"), "type: command\ncomand: echo\n").unwrap();
    let out = client(
        &proj,
        &server.url,
        Some(&carol),
        &["job", "create", "-f", "broken.yml"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("broken.yml:1:1") && stderr.contains("neither `command`"),
        "{stderr}"
    );
    // What only the server can judge (a data asset it does not have) comes back with its code.
    std::fs::write(
        proj.join("asset.yml"),
        "type: command\ncommand: cat ${{inputs.d}}\ninputs:\n  d:\n    type: uri_file\n    path: azureml:nowhere@latest\n",
    )
    .unwrap();
    let out = client(
        &proj,
        &server.url,
        Some(&carol),
        &["job", "create", "-f", "asset.yml"],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(3 | 5)),
        "{:?} {stderr}",
        out.status
    );
    assert!(stderr.contains("nowhere"), "{stderr}");
    // The same name twice: exit 6.
    let out = client(
        &proj,
        &server.url,
        Some(&carol),
        &["job", "create", "-f", "pipeline.yml", "--name", "team1"],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(6));

    // `environment build` runs on the server, where its jobs run: an environment it does not
    // have is refused there as locally (same message, same exit code).
    let out = client(
        &proj,
        &server.url,
        Some(&carol),
        &["environment", "build", "--name", "nowhere-env"],
    )
    .output()
    .unwrap();
    let here = server_ctx.run(&["environment", "build", "--name", "nowhere-env"]);
    assert_eq!(out.status.code(), here.status.code());
    assert_ne!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&here.stderr)
    );
    // A command that is not remote says so (exit 2).
    let out = client(&proj, &server.url, Some(&carol), &["server", "--port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not work against a team server yet")
    );
}

/// `job show` of the README's example with what differs between two workspaces and runs taken
/// out: each step's status, dependencies, command (its workspace, job folder and the data file's
/// folder named `[WS]`, `[JOB]` and `[DATA]`), inputs' kinds, values and content hashes (but a
/// model's: its `MLmodel` records when and by which run it was made), outputs' types, its run's
/// status and metrics; the job's status and the names and versions of the models it registered.
fn comparable(shown: &Value, root: &std::path::Path, job: &str) -> Value {
    let text = shown.to_string();
    let canonical = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
    let text = text
        .replace(&canonical.display().to_string(), "[WS]")
        .replace(&root.display().to_string(), "[WS]")
        .replace(&format!("/jobs/{job}/"), "/jobs/[JOB]/");
    let text = regex::Regex::new(r"[^ \x22]*/data/taxi-data\.csv")
        .unwrap()
        .replace_all(&text, "[DATA]/taxi-data.csv")
        .into_owned();
    let shown: Value = serde_json::from_str(&text).unwrap();
    let is_model = |i: &Value| {
        i["step"].as_str().is_some_and(|step| {
            shown["jobs"][step]["outputs"][i["output"].as_str().unwrap_or_default()]["type"]
                == "mlflow_model"
        })
    };
    let steps: serde_json::Map<String, Value> = shown["jobs"]
        .as_object()
        .expect("steps")
        .iter()
        .map(|(name, s)| {
            let inputs: serde_json::Map<String, Value> = s["inputs"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, i)| {
                    (
                        k.clone(),
                        serde_json::json!([
                            i["kind"],
                            i["value"],
                            if is_model(i) {
                                Value::Null
                            } else {
                                i["content_hash"].clone()
                            }
                        ]),
                    )
                })
                .collect();
            let outputs: serde_json::Map<String, Value> = s["outputs"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, o)| (k.clone(), o["type"].clone()))
                .collect();
            (
                name.clone(),
                serde_json::json!({
                    "status": s["status"],
                    "depends_on": s["depends_on"],
                    "command": s["command"],
                    "inputs": inputs,
                    "outputs": outputs,
                    "run": [s["mlflow"]["status"], s["mlflow"]["metrics"]],
                }),
            )
        })
        .collect();
    serde_json::json!({
        "status": shown["status"],
        "type": shown["type"],
        "steps": steps,
        "registered_models": shown["registered_models"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| serde_json::json!([m["name"], m["version"]]))
            .collect::<Vec<_>>(),
    })
}

/// The README's example (`examples/taxi-fare/pipeline.yml`, as a user copies it) submitted to a
/// team server on another port with a contributor token: the client's `job show` is the
/// server's own, and it shows what a local run of the same file shows in a workspace of its own
/// (the same steps, commands, data hashes, statuses and seeded metrics, the model registered).
#[test]
fn the_readme_example_runs_on_a_team_server_as_it_runs_locally() {
    let local = TestContext::new();
    local.copy_example("taxi-fare");
    let here = local.json(&[
        "job",
        "create",
        "-f",
        "taxi-fare/pipeline.yml",
        "--name",
        "readme-local",
        "-o",
        "json",
    ]);
    assert_eq!(here["status"], "Completed", "{here:#}");

    let server_ctx = TestContext::on_test_store();
    let carol = token(&server_ctx, "carol", "contributor");
    let rita = token(&server_ctx, "rita", "reader");
    let server = Server::start(&server_ctx, &["--auth"]);
    let clients = TestContext::new();
    clients.copy_example("taxi-fare");
    let out = client(
        clients.root(),
        &server.url,
        Some(&carol),
        &[
            "job",
            "create",
            "-f",
            "taxi-fare/pipeline.yml",
            "--name",
            "readme-remote",
            "--stream",
            "-o",
            "json",
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("job readme-remote: Completed"), "{stderr}");
    let there: Value = serde_json::from_slice(&out.stdout).unwrap();
    // `job show` through the server (a reader may read) is the server's own `job show`.
    let shown = client(
        clients.root(),
        &server.url,
        Some(&rita),
        &["job", "show", "-n", "readme-remote"],
    )
    .output()
    .unwrap();
    assert!(shown.status.success());
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(
        shown,
        server_ctx.json(&["job", "show", "-n", "readme-remote"])
    );
    assert_eq!(shown["status"], there["status"]);
    // And it is what the local run shows.
    let remote = comparable(&shown, server_ctx.root(), "readme-remote");
    let local_view = comparable(&here, local.root(), "readme-local");
    assert_eq!(
        serde_json::to_string_pretty(&remote).unwrap(),
        serde_json::to_string_pretty(&local_view).unwrap()
    );
    assert_eq!(
        remote["steps"].as_object().map(serde_json::Map::len),
        Some(4)
    );

    // `job explain` through the server says what the server's own says.
    let explained = client(
        clients.root(),
        &server.url,
        Some(&rita),
        &["job", "explain", "-n", "readme-remote"],
    )
    .output()
    .unwrap();
    assert!(explained.status.success());
    assert_eq!(
        String::from_utf8_lossy(&explained.stdout),
        server_ctx.ok(&["job", "explain", "-n", "readme-remote"])
    );
    // `model export` writes its file here: the server's export of the registered model, byte
    // for byte, and the output names the local file.
    std::fs::create_dir_all(clients.root().join("exported")).unwrap();
    let out = client(
        clients.root(),
        &server.url,
        Some(&rita),
        &[
            "model",
            "export",
            "-n",
            "taxi-fare-model",
            "-v",
            "1",
            "--format",
            "onnx",
            "--file",
            "exported/model.onnx",
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("exported/model.onnx"), "{printed}");
    assert!(!printed.contains("uploads/out-"), "{printed}");
    let theirs = server_ctx.root().join("server.onnx");
    server_ctx.ok(&[
        "model",
        "export",
        "-n",
        "taxi-fare-model",
        "-v",
        "1",
        "--format",
        "onnx",
        "--file",
        theirs.to_str().unwrap(),
    ]);
    let mine = std::fs::read(clients.root().join("exported/model.onnx")).unwrap();
    assert!(mine.len() > 1000, "{} bytes", mine.len());
    assert_eq!(mine, std::fs::read(&theirs).unwrap());
}

/// The layout of Azure's `MLOps` templates: the job file in `mlops/azureml/train/`, its code,
/// data and a component beside that folder (`../../../data-science/src`). The upload holds each path the
/// job reads where it is below the project (data a `.gitignore` leaves out included, since the
/// job reads it), and nothing else of the project.
#[test]
fn a_job_reading_code_and_data_outside_its_folder_runs_remotely_as_written() {
    let server_ctx = TestContext::on_test_store();
    let server = Server::start(&server_ctx, &[]);
    let clients = tempfile::tempdir().unwrap();
    let proj = clients.path().join("mlops-project");
    for dir in [
        "mlops/azureml/train",
        "mlops/azureml/components",
        "data-science/src",
        "data",
        "scratch",
    ] {
        std::fs::create_dir_all(proj.join(dir)).unwrap();
    }
    std::fs::write(
        proj.join("mlops/azureml/train/pipeline.yml"),
        PIPELINE
            .replace(
                "type: pipeline\n",
                "type: pipeline\ninputs:\n  notes: ../../../notes.txt\n",
            )
            .replace("./src", "../../../data-science/src")
            .replace("./data/raw.csv", "../../../data/raw.csv")
            .replace(
                "    type: command\n    command: echo rows",
                "    component: ../components/report.yml\n    # command: echo rows",
            ),
    )
    .unwrap();
    std::fs::write(
        proj.join("mlops/azureml/components/report.yml"),
        "$schema: https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json\ntype: command\nname: report\ninputs:\n  clean:\n    type: uri_folder\ncommand: echo rows=$(wc -l < ${{inputs.clean}}/clean.csv)\n",
    )
    .unwrap();
    std::fs::write(
        proj.join("data-science/src/prep.py"),
        "import sys, os\nrows = [l for l in open(sys.argv[1]) if l.strip()]\nos.makedirs(sys.argv[2], exist_ok=True)\nopen(os.path.join(sys.argv[2], 'clean.csv'), 'w').writelines(rows)\nprint('prep kept', len(rows), 'rows')\n",
    )
    .unwrap();
    std::fs::write(proj.join("data/raw.csv"), "a,1\n\nb,2\nc,3\n").unwrap();
    std::fs::write(proj.join("notes.txt"), "an input given as a plain value\n").unwrap();
    std::fs::write(proj.join(".gitignore"), "data/\n").unwrap();
    std::fs::write(proj.join("scratch/big.bin"), vec![0u8; 1 << 20]).unwrap();

    let out = client(
        &proj,
        &server.url,
        None,
        &[
            "job",
            "create",
            "-f",
            "mlops/azureml/train/pipeline.yml",
            "--name",
            "layout1",
            "--stream",
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("[prep] prep kept 3 rows"), "{stderr}");
    assert!(stderr.contains("[report] rows=3"), "{stderr}");
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["status"], "Completed");
    assert_eq!(shown["experiment_name"], "mlops-project");

    let uploads = server_ctx.workspace().join("uploads");
    let copies: Vec<_> = std::fs::read_dir(&uploads).unwrap().flatten().collect();
    assert_eq!(copies.len(), 1);
    let copy = copies[0].path().join("mlops-project");
    for file in [
        "mlops/azureml/train/pipeline.yml",
        "mlops/azureml/components/report.yml",
        "data-science/src/prep.py",
        "data/raw.csv",
        "notes.txt",
    ] {
        assert!(copy.join(file).is_file(), "{file} is uploaded");
    }
    assert!(
        !copy.join("scratch").exists(),
        "what the job does not read stays here"
    );

    // A local data path outside every folder but `/` is refused before anything is sent.
    let stray = tempfile::tempdir().unwrap();
    std::fs::write(stray.path().join("x.csv"), "a\n").unwrap();
    let far = format!(
        "{}/{}",
        (0..proj.join("mlops/azureml/train").components().count() - 1)
            .map(|_| "..")
            .collect::<Vec<_>>()
            .join("/"),
        stray
            .path()
            .join("x.csv")
            .display()
            .to_string()
            .trim_start_matches('/')
    );
    std::fs::write(
        proj.join("mlops/azureml/train/far.yml"),
        format!("type: command\ncommand: cat ${{{{inputs.x}}}}\ninputs:\n  x:\n    type: uri_file\n    path: {far}\n"),
    )
    .unwrap();
    let out = client(
        &proj,
        &server.url,
        None,
        &["job", "create", "-f", "mlops/azureml/train/far.yml"],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("which shares no folder but `/` with the job file"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(&uploads).unwrap().count(),
        1,
        "nothing was uploaded"
    );
}

#[test]
fn a_submitted_job_outlives_its_client_and_is_canceled_remotely() {
    let server_ctx = TestContext::on_test_store();
    let server = Server::start(&server_ctx, &[]);
    let clients = tempfile::tempdir().unwrap();
    let proj = clients.path().join("slow");
    std::fs::create_dir_all(&proj).unwrap();
    std::fs::write(
        proj.join("slow.yml"),
        format!(
            "type: command\ncommand: echo started; if [ -f {go} ]; then echo resumed; else sleep 3604; fi\n",
            go = clients.path().join("go").display()
        ),
    )
    .unwrap();
    let mut submitter = client(
        &proj,
        &server.url,
        None,
        &["job", "create", "-f", "slow.yml", "--name", "long"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let status = |who: &str| -> String {
        let out = client(
            &proj,
            &server.url,
            None,
            &[
                "job", "show", "-n", "long", "--query", "status", "-o", "tsv",
            ],
        )
        .output()
        .unwrap();
        let _ = who;
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let deadline = Instant::now() + Duration::from_mins(1);
    while status("poll") != "Running" {
        assert!(Instant::now() < deadline, "the job never ran");
        std::thread::sleep(Duration::from_millis(100));
    }
    // The client goes away; the job does not.
    submitter.kill().unwrap();
    submitter.wait().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(status("after"), "Running");
    // `job stream` from another client shows what it printed so far.
    cancel_remotely(&proj, &server.url, None, "long");
    let out = client(&proj, &server.url, None, &["job", "stream", "-n", "long"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "a canceled job's stream exits 4"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("[main] started"), "{stderr}");
    // Nothing of it is left running on the server's machine.
    let left = Command::new("pgrep")
        .args(["-f", "sleep 3604"])
        .output()
        .unwrap();
    assert!(
        left.stdout.is_empty(),
        "the canceled step's process is still there"
    );
    // `job resume` runs it again on the server, followed here.
    std::fs::write(clients.path().join("go"), "").unwrap();
    let out = client(
        &proj,
        &server.url,
        None,
        &["job", "resume", "-n", "long", "--stream"],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("[main] resumed"), "{stderr}");
    let job: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(job["status"], "Completed");
    // A completed job cannot be resumed: exit 2, the local message.
    let out = client(&proj, &server.url, None, &["job", "resume", "-n", "long"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("only a Failed or Canceled job can be resumed")
    );
}

#[test]
fn the_client_reaches_an_https_team_server_through_a_private_ca() {
    let server_ctx = TestContext::on_test_store();
    // A private CA and a server certificate it signed, as a team would have.
    let certs = tempfile::tempdir().unwrap();
    let script = "set -e
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=sluice-test-ca -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 -keyout key.pem -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\nextendedKeyUsage=serverAuth\\n' > ext.cnf
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile ext.cnf -out cert.pem 2>/dev/null";
    let made = Command::new("sh")
        .args(["-c", script])
        .current_dir(certs.path())
        .output();
    if !made.is_ok_and(|o| o.status.success()) {
        #[expect(clippy::print_stderr, reason = "a skipped test says why")]
        {
            eprintln!(
                "skipped: no `openssl` to make test certificates, so the HTTPS client test did not run"
            );
        }
        return;
    }
    let (ca, cert, key) = (
        certs.path().join("ca.pem"),
        certs.path().join("cert.pem"),
        certs.path().join("key.pem"),
    );
    let server = Server::start(
        &server_ctx,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(
        server.url.starts_with("https://127.0.0.1:"),
        "{}",
        server.url
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("job.yml"),
        "type: command\ncommand: echo over tls\n",
    )
    .unwrap();
    let out = client(
        dir.path(),
        &server.url,
        None,
        &["job", "create", "-f", "job.yml", "--stream"],
    )
    .env("SLUICE_CA_BUNDLE", &ca)
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("[main] over tls"), "{stderr}");
    // Without the CA the certificate is not trusted: the client says it cannot reach it.
    let out = client(dir.path(), &server.url, None, &["job", "list"])
        .env_remove("SLUICE_CA_BUNDLE")
        .env_remove("SSL_CERT_FILE")
        .env_remove("REQUESTS_CA_BUNDLE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(10));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the team server"));
}

#[test]
fn reading_and_governing_commands_run_on_the_team_server_as_the_caller() {
    let server_ctx = TestContext::on_test_store();
    let owner = token(&server_ctx, "olga", "owner");
    let carol = token(&server_ctx, "carol", "contributor");
    server_ctx.write("d/rows.csv", "a,b\n1,2\n");
    server_ctx.ok(&[
        "data",
        "create",
        "--name",
        "rows",
        "--path",
        "d/rows.csv",
        "--type",
        "uri_file",
    ]);
    let server = Server::start(&server_ctx, &["--auth"]);
    let dir = tempfile::tempdir().unwrap();
    let run = |token: &str, args: &[&str]| {
        client(dir.path(), &server.url, Some(token), args)
            .output()
            .unwrap()
    };

    // The same output as on the server's own workspace, in the format asked for.
    for args in [
        &["data", "list", "-o", "table"][..],
        &[
            "data", "show", "--name", "rows", "--query", "name", "-o", "tsv",
        ][..],
        &["token", "list"][..],
        &["audit", "verify"][..],
    ] {
        let remote = run(&owner, args);
        assert!(
            remote.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&remote.stderr)
        );
        let local = server_ctx
            .command(args)
            .env("SLUICE_TOKEN", &owner)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&remote.stdout),
            String::from_utf8_lossy(&local.stdout),
            "{args:?}"
        );
    }
    // As the caller: a contributor cannot make tokens (exit 12, the local message).
    let out = run(
        &carol,
        &["token", "create", "--name", "x", "--role", "reader"],
    );
    assert_eq!(
        out.status.code(),
        Some(12),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An owner can; the secret comes back once.
    let out = run(
        &owner,
        &["token", "create", "--name", "ci", "--role", "reader"],
    );
    assert!(out.status.success());
    let made: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(made["token"].as_str().unwrap().starts_with("slu_"));
    // A missing thing: exit 5 as locally.
    let out = run(&owner, &["data", "show", "--name", "nothing"]);
    assert_eq!(out.status.code(), Some(5));
    // Nothing may name a place on the server, and file-reading commands are not remote.
    let out = run(
        &owner,
        &["data", "show", "--name", "rows", "--workspace", "/etc"],
    );
    assert_eq!(out.status.code(), Some(2));
    // A file option sent as it is (not by this client, which uploads what it names) is
    // refused: it would read the server's own files.
    for args in [
        r#"["data", "create", "--name", "x", "--path", "/etc/passwd", "--type", "uri_file"]"#,
        r#"["data", "create", "-f/etc/passwd"]"#,
    ] {
        let sent = Command::new("python3")
            .args([
                "-c",
                "import sys, urllib.request as u, urllib.error as e\n\
                 r = u.Request(sys.argv[1] + '/api/sluice/v1/cli', data=('{\"args\": ' + sys.argv[3] + '}').encode(), headers={'Authorization': 'Bearer ' + sys.argv[2], 'Content-Type': 'application/json'})\n\
                 try:\n    print(u.urlopen(r).status)\nexcept e.HTTPError as x:\n    print(x.code, x.read().decode())",
                &server.url,
                &owner,
                args,
            ])
            .output()
            .unwrap();
        let answer = String::from_utf8_lossy(&sent.stdout);
        assert!(
            answer.starts_with("400 ") && answer.contains("names a file or place on the server"),
            "{args}: {answer} {}",
            String::from_utf8_lossy(&sent.stderr)
        );
    }
}

#[test]
fn creating_commands_upload_the_local_files_they_name() {
    let server_ctx = TestContext::on_test_store();
    let owner = token(&server_ctx, "olga", "owner");
    let reader = token(&server_ctx, "rita", "reader");
    let server = Server::start(&server_ctx, &["--auth"]);
    let dir = tempfile::tempdir().unwrap();
    let at = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    // A data asset's YAML names a file beside it; an environment's names its conda file; a
    // model is a local folder; a compute and a policy are YAML files.
    at(
        "assets/data.yml",
        "name: trips
version: \"1\"
type: uri_file
path: ./trips.csv
",
    );
    at("assets/trips.csv", "fare,km\n7.5,2.1\n12.0,4.8\n");
    at(
        "env/env.yml",
        "name: train-env\nimage: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04\nconda_file: ./conda.yml\n",
    );
    at(
        "env/conda.yml",
        "name: train\ndependencies:\n  - python=3.11\n  - pip:\n    - scikit-learn==1.5.0\n",
    );
    at("model/weights.txt", "0.25 0.75\n");
    at(
        "compute.yml",
        "name: cpu-cluster\ntype: amlcompute\nsize: STANDARD_DS3_v2\nmax_instances: 3\n",
    );
    at("policy.yml", "approvals:\n  required: 2\n");
    let run = |token: &str, args: &[&str]| {
        client(dir.path(), &server.url, Some(token), args)
            .output()
            .unwrap()
    };
    let ok = |args: &[&str]| -> Value {
        let out = run(&owner, args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    };
    let data = ok(&["data", "create", "-f", "assets/data.yml", "-o", "json"]);
    assert_eq!(data["name"], "trips");
    let folder = ok(&[
        "data",
        "create",
        "--name",
        "weights",
        "--path",
        "model",
        "--type",
        "uri_folder",
        "-o",
        "json",
    ]);
    assert_eq!(folder["version"], "1");
    let env = ok(&["environment", "create", "-f", "env/env.yml", "-o", "json"]);
    assert!(
        env["conda_file"]
            .as_str()
            .unwrap()
            .contains("scikit-learn==1.5.0"),
        "{env:#}"
    );
    ok(&[
        "model",
        "create",
        "--name",
        "m",
        "--path",
        "model",
        "--type",
        "custom_model",
        "-o",
        "json",
    ]);
    ok(&["compute", "create", "-f", "compute.yml", "-o", "json"]);
    ok(&["model", "policy", "set", "--name", "m", "-f", "policy.yml"]);
    // What the server's workspace now holds, read there: the uploaded files' contents.
    let local = |args: &[&str]| -> Value {
        let out = server_ctx
            .command(args)
            .env("SLUICE_TOKEN", &owner)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let shown = local(&["data", "show", "--name", "trips", "-o", "json"]);
    let path = shown["path"].as_str().unwrap();
    assert!(
        path.starts_with(&server_ctx.root().display().to_string()),
        "the asset is the server's copy: {path}"
    );
    assert_eq!(
        std::fs::read_to_string(path).unwrap(),
        "fare,km\n7.5,2.1\n12.0,4.8\n"
    );
    assert_eq!(
        local(&["compute", "show", "-n", "cpu-cluster", "-o", "json"])["max_instances"],
        3
    );
    assert_eq!(
        local(&["model", "policy", "show", "--name", "m", "-o", "json"])["policy"]["approvals"]["required"],
        2
    );
    assert_eq!(
        local(&["model", "show", "-n", "m:1", "-o", "json"])["name"],
        "m"
    );
    // A mistake is reported at the client's own file, line and column.
    at(
        "assets/bad.yml",
        "name: bad\ntype: uri_file\npath: ./missing.csv\n",
    );
    let out = run(&owner, &["data", "create", "-f", "assets/bad.yml"]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = format!("{}:3:7", dir.path().join("assets/bad.yml").display());
    assert!(stderr.contains(&expected), "{expected} in\n{stderr}");
    // `job validate` checks a local pipeline on the server.
    at(
        "p.yml",
        "type: command\ncommand: echo hi\ncompute: azureml:cpu-cluster\n",
    );
    ok(&["job", "validate", "-f", "p.yml"]);
    // A reader cannot create: exit 12, as locally; a missing local file: exit 2 before upload.
    let out = run(
        &reader,
        &["data", "create", "-f", "assets/data.yml", "--version", "2"],
    );
    assert_eq!(
        out.status.code(),
        Some(12),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&owner, &["data", "create", "-f", "nowhere.yml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read `nowhere.yml`"));
}

/// The one process whose command line contains `needle`: a job's runner on the server.
fn runner(needle: &str) -> u32 {
    let found = crate::common::processes_with(needle);
    assert_eq!(found.len(), 1, "one process runs `{needle}`: {found:?}");
    found[0]
}

fn kill9(pid: u32) {
    let killed = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success(), "kill -KILL {pid}");
}

#[test]
fn a_team_server_resumes_the_jobs_whose_process_died_at_most_n_times_in_a_row() {
    use crate::common::wait_for;
    let ctx = TestContext::on_test_store();
    let clients = tempfile::tempdir().unwrap();
    let proj = clients.path().join("p");
    std::fs::create_dir_all(&proj).unwrap();
    let (ran, go) = (clients.path().join("ran"), clients.path().join("go"));
    std::fs::write(
        proj.join("two.yml"),
        format!(
            "type: pipeline\njobs:\n\
             \x20 first:\n    type: command\n    command: echo first >> {ran} && echo done > ${{{{outputs.out}}}}/x\n    outputs:\n      out:\n        type: uri_folder\n\
             \x20 second:\n    type: command\n    command: for i in $(seq 1500); do [ -f {go} ] && break; sleep 0.2; done; cat ${{{{inputs.x}}}}/x\n    inputs:\n      x: ${{{{parent.jobs.first.outputs.out}}}}\n",
            ran = ran.display(),
            go = go.display()
        ),
    )
    .unwrap();
    let name = "rebooted-5e1";
    // Carol, a contributor, submits it to a server with authentication on.
    let carol = token(&ctx, "carol", "contributor");
    let show = |url: &str| -> Value {
        let out = client(
            &proj,
            url,
            Some(&carol),
            &["job", "show", "-n", name, "-o", "json"],
        )
        .output()
        .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    };
    let resumes = |job: &Value| -> usize {
        job["status_history"].as_array().map_or(0, |h| {
            h.iter()
                .filter(|e| e["status"] == "NotStarted" && e["message"] == "resumed")
                .count()
        })
    };
    // Running its second step, with `resumes` resumes behind it.
    let second_runs = |url: &str, resumed: usize| -> bool {
        let job = show(url);
        job["status"] == "Running"
            && job["jobs"]["second"]["status"] == "Running"
            && resumes(&job) == resumed
    };
    let args = ["--auto-resume", "2", "--auth"];
    let mut server = Server::start(&ctx, &args);
    let mut submitter = client(
        &proj,
        &server.url,
        Some(&carol),
        &[
            "job", "create", "-f", "two.yml", "--name", name, "-o", "none",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    wait_for(60, "the second step to run", || second_runs(&server.url, 0));
    // The machine restarts: the server and the job's process die at once.
    server.kill();
    kill9(runner(&format!("job create -o none --name {name}")));
    let server = Server::start(&ctx, &args);
    wait_for(60, "the restarted server to resume the job", || {
        second_runs(&server.url, 1)
    });
    // The job's process dies while the server runs: resumed again (2 in a row).
    kill9(runner(&format!(
        "job resume --if-interrupted -o none -n {name}"
    )));
    wait_for(60, "the server to resume the job again", || {
        second_runs(&server.url, 2)
    });
    // A third time in a row is past `--auto-resume 2`: the job stays interrupted.
    kill9(runner(&format!(
        "job resume --if-interrupted -o none -n {name}"
    )));
    wait_for(30, "the server to mark the job interrupted", || {
        show(&server.url)["status"] == "Failed"
    });
    std::thread::sleep(Duration::from_secs(6));
    let job = show(&server.url);
    assert_eq!(job["status"], "Failed", "{job:#}");
    assert_eq!(resumes(&job), 2, "not resumed a third time");
    assert!(
        job["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("interrupted:"),
        "{job:#}"
    );
    // Canceled: it is no longer interrupted (nothing resumes it unasked).
    cancel_remotely(&proj, &server.url, Some(&carol), name);
    // Resumed by hand, it ends; its first step ran once in all.
    std::fs::write(&go, "").unwrap();
    let out = client(
        &proj,
        &server.url,
        Some(&carol),
        &["job", "resume", "-n", name],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job = show(&server.url);
    assert_eq!(job["status"], "Completed", "{job:#}");
    assert_eq!(std::fs::read_to_string(&ran).unwrap(), "first\n");
    let _ = submitter.kill();
    let _ = submitter.wait();
}
