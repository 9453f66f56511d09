//! Faults with real processes: the runner killed with SIGKILL and resumed, timeouts and
//! cancellation that leave no process behind, retries, and `sluice server` killed under a write
//! load from several clients. Every wait is bounded.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{TestContext, processes_with, wait_for};

fn step_status(ctx: &TestContext, job: &str, step: &str) -> String {
    let out = ctx.run(&["job", "show", "-n", job, "-o", "json"]);
    if !out.status.success() {
        return String::new();
    }
    let job: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    job["jobs"][step]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// `first` counts its runs; `slow` sleeps (with a child of its own) until `go` exists; `last`
/// runs after it. The sleeps use a number unique to the test to find leftover processes.
fn slow_pipeline(ctx: &TestContext, sleep_tag: &str) {
    let root = ctx.root().display().to_string();
    ctx.write(
        "pipeline.yml",
        &format!(
            r"type: pipeline
jobs:
  first:
    type: command
    command: echo ran >> {root}/first.count; echo data > ${{{{outputs.out}}}}/data.txt
    outputs:
      out:
        type: uri_folder
  slow:
    type: command
    command: cat ${{{{inputs.x}}}}/data.txt; if [ ! -f {root}/go ]; then (sleep {sleep_tag} & sleep {sleep_tag}; wait); fi; echo slow > ${{{{outputs.out}}}}/slow.txt
    inputs:
      x: ${{{{parent.jobs.first.outputs.out}}}}
    outputs:
      out:
        type: uri_folder
  last:
    type: command
    command: cat ${{{{inputs.x}}}}/slow.txt
    inputs:
      x: ${{{{parent.jobs.slow.outputs.out}}}}
"
        ),
    );
}

fn spawn_job(ctx: &TestContext, name: &str) -> Child {
    ctx.command(&[
        "job",
        "create",
        "-f",
        "pipeline.yml",
        "--name",
        name,
        "-o",
        "none",
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap()
}

#[test]
fn killed_runner_is_detected_and_resume_reruns_only_what_did_not_complete() {
    let ctx = TestContext::new();
    slow_pipeline(&ctx, "3601");
    let mut runner = spawn_job(&ctx, "k");
    wait_for(120, "step `slow` to run", || {
        step_status(&ctx, "k", "slow") == "Running" && !processes_with("sleep 3601").is_empty()
    });
    runner.kill().unwrap(); // SIGKILL: no chance to clean up
    runner.wait().unwrap();
    // The step's processes outlived the runner...
    assert!(!processes_with("sleep 3601").is_empty());
    // ...until the next command notices the dead runner: the job is Failed, not Running
    // forever, and its orphans are stopped.
    let job = ctx.json(&["job", "show", "-n", "k", "-o", "json"]);
    assert_eq!(job["status"], "Failed");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("sluice job resume -n k")
    );
    assert_eq!(job["jobs"]["first"]["status"], "Completed");
    assert_eq!(job["jobs"]["slow"]["status"], "Failed");
    wait_for(10, "orphaned step processes to go", || {
        processes_with("sleep 3601").is_empty()
    });

    std::fs::write(ctx.root().join("go"), "").unwrap();
    let resumed = ctx.json(&["job", "resume", "-n", "k", "-o", "json"]);
    assert_eq!(resumed["status"], "Completed", "{resumed}");
    for step in ["first", "slow", "last"] {
        assert_eq!(resumed["jobs"][step]["status"], "Completed");
    }
    // `first` completed before the kill and was not run again.
    assert_eq!(
        std::fs::read_to_string(ctx.root().join("first.count")).unwrap(),
        "ran\n"
    );
    // A completed job cannot be resumed.
    let out = ctx.run(&["job", "resume", "-n", "k"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn cancel_from_another_process_stops_everything_and_resume_finishes() {
    let ctx = TestContext::new();
    slow_pipeline(&ctx, "3602");
    let mut runner = spawn_job(&ctx, "c");
    wait_for(120, "step `slow` to run", || {
        processes_with("sleep 3602").len() >= 2
    });
    let canceled = ctx.json(&["job", "cancel", "-n", "c", "-o", "json"]);
    assert_eq!(canceled["status"], "Canceled");
    assert_eq!(canceled["jobs"]["first"]["status"], "Completed");
    assert_eq!(canceled["jobs"]["slow"]["status"], "Canceled");
    assert_eq!(canceled["jobs"]["last"]["status"], "Canceled");
    let status = runner.wait().unwrap();
    assert_eq!(status.code(), Some(4), "the runner exits with JobCanceled");
    assert!(
        processes_with("sleep 3602").is_empty(),
        "cancel left processes behind"
    );
    // Completed outputs are intact.
    let data = canceled["jobs"]["first"]["outputs"]["out"]["path"]
        .as_str()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(format!("{data}/data.txt")).unwrap(),
        "data\n"
    );
    let out = ctx.run(&["job", "cancel", "-n", "c"]);
    assert_eq!(out.status.code(), Some(2), "nothing left to cancel");

    std::fs::write(ctx.root().join("go"), "").unwrap();
    let resumed = ctx.json(&["job", "resume", "-n", "c", "-o", "json"]);
    assert_eq!(resumed["status"], "Completed");
    assert_eq!(
        std::fs::read_to_string(ctx.root().join("first.count")).unwrap(),
        "ran\n"
    );
}

#[test]
fn timed_out_step_leaves_no_process_behind() {
    let ctx = TestContext::new();
    ctx.write(
        "job.yml",
        "type: command\ncommand: (sleep 3603 & sleep 3603 & wait)\nlimits:\n  timeout: 1\n",
    );
    let started = Instant::now();
    let out = ctx.run(&[
        "job", "create", "-f", "job.yml", "--name", "t", "-o", "none",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(started.elapsed() < Duration::from_secs(20));
    let job = ctx.json(&["job", "show", "-n", "t", "-o", "json"]);
    assert_eq!(job["jobs"]["main"]["error"], "timed out after 1 s");
    assert!(processes_with("sleep 3603").is_empty());
}

#[test]
fn retries_keep_every_attempt_with_its_own_log() {
    let ctx = TestContext::new();
    let root = ctx.root().display().to_string();
    ctx.write(
        "job.yml",
        &format!(
            "type: command\ncommand: echo try >> {root}/tries; echo \"attempt $(wc -l < {root}/tries)\"; [ $(wc -l < {root}/tries) -ge 3 ]\nretry:\n  max_attempts: 4\n  backoff_seconds: 0.2\n"
        ),
    );
    let job = ctx.json(&[
        "job", "create", "-f", "job.yml", "--name", "r", "-o", "json",
    ]);
    assert_eq!(job["status"], "Completed");
    let attempts = job["jobs"]["main"]["attempts"].as_array().unwrap();
    let summary: Vec<(String, Value)> = attempts
        .iter()
        .map(|a| {
            (
                a["status"].as_str().unwrap().to_owned(),
                a["exit_code"].clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("Failed".to_owned(), json!(1)),
            ("Failed".to_owned(), json!(1)),
            ("Completed".to_owned(), json!(0))
        ]
    );
    for (i, a) in attempts.iter().enumerate() {
        let log = std::fs::read_to_string(a["log_path"].as_str().unwrap()).unwrap();
        assert!(log.contains(&format!("attempt {}", i + 1)), "{log}");
    }
    // Out of attempts: Failed, with each attempt recorded.
    ctx.write(
        "fail.yml",
        "type: command\ncommand: exit 9\nretry: {max_attempts: 2, backoff_seconds: 0}\n",
    );
    let out = ctx.run(&[
        "job", "create", "-f", "fail.yml", "--name", "f", "-o", "none",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let job = ctx.json(&["job", "show", "-n", "f", "-o", "json"]);
    assert_eq!(job["jobs"]["main"]["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(job["jobs"]["main"]["exit_code"], 9);
}

// --- sluice server killed under load ---------------------------------------------------------

struct Server {
    child: Child,
    url: String,
}

/// A server a test started is stopped with it, even when the test fails.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(ctx: &TestContext) -> Server {
    let mut child = ctx
        .command(&["server", "--port", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("Listening on http://").nth(1)
                && let Some(tx) = tx.take()
            {
                let addr = rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server reported its address");
    Server {
        child,
        url: format!("http://{addr}/api/2.0/mlflow"),
    }
}

fn post(url: &str, body: &Value) -> Result<Value, String> {
    let agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .new_agent();
    match agent.post(url).send_json(body) {
        Ok(mut resp) if resp.status() == 200 => resp
            .body_mut()
            .read_json::<Value>()
            .map_err(|e| e.to_string()),
        Ok(resp) => Err(format!("status {}", resp.status())),
        Err(e) => Err(e.to_string()),
    }
}

fn get(url: &str) -> Value {
    ureq::get(url)
        .call()
        .unwrap()
        .body_mut()
        .read_json::<Value>()
        .unwrap()
}

/// What the clients were told was written: metric steps per client, and model names.
#[derive(Default)]
struct Acked {
    metric_steps: Vec<Vec<i64>>,
    models: Vec<String>,
}

#[test]
fn every_acknowledged_write_survives_kill_9_of_the_server() {
    const ROUNDS: usize = 20;
    const CLIENTS: usize = 3;
    let ctx = TestContext::on_test_store();
    let mut total_acked = 0;
    for round in 0..ROUNDS {
        let mut server = start_server(&ctx);
        let url = server.url.clone();
        let exp = if round == 0 {
            post(
                &format!("{url}/experiments/create"),
                &json!({"name": "crash"}),
            )
            .unwrap()["experiment_id"]
                .as_str()
                .unwrap()
                .to_owned()
        } else {
            get(&format!(
                "{url}/experiments/get-by-name?experiment_name=crash"
            ))["experiment"]["experiment_id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let run = post(
            &format!("{url}/runs/create"),
            &json!({"experiment_id": exp, "start_time": 1}),
        )
        .unwrap()["run"]["info"]["run_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Acked {
            metric_steps: vec![Vec::new(); CLIENTS],
            models: Vec::new(),
        }));
        let mut threads = Vec::new();
        for client in 0..CLIENTS {
            let (url, run, stop, acked) = (
                url.clone(),
                run.clone(),
                Arc::clone(&stop),
                Arc::clone(&acked),
            );
            threads.push(std::thread::spawn(move || {
                let mut batch = 0i64;
                while !stop.load(Ordering::Relaxed) {
                    // A batch of metrics, the batch number as their step and value.
                    let metrics: Vec<Value> = (0..10)
                        .map(|k| json!({"key": format!("c{client}_m{k}"), "value": batch, "timestamp": 1, "step": batch}))
                        .collect();
                    let body = json!({"run_id": run, "metrics": metrics});
                    if post(&format!("{url}/runs/log-batch"), &body).is_ok() {
                        acked.lock().unwrap().metric_steps[client].push(batch);
                    } else {
                        break;
                    }
                    batch += 1;
                }
            }));
        }
        {
            let (url, stop, acked) = (url.clone(), Arc::clone(&stop), Arc::clone(&acked));
            threads.push(std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let name = format!("model-{round}-{n}");
                    if post(
                        &format!("{url}/registered-models/create"),
                        &json!({"name": name}),
                    )
                    .is_ok()
                    {
                        acked.lock().unwrap().models.push(name);
                    } else {
                        break;
                    }
                    n += 1;
                }
            }));
        }
        // Let the load run (first until a metric batch is acknowledged, which a
        // loaded machine may take a while to reach), then kill the server
        // without warning.
        let flowing = Instant::now();
        while acked.lock().unwrap().metric_steps.iter().all(Vec::is_empty) {
            assert!(
                flowing.elapsed() < Duration::from_mins(1),
                "round {round}: no write was acknowledged within 60 s of load"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(150 + 20 * (round as u64 % 5)));
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }

        // Restart on the same workspace: every acknowledged write is there.
        let mut again = start_server(&ctx);
        let url = again.url.clone();
        let acked = acked.lock().unwrap();
        assert!(
            acked.metric_steps.iter().any(|s| !s.is_empty()),
            "round {round}: no write was acknowledged before the kill"
        );
        for (client, steps) in acked.metric_steps.iter().enumerate() {
            let Some(&last) = steps.last() else { continue };
            for k in 0..10 {
                let history = get(&format!(
                    "{url}/metrics/get-history?run_id={run}&metric_key=c{client}_m{k}"
                ));
                let seen: std::collections::HashSet<i64> = history["metrics"]
                    .as_array()
                    .map(|m| m.iter().filter_map(|x| x["step"].as_i64()).collect())
                    .unwrap_or_default();
                for s in steps {
                    assert!(
                        seen.contains(s),
                        "round {round}: client {client} metric c{client}_m{k} step {s} was acknowledged but is missing (last acked {last})"
                    );
                }
            }
            total_acked += steps.len();
        }
        for name in &acked.models {
            let found = get(&format!("{url}/registered-models/get?name={name}"));
            assert_eq!(
                found["registered_model"]["name"],
                name.as_str(),
                "round {round}"
            );
        }
        total_acked += acked.models.len();
        again.child.kill().unwrap();
        again.child.wait().unwrap();
    }
    assert!(total_acked > ROUNDS, "the load made writes ({total_acked})");
}

/// Three `sluice server` processes on one store (one workspace: its SQLite file, or with
/// `SLUICE_TEST_POSTGRES` one PostgreSQL schema) serve the same data: six clients registering
/// versions of one model through all three at once get versions 1..=150, each once; what one
/// server wrote, the others read.
#[test]
fn several_servers_on_one_store_serve_the_same_data() {
    const PER_CLIENT: usize = 25;
    let ctx = TestContext::on_test_store();
    let mut servers: Vec<Server> = (0..3).map(|_| start_server(&ctx)).collect();
    let urls: Vec<String> = servers.iter().map(|s| s.url.clone()).collect();
    post(
        &format!("{}/registered-models/create", urls[0]),
        &json!({"name": "shared"}),
    )
    .unwrap();
    let threads: Vec<_> = (0..6)
        .map(|client| {
            let url = urls[client % urls.len()].clone();
            std::thread::spawn(move || {
                (0..PER_CLIENT)
                    .map(|i| {
                        let v = post(
                            &format!("{url}/model-versions/create"),
                            &json!({"name": "shared", "source": format!("s3://m/{client}/{i}")}),
                        )
                        .unwrap_or_else(|e| panic!("client {client}: {e}"));
                        v["model_version"]["version"]
                            .as_str()
                            .and_then(|v| v.parse::<usize>().ok())
                            .expect("a version number")
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut versions: Vec<usize> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    versions.sort_unstable();
    assert_eq!(versions, (1..=6 * PER_CLIENT).collect::<Vec<_>>());
    // Every server sees every version, and a metric logged through one is read through another.
    for url in &urls {
        let found = get(&format!(
            "{url}/model-versions/search?filter=name%20%3D%20%27shared%27&max_results=1000"
        ));
        assert_eq!(
            found["model_versions"].as_array().map(Vec::len),
            Some(6 * PER_CLIENT),
            "{url}"
        );
    }
    let exp = post(
        &format!("{}/experiments/create", urls[1]),
        &json!({"name": "shared-exp"}),
    )
    .unwrap()["experiment_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run = post(
        &format!("{}/runs/create", urls[1]),
        &json!({"experiment_id": exp}),
    )
    .unwrap()["run"]["info"]["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    post(
        &format!("{}/runs/log-batch", urls[1]),
        &json!({"run_id": run, "metrics": [{"key": "m", "value": 0.5, "timestamp": 1, "step": 3}]}),
    )
    .unwrap();
    let history = get(&format!(
        "{}/metrics/get-history?run_id={run}&metric_key=m",
        urls[2]
    ));
    assert_eq!(history["metrics"][0]["step"], 3, "{history}");
    for s in &mut servers {
        s.child.kill().unwrap();
        s.child.wait().unwrap();
    }
}
