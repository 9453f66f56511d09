//! Sluice's own web UI (`sluice server` at `/`) in a real headless Chromium
//! (`tests/ui/sluice-ui.mjs`), over a workspace where the taxi example ran three times (two
//! algorithms, the third run reusing the first's steps) and, when PyPI may be used
//! (`SLUICE_TEST_PYPI=1`), the Python example twice; with authentication on, a reader and an
//! owner logged in through the page. Screenshots of every page are kept in
//! `target/tmp/ui-screenshots/` (CI keeps them as artifacts).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Server, browser, run_to_end, say, shared_database, wait_until, workspace_store};

/// A command job that runs for a few seconds, writing a line every half second.
const SLOW_JOB: &str = r#"$schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
type: command
display_name: slow-ticks
experiment_name: ui-slow
command: for i in $(seq 1 16); do echo "tick $i"; sleep 0.5; done; python3 -c "print(chr(233)*600000); print('xx'+chr(233)*600000)"; echo done-ticking
compute: azureml:cpu-cluster
"#;

// Its last two lines are 1.2 MB of `é` (two bytes each), the second shifted by two bytes: the
// log is read 1 MiB at a time, and one of the two reads' ends falls inside an `é`, wherever the
// log's first line ends.

/// A job that runs until a file exists, for the cancel and resume buttons (`{go}`: the file).
const WAITING_JOB: &str = "type: command\ndisplay_name: waits\nexperiment_name: ui-slow\ncommand: while [ ! -f {go} ]; do sleep 0.2; done; echo go-seen\ncompute: azureml:cpu-cluster\n";

/// Logs `metrics` to run `run` (one `log-batch`, a 200 required).
fn log_batch(port: u16, token: &str, run: &str, metrics: &[Value]) {
    call(
        port,
        token,
        "POST",
        "/api/2.0/mlflow/runs/log-batch",
        Some(&json!({"run_id": run, "metrics": metrics})),
    );
}

/// One JSON request with a token, on loopback; its JSON answer (a 200 is required).
fn call(port: u16, token: &str, method: &str, path: &str, body: Option<&Value>) -> Value {
    let bearer = format!("Bearer {token}");
    let body = body.map(Value::to_string).unwrap_or_default();
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Content-Type", "application/json"),
    ];
    let response = super::http_request(port, method, path, &headers, &body)
        .unwrap_or_else(|| panic!("{method} {path}: no answer"));
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "{method} {path}: {response}"
    );
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body}"))
}

fn pypi() -> bool {
    std::env::var("SLUICE_TEST_PYPI").is_ok_and(|v| v == "1")
}

