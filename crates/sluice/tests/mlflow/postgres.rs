//! PostgreSQL restarted under a write load: while it is down `sluice server` answers 503 with
//! MLflow's error shape (`TEMPORARILY_UNAVAILABLE`), never another error; when it is back the
//! same server process writes again by itself; every acknowledged write is stored.
//!
//! Needs the test server's folder (`SLUICE_TEST_POSTGRES_DIR`, set by `tests/run.sh`) to
//! restart it with `.ci/services/postgres.sh restart`; skipped (and said so) otherwise.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Server, TIMEOUT, exclusive_database};

/// How long PostgreSQL stays down: longer than the server's wait for a connection (5 s), so
/// requests meanwhile are answered 503 rather than held until it is back.
const DOWN_SECONDS: u64 = 8;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .new_agent()
}

/// `POST` → (status, body); `None` when the server cannot be reached.
fn post(agent: &ureq::Agent, url: &str, body: &Value) -> Option<(u16, Value)> {
    let mut resp = agent.post(url).send_json(body).ok()?;
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_json::<Value>().unwrap_or(Value::Null);
    Some((status, body))
}

#[test]
fn postgres_restarted_under_load_answers_503_then_recovers() {
    let (Some(_), Some(pg_dir)) = (
        sluice_store::testing::postgres_url(),
        std::env::var_os("SLUICE_TEST_POSTGRES_DIR").filter(|d| !d.is_empty()),
    ) else {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: SLUICE_TEST_POSTGRES and SLUICE_TEST_POSTGRES_DIR are unset, so the \
             PostgreSQL restart test did not run (`tests/run.sh` starts a server and sets them)"
        );
        return;
    };
    let _db = exclusive_database();
    let deadline = Instant::now() + TIMEOUT;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = Server::start(&dir.path().join("ws"), deadline);
    let api = format!("http://127.0.0.1:{}/api/2.0/mlflow", server.port);
    let agent = agent();
    let (status, exp) = post(
        &agent,
        &format!("{api}/experiments/create"),
        &json!({"name": "restart"}),
    )
    .expect("the server answers");
    assert_eq!(status, 200, "{exp}");
    let (status, run) = post(
        &agent,
        &format!("{api}/runs/create"),
        &json!({"experiment_id": exp["experiment_id"], "start_time": 1}),
    )
    .expect("the server answers");
    assert_eq!(status, 200, "{run}");
    let run_id = run["run"]["info"]["run_id"]
        .as_str()
        .expect("run id")
        .to_owned();

    // Two writers log one metric step per request until told to stop, whatever happens.
    let halt = AtomicBool::new(false);
    let acked: Mutex<Vec<i64>> = Mutex::new(Vec::new());
    let statuses: Mutex<BTreeMap<u16, usize>> = Mutex::new(BTreeMap::new());
    let unexpected: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let restart_log = std::thread::scope(|s| {
        for w in 0..2i64 {
            let (api, run_id, agent) = (&api, &run_id, &agent);
            let (halt, acked, statuses, unexpected) = (&halt, &acked, &statuses, &unexpected);
            s.spawn(move || {
                let mut step = w * 1_000_000;
                while !halt.load(Ordering::Relaxed) {
                    let body = json!({"run_id": run_id, "metrics": [
                        {"key": "load", "value": 1.0, "timestamp": 1, "step": step}
                    ]});
                    let code = match post(agent, &format!("{api}/runs/log-batch"), &body) {
                        Some((200, _)) => {
                            acked.lock().unwrap().push(step);
                            200
                        }
                        Some((503, b)) if b["error_code"] == "TEMPORARILY_UNAVAILABLE" => 503,
                        Some((code, b)) => {
                            unexpected.lock().unwrap().push(format!("{code} {b}"));
                            code
                        }
                        None => {
                            unexpected.lock().unwrap().push("no answer".into());
                            0
                        }
                    };
                    *statuses.lock().unwrap().entry(code).or_default() += 1;
                    step += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
            });
        }
        // The writers stop however this ends: a failed assertion below must fail
        // the test, not leave the scope waiting for them.
        let _halt = HaltOnDrop(&halt);
        // Writes flowing first (a loaded machine may take a while), then a
        // second more of them before the restart.
        let flowing = Instant::now();
        while acked.lock().unwrap().is_empty() {
            assert!(
                flowing.elapsed() < Duration::from_mins(1),
                "no write was acknowledged within 60 s, before the restart\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_secs(1));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/services/postgres.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg("restart")
            .arg(&pg_dir)
            .arg(DOWN_SECONDS.to_string())
            .output()
            .expect("run postgres.sh restart");
        let log = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "postgres.sh restart failed:\n{log}");
        // Back up: the same server process writes again within a few seconds.
        let back = Instant::now();
        let after = acked.lock().unwrap().len();
        while acked.lock().unwrap().len() <= after + 5 {
            assert!(
                back.elapsed() < Duration::from_secs(30),
                "no write succeeded within 30 s of PostgreSQL's return\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        halt.store(true, Ordering::Relaxed);
        log
    });
    let statuses = statuses.into_inner().unwrap();
    let unexpected = unexpected.into_inner().unwrap();
    assert!(
        unexpected.is_empty(),
        "answers other than 200 and MLflow-shaped 503s: {unexpected:?}\n{}",
        server.log()
    );
    assert!(
        statuses.get(&503).copied().unwrap_or(0) > 0,
        "no request was answered 503 while PostgreSQL was down ({statuses:?})\n{restart_log}"
    );
    assert!(
        matches!(server.child.try_wait(), Ok(None)),
        "the server exited\n{}",
        server.log()
    );

    // Every acknowledged write is stored.
    let acked: HashSet<i64> = acked.into_inner().unwrap().into_iter().collect();
    let mut history = agent
        .get(format!(
            "{api}/metrics/get-history?run_id={run_id}&metric_key=load&max_results=25000"
        ))
        .call()
        .expect("get-history");
    let history: Value = history.body_mut().read_json().expect("history JSON");
    let stored: HashSet<i64> = history["metrics"]
        .as_array()
        .map(|m| m.iter().filter_map(|x| x["step"].as_i64()).collect())
        .unwrap_or_default();
    let missing: Vec<_> = acked.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged steps are missing: {missing:?}",
        missing.len()
    );
    let _ = server.stop();
}

/// Sets its flag when dropped (at the end of its scope, or when a panic unwinds through it).
struct HaltOnDrop<'a>(&'a AtomicBool);

impl Drop for HaltOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