#[test]
fn sluice_web_ui_in_chromium() {
    let Some((chromium, ui)) = browser() else {
        return;
    };
    let _db = shared_database();
    let deadline = Instant::now() + Duration::from_mins(20);
    let dir = tempfile::tempdir().expect("temp dir");
    let ws = dir.path().join("ws");
    workspace_store(&ws);
    let repo = ui.join("../..");
    let sluice = |args: &[&str]| -> String {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
        cmd.arg("--workspace")
            .arg(&ws)
            .args(args)
            .current_dir(&repo)
            .env("NO_COLOR", "1")
            .env_remove("SLUICE_WORKSPACE")
            .env_remove("SLUICE_TOKEN")
            .env_remove("SLUICE_OUTPUT");
        if let Some(uv) = std::env::var_os("SLUICE_TEST_UV") {
            cmd.env("SLUICE_UV", uv);
        }
        run_to_end(cmd, &format!("sluice {}", args.join(" ")), deadline)
    };

    sluice(&[
        "data",
        "create",
        "-f",
        "examples/taxi-fare/data.yml",
        "-o",
        "none",
    ]);
    for algorithm in ["random_forest", "gradient_boosting", "random_forest"] {
        sluice(&[
            "job",
            "create",
            "-f",
            "examples/taxi-fare/pipeline.yml",
            "--set",
            "inputs.raw_data=azureml:taxi-data:1",
            "--set",
            &format!("inputs.algorithm={algorithm}"),
            "-o",
            "none",
        ]);
    }
    if pypi() {
        let ex = "examples/taxi-fare-python/mlops/azureml/train";
        sluice(&[
            "environment",
            "create",
            "-f",
            &format!("{ex}/train-env.yml"),
            "-o",
            "none",
        ]);
        for _ in 0..2 {
            sluice(&[
                "job",
                "create",
                "-f",
                &format!("{ex}/pipeline.yml"),
                "-o",
                "none",
            ]);
        }
    } else {
        say(
            "the Python example is left out: set SLUICE_TEST_PYPI=1 to build its environment from PyPI",
        );
    }
    sluice(&[
        "model",
        "policy",
        "set",
        "-n",
        "taxi-fare-model",
        "-f",
        "examples/taxi-fare/policy.yml",
        "-o",
        "none",
    ]);
    let token = |name: &str, role: &str| {
        sluice(&[
            "token", "create", "--name", name, "--role", role, "--query", "token", "-o", "tsv",
        ])
        .trim()
        .to_owned()
    };
    let (owner, reader) = (token("olga", "owner"), token("rita", "reader"));
    // The newest version that passes the gate: the one the owner approves and promotes.
    let status: Value = serde_json::from_str(&sluice(&[
        "model",
        "status",
        "-n",
        "taxi-fare-model",
        "-o",
        "json",
    ]))
    .expect("model status");
    let version = status["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["gate"]["passed"] == true && v["approvals_counted"] == 0)
        .filter_map(|v| v["version"].as_str())
        .max_by_key(|v| v.parse::<u32>().unwrap_or(0))
        .expect("a version that passes the gate")
        .to_owned();

    let mut server = Server::start_with(&ws, deadline, &["--auth", "--mlflow-ui", "off"]);
    let url = server.url();
    say(&format!("sluice server with its web UI at {url}/"));
    let port = server.port;
    let experiment = call(
        port,
        &owner,
        "GET",
        "/api/2.0/mlflow/experiments/get-by-name?experiment_name=taxi-fare-training",
        None,
    )["experiment"]["experiment_id"]
        .as_str()
        .expect("the example's experiment")
        .to_owned();
    // The Python example's experiment, when it ran.
    let python_experiment = pypi().then(|| {
        call(
            port,
            &owner,
            "GET",
            "/api/2.0/mlflow/experiments/get-by-name?experiment_name=taxi-fare-training-python",
            None,
        )["experiment"]["experiment_id"]
            .as_str()
            .expect("the Python example's experiment")
            .to_owned()
    });
    let search = |filter: &str| -> Vec<Value> {
        call(
            port,
            &owner,
            "POST",
            "/api/2.0/mlflow/runs/search",
            Some(&json!({"experiment_ids": [experiment], "filter": filter, "max_results": 1000})),
        )["runs"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let filter = "params.algorithm = 'gradient_boosting'";
    let filtered = search(filter).len();
    assert!(filtered >= 1, "no gradient boosting run");
    // One training run of each algorithm, for the comparison.
    let trained = search("metrics.training_r2 > 0");
    let of = |algorithm: &str| -> String {
        trained
            .iter()
            .find(|r| {
                r["data"]["params"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["key"] == "algorithm" && p["value"] == algorithm)
            })
            .and_then(|r| r["info"]["run_id"].as_str())
            .unwrap_or_else(|| panic!("no {algorithm} training run"))
            .to_owned()
    };
    let compare = [of("random_forest"), of("gradient_boosting")];
    // A metric both compared runs log over 20 steps, for the overlay chart.
    for (scale, run) in [(1_i64, &compare[0]), (2, &compare[1])] {
        let points: Vec<Value> = (0..20_i64)
            .map(|step| json!({"key": "overlay", "value": step * scale, "timestamp": 1_700_000_000_000_i64 + step, "step": step}))
            .collect();
        log_batch(port, &owner, run, &points);
    }
    // Beside a registering run's own artifacts (its model folder with `MLmodel`): a table, an
    // image and an SVG, for the previews.
    let runs_dir = ws.join("mlartifacts").join(&experiment);
    let (artifacts_run, mlmodel_dir) = std::fs::read_dir(&runs_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", runs_dir.display()))
        .filter_map(Result::ok)
        .find_map(|run| {
            let folder = std::fs::read_dir(run.path().join("artifacts"))
                .ok()?
                .filter_map(Result::ok)
                .find(|e| e.path().join("MLmodel").is_file())?;
            Some((
                run.file_name().to_string_lossy().into_owned(),
                folder.file_name().to_string_lossy().into_owned(),
            ))
        })
        .expect("a run that logged a model folder with its MLmodel");
    let artifacts = runs_dir.join(&artifacts_run).join("artifacts");
    // A long history for the chart controls: 5,000 steps of `curve` = step + 1, a second apart.
    for first in (0..5000).step_by(1000) {
        let metrics: Vec<Value> = (first..first + 1000)
            .map(|step| json!({"key": "curve", "value": step + 1, "timestamp": 1_700_000_000_000_i64 + step * 1000, "step": step}))
            .collect();
        log_batch(port, &owner, &artifacts_run, &metrics);
    }
    // More metrics than the run page charts at once (12): the rest behind a button.
    let extra: Vec<Value> = (0..14)
        .flat_map(|k| {
            (0..3).map(move |step| json!({"key": format!("extra_{k:02}"), "value": k * 10 + step, "timestamp": 1_700_000_000_000_i64 + step, "step": step}))
        })
        .collect();
    log_batch(port, &owner, &artifacts_run, &extra);
    std::fs::write(
        artifacts.join("table.csv"),
        "fare,km\n7.5,2.1\n12.0,4.8\n\"a, quoted \"\"fare\"\"\",3.3\n",
    )
    .unwrap();
    std::fs::write(
        artifacts.join("diagram.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script><rect width=\"4\" height=\"4\"/></svg>\n",
    )
    .unwrap();
    // A 1x1 PNG.
    std::fs::write(
        artifacts.join("plot.png"),
        [
            0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48,
            0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00,
            0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78,
            0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99,
            0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
        ],
    )
    .unwrap();
    let jobs = call(port, &owner, "GET", "/api/sluice/v1/jobs", None);
    let job = jobs
        .as_array()
        .into_iter()
        .flatten()
        .find(|j| j["experiment_name"] == "taxi-fare-training")
        .and_then(|j| j["name"].as_str())
        .expect("a pipeline job")
        .to_owned();

    // A re-run of the example whose steps were reused.
    let reused_job = jobs
        .as_array()
        .into_iter()
        .flatten()
        .filter(|j| j["experiment_name"] == "taxi-fare-training")
        .filter_map(|j| j["name"].as_str())
        .find(|name| {
            let job = call(
                port,
                &owner,
                "GET",
                &format!("/api/sluice/v1/jobs/{name}"),
                None,
            );
            job["jobs"]
                .as_object()
                .is_some_and(|steps| steps.values().any(|s| s["reused_from"].is_string()))
        })
        .expect("a re-run whose steps were reused")
        .to_owned();

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots");
    // Only this run's pictures (a failed check adds `FAILED-*.png` of both sessions).
    let _ = std::fs::remove_dir_all(&shots);
    let config = json!({
        "owner": owner, "reader": reader, "experiment": experiment, "filter": filter,
        "filtered": filtered, "sort_metric": "training_r2", "compare": compare, "job": job,
        "slow_job": "ui-slow-ticks", "slow_step": "main", "model": "taxi-fare-model",
        "version": version, "data_version": "taxi-data:1", "python_experiment": python_experiment,
        "python_model": pypi().then_some("taxi-model"),
        "screenshots": shots, "mlmodel_dir": mlmodel_dir, "artifacts_run": artifacts_run,
        "reused_job": reused_job, "wait_job": "ui-cancel-me", "wait_go": dir.path().join("go"),
    });
    let config_file = dir.path().join("ui.json");
    std::fs::write(&config_file, config.to_string()).expect("write the config");
    let slow_file = dir.path().join("slow.yml");
    std::fs::write(&slow_file, SLOW_JOB).expect("write the slow job");

    // A job that is running while the browser opens its page.
    let mut slow = Command::new(env!("CARGO_BIN_EXE_sluice"));
    slow.arg("--workspace")
        .arg(&ws)
        .args([
            "job",
            "create",
            "-n",
            "ui-slow-ticks",
            "--force-rerun",
            "-o",
            "none",
            "-f",
        ])
        .arg(&slow_file)
        .env_remove("SLUICE_WORKSPACE")
        .env_remove("SLUICE_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut slow = slow.spawn().expect("start the slow job");
    // And one that waits to be canceled and resumed.
    let waiting_file = dir.path().join("waiting.yml");
    std::fs::write(
        &waiting_file,
        WAITING_JOB.replace("{go}", &dir.path().join("go").display().to_string()),
    )
    .expect("write the waiting job");
    let mut waiting = Command::new(env!("CARGO_BIN_EXE_sluice"));
    waiting
        .arg("--workspace")
        .arg(&ws)
        .args(["job", "create", "-n", "ui-cancel-me", "-o", "none", "-f"])
        .arg(&waiting_file)
        .env_remove("SLUICE_WORKSPACE")
        .env_remove("SLUICE_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut waiting = waiting.spawn().expect("start the waiting job");

    let mut node = Command::new("node");
    node.arg(ui.join("sluice-ui.mjs"))
        .arg(&url)
        .arg(&config_file)
        .env("CHROMIUM", &chromium);
    let report = run_to_end(node, "sluice-ui.mjs", deadline);
    say(&report);
    assert!(report.contains("\"failed\":0}"), "{report}");
    let ran = wait_until(&mut slow, Instant::now() + Duration::from_mins(2), false);
    assert!(ran.is_some_and(|s| s.success()), "the slow job: {ran:?}");
    // Canceled in the browser: its first process ended (the resumed one ran it to its end).
    let ended = wait_until(&mut waiting, Instant::now() + Duration::from_mins(1), false);
    assert!(
        ended.is_some(),
        "the waiting job's first process is still there"
    );
    let stopped = server.stop();
    assert!(stopped.is_some_and(|s| s.success()), "{}", server.log());
}

/// `sluice ui`: a server on a free loopback port for the workspace, the page's address alone on
/// stdout; the page and the session route answer; SIGTERM stops it cleanly.
#[test]
fn sluice_ui_prints_the_address_of_a_page_it_serves() {
    use std::io::{BufRead, BufReader};
    let _db = shared_database();
    let dir = tempfile::tempdir().expect("temp dir");
    let ws = dir.path().join("ws");
    workspace_store(&ws);
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--workspace")
        .arg(&ws)
        .arg("ui")
        .env_remove("SLUICE_WORKSPACE")
        .env("SLUICE_MLFLOW_UI", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run sluice ui");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the address");
    let port: u16 = line
        .trim()
        .strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix('/'))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("not a loopback address: {line:?}"));
    let page = super::http_get(port, "/").expect("the page");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("ui/app.js"), "{page}");
    let session = super::http_get(port, "/api/sluice/v1/session").expect("the session");
    let body: Value = serde_json::from_str(session.split("\r\n\r\n").nth(1).unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {session}"));
    assert_eq!(
        (body["auth"].clone(), body["user"]["role"].clone()),
        (json!(false), json!("owner"))
    );
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    let status = wait_until(&mut child, Instant::now() + Duration::from_secs(15), false);
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
}
