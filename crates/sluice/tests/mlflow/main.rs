//! The real, unmodified `mlflow` Python client (3.x and 2.x) against a running `sluice server`:
//! each test starts the binary on a free port in a fresh workspace, runs
//! `tests/mlflow/client_flow.py` with one venv's python, and stops the server with SIGTERM.
//!
//! The venvs come from `tests/mlflow/setup.sh`; `SLUICE_TEST_MLFLOW_VENVS` names the folder that
//! holds them (`.ci/run` sets it). Without that variable the tests say so and pass, so a plain
//! `cargo test` on a machine without Python works.
//!
//! With `SLUICE_TEST_POSTGRES` set (`tests/run.sh` sets it for its PostgreSQL pass), every
//! workspace here keeps its metadata in a fresh PostgreSQL schema instead of `sluice.db`.

mod object_stores;
mod postgres;
mod web_ui;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const VENVS_VAR: &str = "SLUICE_TEST_MLFLOW_VENVS";
/// Everything a test does (server start, the whole client flow, shutdown) ends within this.
const TIMEOUT: Duration = Duration::from_mins(5);
/// How long the server may take to stop after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Tests share the test PostgreSQL server; the one that restarts it has it to itself.
static DATABASE: RwLock<()> = RwLock::new(());

fn shared_database() -> RwLockReadGuard<'static, ()> {
    DATABASE
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn exclusive_database() -> RwLockWriteGuard<'static, ()> {
    DATABASE
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The store of a test workspace (PostgreSQL when the run asks for it; see the module docs).
fn workspace_store(ws: &Path) -> sluice_store::Location {
    sluice_store::testing::workspace_location(ws).expect("the test workspace's store")
}

#[test]
fn mlflow3_client_flow() {
    client_flow("venv-mlflow3");
}

#[test]
fn mlflow2_client_flow() {
    client_flow("venv-mlflow2");
}

/// A self-signed certificate for 127.0.0.1 and its key (made with `openssl`), or `None` when
/// `openssl` is not there (said on stderr).
fn self_signed(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "keyUsage=critical,digitalSignature,keyCertSign",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .output();
    match made {
        Ok(out) if out.status.success() => Some((cert, key)),
        other => {
            let _ = writeln!(
                std::io::stderr(),
                "skipped: cannot make a test certificate with `openssl` ({other:?}), so the HTTPS test did not run"
            );
            None
        }
    }
}

/// `sluice server --tls-cert --tls-key`: the mlflow 3 client's whole flow over HTTPS, trusting
/// the certificate through `REQUESTS_CA_BUNDLE` as a team would with a private CA; plain HTTP
/// to the same port gets no HTTP answer.
#[test]
fn mlflow3_client_flow_over_https() {
    let certs = tempfile::tempdir().expect("temp dir");
    let Some((cert, key)) = self_signed(certs.path()) else {
        return;
    };
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let tls = ["--tls-cert", cert.as_str(), "--tls-key", key.as_str()];
    {
        let dir = tempfile::tempdir().expect("temp dir");
        let deadline = Instant::now() + TIMEOUT;
        let mut server = Server::start_env(&dir.path().join("ws"), deadline, &tls, &[]);
        assert!(server.url().starts_with("https://"));
        let plain = http_get(server.port, "/health").unwrap_or_default();
        assert!(
            !plain.starts_with("HTTP/1.1 200"),
            "plain HTTP was answered: {plain}"
        );
        server.stop();
    }
    client_flow_env(
        "venv-mlflow3",
        &tls,
        &[],
        &[("REQUESTS_CA_BUNDLE", cert.clone())],
    );
}

#[test]
fn mlflow3_governance_flow() {
    governance_flow("venv-mlflow3");
}

#[test]
fn mlflow2_governance_flow() {
    governance_flow("venv-mlflow2");
}

/// MLflow's own web UI, served by `sluice server` from the `mlflow` wheel's bundle, in a real
/// headless Chromium: every page a user opens loads with no console error, no failed request and
/// no response >= 400 (`tests/ui/mlflow-ui.mjs`).
#[test]
fn mlflow3_web_ui_in_chromium() {
    web_ui_flow("venv-mlflow3");
}

/// `--mlflow-ui auto` finds the bundle of the `mlflow` in the active virtual environment after
/// the server started answering (asking Python takes ~0.1 s of a start otherwise ~0.03 s),
/// and then serves MLflow's UI at `/mlflow/`.
#[test]
fn mlflow_ui_auto_is_found_in_the_active_venv_once_the_server_answers() {
    let Some(python) = venv_python("venv-mlflow3") else {
        return;
    };
    let venv = python.parent().and_then(Path::parent).unwrap().to_owned();
    let _db = shared_database();
    let deadline = Instant::now() + TIMEOUT;
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start_env(
        &dir.path().join("ws"),
        deadline,
        &["--mlflow-ui", "auto"],
        &[("VIRTUAL_ENV", venv.display().to_string())],
    );
    let ui_page = || http_get(server.port, "/mlflow/").unwrap_or_default();
    let found = Instant::now() + Duration::from_mins(1);
    while !ui_page().starts_with("HTTP/1.1 200") {
        assert!(Instant::now() < found, "MLflow's UI was never served");
        std::thread::sleep(Duration::from_millis(50));
    }
    let page = ui_page();
    assert!(
        page.contains("<html") || page.contains("<!doctype html"),
        "{page}"
    );
    let session = http_get(server.port, "/api/sluice/v1/session").unwrap_or_default();
    assert!(session.contains("\"mlflow_ui\":true"), "{session}");
}

/// The venv's python, or `None` (said on stderr) when the venvs are not set up.
fn venv_python(venv: &str) -> Option<PathBuf> {
    let Some(venvs) = std::env::var_os(VENVS_VAR).filter(|v| !v.is_empty()) else {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: {VENVS_VAR} is unset, so the mlflow client test for {venv} did not run \
             (run `bash tests/mlflow/setup.sh` and set {VENVS_VAR} to its cache folder)"
        );
        return None;
    };
    let python = PathBuf::from(venvs).join(venv).join("bin/python");
    assert!(
        python.is_file(),
        "{VENVS_VAR} is set but `{}` does not exist: run `bash tests/mlflow/setup.sh`",
        python.display()
    );
    Some(python)
}

/// `tests/mlflow/webhooks_flow.py`: the mlflow 3.x client manages registry webhooks on
/// `sluice server --auth` (owners only) and a receiver in the script checks each delivery's
/// payload, headers and signature.
#[test]
fn mlflow3_webhooks_deliver_signed_registry_events() {
    use sluice_store::governance::Role;
    let Some(python) = venv_python("venv-mlflow3") else {
        return;
    };
    let _db = shared_database();
    let deadline = Instant::now() + TIMEOUT;
    let dir = tempfile::tempdir().expect("temp dir");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("workspace folder");
    let [contributor, owner] = tokens(&ws, [("cody", Role::Contributor), ("olga", Role::Owner)]);
    // As MLflow's own webhook tests run its server: plain HTTP to a receiver on loopback.
    let mut server = Server::start_env(
        &ws,
        deadline,
        &["--auth"],
        &[
            ("MLFLOW_WEBHOOK_ALLOWED_SCHEMES", "http".into()),
            ("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS", "true".into()),
            ("MLFLOW_WEBHOOK_REQUEST_TIMEOUT", "5".into()),
        ],
    );
    let (status, stdout, stderr) = run_flow(
        &python,
        "webhooks_flow.py",
        dir.path(),
        server.port,
        &[
            ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0"),
            ("SLUICE_TEST_CONTRIBUTOR", &contributor),
            ("SLUICE_TEST_OWNER", &owner),
        ],
        "[venv-mlflow3] ",
        deadline,
    );
    server.stop();
    let log = server.log();
    assert!(
        status.is_some_and(|s| s.success()) && stdout.contains(" checks passed"),
        "webhooks_flow.py failed\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}--- server log ---\n{log}"
    );
    // The webhooks' changes are in the audit log, their secrets nowhere in it.
    let store = sluice_store::Store::open_at(&workspace_store(&ws)).expect("store");
    let audit = store.list_audit(None, 1000).expect("audit");
    let text = serde_json::to_string(&audit).expect("json");
    for action in ["webhook.create", "webhook.update", "webhook.delete"] {
        assert!(text.contains(action), "{action} not audited: {text}");
    }
    assert!(
        !text.contains("receiver-secret") && !text.contains("second-secret"),
        "{text}"
    );
}

/// Tokens with these names and roles in the workspace's store, made by an owner.
fn tokens<const N: usize>(
    ws: &Path,
    who: [(&str, sluice_store::governance::Role); N],
) -> [String; N] {
    use sluice_store::governance::{Actor, Role};
    let mut store = sluice_store::Store::open_at(&workspace_store(ws)).expect("store");
    let admin = Actor::new("admin", Role::Owner);
    who.map(|(name, role)| {
        store
            .governed(&admin)
            .create_token(name, role, None)
            .expect("token")
            .token
    })
}

/// Runs `tests/mlflow/SCRIPT` with `python` against the server on `port`, with `env` and none of
/// the developer's MLflow credentials; returns how it ended (`None`: killed at `deadline`), its
/// output (echoed with `prefix`) and its errors.
fn run_flow(
    python: &Path,
    script: &str,
    dir: &Path,
    port: u16,
    env: &[(&str, &str)],
    prefix: &str,
    deadline: Instant,
) -> (Option<ExitStatus>, String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/mlflow")
        .join(script);
    let mut flow = Command::new(python)
        .arg(&script)
        .current_dir(dir)
        .env("MLFLOW_TRACKING_URI", format!("http://127.0.0.1:{port}"))
        .envs(env.iter().copied())
        .env_remove("MLFLOW_TRACKING_TOKEN")
        .env_remove("MLFLOW_TRACKING_USERNAME")
        .env_remove("MLFLOW_TRACKING_PASSWORD")
        .client_process()
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", python.display()));
    let out = Output::collect(flow.stdout.take(), prefix, true);
    let err = Output::collect(flow.stderr.take(), "", false);
    let status = wait_until(&mut flow, deadline, true);
    (status, out.finish(), err.finish())
}

/// `tests/mlflow/governance_flow.py` against `sluice server --auth`: tokens by Bearer and
/// Basic auth, and the errors the client gets for calls a role or a policy forbids.
fn governance_flow(venv: &str) {
    use sluice_store::governance::{Actor, Approvals, Gate, Policy, Role};
    let Some(python) = venv_python(venv) else {
        return;
    };
    let _db = shared_database();
    let deadline = Instant::now() + TIMEOUT;
    let dir = tempfile::tempdir().expect("temp dir");
    let ws = dir.path().join("ws");
    std::fs::create_dir_all(&ws).expect("workspace folder");
    let [reader, contributor, owner] = tokens(
        &ws,
        [
            ("rita", Role::Reader),
            ("cody", Role::Contributor),
            ("olga", Role::Owner),
        ],
    );
    {
        let mut store = sluice_store::Store::open_at(&workspace_store(&ws)).expect("store");
        let admin = Actor::new("admin", Role::Owner);
        store
            .governed(&admin)
            .create_registered_model("gov-model", &[], None)
            .expect("model");
        let policy = Policy {
            gate: Some(Gate {
                metric: "test_r2".into(),
                direction: sluice_store::governance::Direction::Higher,
                min: Some(0.7),
                max: None,
                min_improvement: None,
            }),
            approvals: Approvals {
                required: 1,
                distinct_from_creator: true,
            },
            ..Policy::default()
        };
        store
            .governed(&admin)
            .set_policy("gov-model", &policy)
            .expect("policy");
    }
    let mut server = Server::start_with(&ws, deadline, &["--auth", "--verbose", "--verbose"]);
    let (status, stdout, stderr) = run_flow(
        &python,
        "governance_flow.py",
        dir.path(),
        server.port,
        &[
            ("SLUICE_TEST_READER", &reader),
            ("SLUICE_TEST_CONTRIBUTOR", &contributor),
            ("SLUICE_TEST_OWNER", &owner),
        ],
        &format!("[{venv}] "),
        deadline,
    );
    server.stop();
    let log = server.log();
    assert!(
        status.is_some_and(|s| s.success()) && stdout.contains(" checks passed"),
        "[{venv}] governance_flow.py failed\n--- stdout ---\n{stdout}--- stderr ---\n{stderr}--- server log ---\n{log}"
    );
    // The request log (every request at `--verbose --verbose`) holds no token.
    assert!(log.contains("status=403") || log.contains("403"), "{log}");
    for t in [&reader, &contributor, &owner] {
        let secret = t.rsplit_once('_').expect("secret").1;
        assert!(
            !log.contains(secret),
            "a token's secret is in the server log"
        );
    }
}

fn client_flow(venv: &str) {
    client_flow_with(venv, &[], &[]);
}

/// `client_flow.py` against a server started with `extra` arguments and `env` variables; the
/// server's workspace folder, for checks after the flow.
fn client_flow_with(venv: &str, extra: &[&str], env: &[(&str, String)]) -> tempfile::TempDir {
    client_flow_env(venv, extra, env, &[])
}

/// [`client_flow_with`], the client also given `client_env`.
fn client_flow_env(
    venv: &str,
    extra: &[&str],
    env: &[(&str, String)],
    client_env: &[(&str, String)],
) -> tempfile::TempDir {
    let Some(venvs) = std::env::var_os(VENVS_VAR).filter(|v| !v.is_empty()) else {
        // Straight to stderr, past the test harness's capture, so a plain `cargo test` shows it.
        let _ = writeln!(
            std::io::stderr(),
            "skipped: {VENVS_VAR} is unset, so the mlflow client test for {venv} did not run \
             (run `bash tests/mlflow/setup.sh` and set {VENVS_VAR} to its cache folder)"
        );
        return tempfile::tempdir().expect("temp dir");
    };
    let python = PathBuf::from(venvs).join(venv).join("bin/python");
    assert!(
        python.is_file(),
        "{VENVS_VAR} is set but `{}` does not exist: run `bash tests/mlflow/setup.sh`",
        python.display()
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/mlflow/client_flow.py");
    let script = std::fs::canonicalize(&script).unwrap_or(script);
    let _db = shared_database();
    let deadline = Instant::now() + TIMEOUT;
    let dir = tempfile::tempdir().expect("temp dir");

    let mut server = Server::start_env(&dir.path().join("ws"), deadline, extra, env);
    let url = server.url();
    say(&format!("[{venv}] sluice server at {url}"));

    let mut flow = Command::new(&python)
        .arg(&script)
        .current_dir(dir.path())
        .envs(client_env.iter().map(|(k, v)| (k, v)))
        .env("MLFLOW_TRACKING_URI", &url)
        .env_remove("MLFLOW_REGISTRY_URI")
        .env_remove("MLFLOW_EXPERIMENT_NAME")
        .env_remove("MLFLOW_EXPERIMENT_ID")
        .env_remove("MLFLOW_RUN_ID")
        .client_process()
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{}`: {e}", python.display()));
    let flow_out = Output::collect(flow.stdout.take(), &format!("[{venv}] "), true);
    let flow_err = Output::collect(flow.stderr.take(), "", false);
    let status = wait_until(&mut flow, deadline, true);
    let flow_stdout = flow_out.finish();
    let flow_stderr = flow_err.finish();

    let stopped = server.stop();
    let server_log = server.log();

    let Some(status) = status else {
        panic!(
            "[{venv}] client_flow.py did not finish within {}s and was killed\n\
             --- client stdout ---\n{flow_stdout}--- client stderr ---\n{flow_stderr}\
             --- server log ---\n{server_log}",
            TIMEOUT.as_secs()
        );
    };
    assert!(
        status.success(),
        "[{venv}] client_flow.py failed ({status}): {}\n--- client stdout ---\n{flow_stdout}\
         --- client stderr ---\n{flow_stderr}--- server log ---\n{server_log}",
        flow_stdout
            .lines()
            .find(|l| l.starts_with("FAIL"))
            .unwrap_or("no FAIL line")
    );
    assert!(
        flow_stdout.contains("all ") && flow_stdout.contains(" checks passed"),
        "[{venv}] client_flow.py exited 0 without its closing line\n{flow_stdout}"
    );
    match stopped {
        Some(s) => assert!(
            s.success(),
            "[{venv}] the server exited with {s} after SIGTERM\n--- server log ---\n{server_log}"
        ),
        None => panic!(
            "[{venv}] the server did not stop within {}s of SIGTERM and was killed\n\
             --- server log ---\n{server_log}",
            STOP_TIMEOUT.as_secs()
        ),
    }
    assert!(
        server_log.contains("Stopped."),
        "[{venv}] the server did not report a graceful stop\n--- server log ---\n{server_log}"
    );
    dir
}

const CHROMIUM_VAR: &str = "SLUICE_TEST_CHROMIUM";

/// What the browser test needs besides the venv: Node.js, `playwright-core` installed in
/// `tests/ui` (`npm ci --prefix tests/ui`) and Chromium (`$SLUICE_TEST_CHROMIUM`, which `.ci/run`
/// sets). `None`, said on stderr, when the browser test is not set up.
fn browser() -> Option<(PathBuf, PathBuf)> {
    let ui = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/ui");
    let ui = std::fs::canonicalize(&ui).unwrap_or(ui);
    let Some(chromium) = std::env::var_os(CHROMIUM_VAR).filter(|v| !v.is_empty()) else {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: {CHROMIUM_VAR} is unset, so MLflow's web UI was not opened in a browser \
             (install Chromium and `npm ci --prefix tests/ui`, then set {CHROMIUM_VAR}=/usr/bin/chromium)"
        );
        return None;
    };
    let chromium = PathBuf::from(chromium);
    assert!(
        chromium.is_file(),
        "{CHROMIUM_VAR} names `{}`, which does not exist",
        chromium.display()
    );
    assert!(
        ui.join("node_modules/playwright-core").is_dir(),
        "{CHROMIUM_VAR} is set but playwright-core is not installed: run `npm ci --prefix tests/ui`"
    );
    Some((chromium, ui))
}

/// How every `mlflow` client process of these tests runs: no telemetry (there is no network), a
/// server error fails the call at once instead of after minutes of retries, unbuffered output
/// piped, and its own process group, so a timeout kills whatever it started too.
trait ClientProcess {
    fn client_process(&mut self) -> &mut Self;
}

impl ClientProcess for Command {
    fn client_process(&mut self) -> &mut Self {
        self.env("MLFLOW_DISABLE_TELEMETRY", "true")
            .env("DO_NOT_TRACK", "true")
            .env("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
            .env("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
            .env("PYTHONUNBUFFERED", "1")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
    }
}

/// A child with the test's environment for the `mlflow` client, output collected.
fn run_to_end(mut cmd: Command, what: &str, deadline: Instant) -> String {
    let mut child = cmd
        .client_process()
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {what}: {e}"));
    let out = Output::collect(child.stdout.take(), &format!("[{what}] "), true);
    let err = Output::collect(child.stderr.take(), "", false);
    let status = wait_until(&mut child, deadline, true);
    let (out, err) = (out.finish(), err.finish());
    match status {
        Some(s) if s.success() => out,
        Some(s) => panic!("{what} failed ({s})\n--- stdout ---\n{out}--- stderr ---\n{err}"),
        None => panic!("{what} did not finish in time\n--- stdout ---\n{out}--- stderr ---\n{err}"),
    }
}

/// A workspace with the example pipeline's runs (and the model it registers), plus a run with
/// artifacts, a registered model and traces logged by the real client; then each page of
/// MLflow's UI in Chromium.
fn web_ui_flow(venv: &str) {
    let Some(python) = venv_python(venv) else {
        return;
    };
    let Some((chromium, ui)) = browser() else {
        return;
    };
    let _db = shared_database();
    let deadline = Instant::now() + TIMEOUT;
    let dir = tempfile::tempdir().expect("temp dir");
    let ws = dir.path().join("ws");
    workspace_store(&ws);
    let repo = ui.join("../..");

    let mut job = Command::new(env!("CARGO_BIN_EXE_sluice"));
    job.args(["--workspace"])
        .arg(&ws)
        .args(["job", "create", "-f", "examples/taxi-fare/pipeline.yml"])
        .current_dir(&repo)
        .env_remove("SLUICE_WORKSPACE");
    run_to_end(job, "sluice job create", deadline);

    let mut find = Command::new(&python);
    find.args([
        "-c",
        "import os, mlflow; print(os.path.dirname(mlflow.__file__))",
    ]);
    let package = run_to_end(find, "find mlflow", deadline);
    let mut server = Server::start_with(&ws, deadline, &["--mlflow-ui", package.trim()]);
    let url = format!("http://127.0.0.1:{}", server.port);
    say(&format!("[{venv}] sluice server with MLflow's UI at {url}"));

    let mut populate = Command::new(&python);
    populate
        .arg(ui.join("populate.py"))
        .current_dir(dir.path())
        .env("MLFLOW_TRACKING_URI", &url);
    let ids = run_to_end(populate, "populate.py", deadline);
    let ids: serde_json::Value = serde_json::from_str(ids.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("populate.py printed no ids ({e}): {ids}"));
    let pipeline = pipeline_ids(server.port);

    let pages = ui_pages(&ids, &pipeline);
    let pages_file = dir.path().join("pages.json");
    std::fs::write(&pages_file, pages.to_string()).expect("write pages");
    let mut node = Command::new("node");
    // MLflow's UI is served under `/mlflow/` (Sluice's own has `/`).
    node.arg(ui.join("mlflow-ui.mjs"))
        .arg(format!("{url}/mlflow/"))
        .arg(&pages_file)
        .env("CHROMIUM", &chromium)
        .env("UI_SCREENSHOTS", dir.path());
    let report = run_to_end(node, "mlflow-ui.mjs", deadline);
    assert!(
        report.contains(&format!(
            "{{\"pages\":{},\"failed\":0}}",
            pages.as_array().map_or(0, Vec::len)
        )),
        "{report}"
    );
    let stopped = server.stop();
    assert!(stopped.is_some_and(|s| s.success()), "{}", server.log());
}

/// The example pipeline's experiment, one of its step runs, and the model it registered, read
/// back over the REST API.
fn pipeline_ids(port: u16) -> serde_json::Value {
    let get = |path: &str| -> serde_json::Value {
        let response = http_get(port, path).unwrap_or_else(|| panic!("GET {path}: no answer"));
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        serde_json::from_str(body).unwrap_or_else(|e| panic!("GET {path}: {e}: {response}"))
    };
    let experiments = get("/api/2.0/mlflow/experiments/search?max_results=100");
    let experiment = experiments["experiments"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] != "Default" && e["name"] != "ui-tour")
        .and_then(|e| e["experiment_id"].as_str())
        .expect("the pipeline's experiment")
        .to_owned();
    let runs = get(&format!(
        "/api/2.0/mlflow/runs/search?experiment_ids={experiment}&max_results=100"
    ));
    // The pipeline's own run: the runs table shows it, its steps nested under it.
    let is_child = |r: &serde_json::Value| {
        r["data"]["tags"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["key"] == "mlflow.parentRunId")
    };
    let run = &runs["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| !is_child(r))
        .expect("the pipeline's run")["info"];
    let models = get("/api/2.0/mlflow/registered-models/search?max_results=100");
    let model = models["registered_models"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["name"].as_str())
        .find(|n| *n != "ui-tour-model")
        .expect("the model the pipeline registered")
        .to_owned();
    serde_json::json!({
        "experiment": experiment,
        "run": run["run_id"],
        "run_name": run["run_name"],
        "model": model,
    })
}

/// Every page the issue names: experiments, runs table, run page, metric charts, artifacts,
/// compare runs, metric page, models, model, model version, traces and one trace.
fn ui_pages(tour: &serde_json::Value, pipeline: &serde_json::Value) -> serde_json::Value {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    let (t, t0, t1) = (
        s(&tour["experiment"]),
        s(&tour["runs"][0]),
        s(&tour["runs"][1]),
    );
    let (p, run, run_name, model) = (
        s(&pipeline["experiment"]),
        s(&pipeline["run"]),
        s(&pipeline["run_name"]),
        s(&pipeline["model"]),
    );
    let trace = s(&tour["trace"]);
    let runs = format!("[%22{t0}%22,%22{t1}%22]");
    serde_json::json!([
        {"name": "experiments", "path": "#/experiments", "expect": ["ui-tour"]},
        {"name": "pipeline runs", "path": format!("#/experiments/{p}/runs"), "expect": [run_name]},
        {"name": "pipeline run", "path": format!("#/experiments/{p}/runs/{run}"), "expect": [run_name]},
        {"name": "runs table", "path": format!("#/experiments/{t}/runs"), "expect": ["tour-0", "tour-1"]},
        {"name": "run", "path": format!("#/experiments/{t}/runs/{t0}"), "expect": ["tour-0", "alpha"]},
        {"name": "run metric charts", "path": format!("#/experiments/{t}/runs/{t0}/model-metrics"), "expect": ["loss"]},
        {"name": "run artifacts", "path": format!("#/experiments/{t}/runs/{t0}/artifacts"), "expect": ["notes", "plots"]},
        {"name": "artifact image", "path": format!("#/experiments/{t}/runs/{t0}/artifacts/plots/chart.png"), "expect": []},
        {"name": "compare runs", "path": format!("#/compare-runs?runs={runs}&experiments=[%22{t}%22]"), "expect": ["alpha", "solver"]},
        {"name": "metric page", "path": format!("#/metric/loss?runs={runs}&metric=%22loss%22&experiments=[%22{t}%22]&plot_metric_keys=%5B%22loss%22%5D&plot_layout={{}}&x_axis=step&y_axis_scale=linear&line_smoothness=1&show_point=false&deselected_curves=[]&last_linear_y_axis_range=[]"), "expect": []},
        {"name": "models", "path": "#/models", "expect": [model.clone(), "ui-tour-model"]},
        {"name": "model", "path": format!("#/models/{model}"), "expect": ["Version 1"]},
        {"name": "model version", "path": "#/models/ui-tour-model/versions/1", "expect": ["ui-tour-model"]},
        {"name": "overview", "path": format!("#/experiments/{t}"), "expect": ["Traces"]},
        {"name": "traces", "path": format!("#/experiments/{t}/traces"), "expect": ["what is the fare"]},
        {"name": "trace", "path": format!("#/experiments/{t}/traces?selectedEvaluationId={trace}"), "expect": ["retrieve"]},
    ])
}

/// A progress line on stderr (shown with `--nocapture`, or on failure).
#[expect(clippy::print_stderr, reason = "the tests report their progress")]
fn say(line: &str) {
    eprintln!("{line}");
}

/// The real `sluice server`, on a port it picked itself. Killed on drop if still running.
struct Server {
    child: Child,
    port: u16,
    /// It serves HTTPS (`--tls-cert`).
    tls: bool,
    log: Arc<Mutex<String>>,
    reader: Option<JoinHandle<()>>,
}

impl Server {
    fn start(workspace: &Path, deadline: Instant) -> Self {
        Self::start_with(workspace, deadline, &[])
    }

    fn start_with(workspace: &Path, deadline: Instant, extra: &[&str]) -> Self {
        Self::start_env(workspace, deadline, extra, &[])
    }

    fn start_env(
        workspace: &Path,
        deadline: Instant,
        extra: &[&str],
        env: &[(&str, String)],
    ) -> Self {
        workspace_store(workspace);
        let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args([
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--workspace",
            ])
            .arg(workspace)
            .args(extra)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("NO_COLOR", "1")
            .env_remove("SLUICE_WORKSPACE")
            .env_remove("SLUICE_STORE")
            .env_remove("SLUICE_HOST")
            .env_remove("SLUICE_PORT")
            .env_remove("SLUICE_LOG_FORMAT")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run sluice server");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (port_tx, port_rx) = mpsc::channel();
        let reader = {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                let mut port_tx = Some(port_tx);
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(port) = listening_port(&line).or_else(|| listening_port_tls(&line))
                        && let Some(tx) = port_tx.take()
                    {
                        let _ = tx.send(port);
                    }
                    let mut log = log
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    log.push_str(&line);
                    log.push('\n');
                }
            })
        };
        let mut server = Server {
            child,
            port: 0,
            tls: extra.contains(&"--tls-cert"),
            log,
            reader: Some(reader),
        };
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(Duration::from_secs(30));
        match port_rx.recv_timeout(wait) {
            Ok(port) => server.port = port,
            Err(e) => panic!(
                "the server printed no `Listening on http://127.0.0.1:PORT` within {}s ({e})\n{}",
                wait.as_secs(),
                server.log()
            ),
        }
        server.wait_ready(deadline);
        server
    }

    /// Polls `GET /health` until it answers 200.
    fn wait_ready(&mut self, deadline: Instant) {
        let limit = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!("the server exited with {status} at start\n{}", self.log());
            }
            // Over TLS, an accepted connection (the listener is bound before the line that
            // names the port is printed).
            let ready = if self.tls {
                TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            } else {
                health(self.port)
            };
            if ready {
                return;
            }
            assert!(
                Instant::now() < limit.min(deadline),
                "the server on port {} never answered GET /health\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM by PID, then waits for the exit; `None` if it had to be killed.
    fn stop(&mut self) -> Option<ExitStatus> {
        if let Some(status) = self.child.try_wait().expect("try_wait") {
            return Some(status);
        }
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "`kill -TERM {pid}` failed");
        let status = wait_until(&mut self.child, Instant::now() + STOP_TIMEOUT, false);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        status
    }

    /// Where clients reach it.
    fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `Listening on http://127.0.0.1:PORT (workspace ...)` → PORT.
fn listening_port(line: &str) -> Option<u16> {
    let rest = line.split("Listening on http://").nth(1)?;
    let addr = rest.split_whitespace().next()?;
    addr.rsplit_once(':')?.1.parse().ok()
}

/// `Listening on https://127.0.0.1:PORT (workspace ...)` → PORT.
fn listening_port_tls(line: &str) -> Option<u16> {
    let rest = line.split("Listening on https://").nth(1)?;
    let addr = rest.split_whitespace().next()?;
    addr.rsplit_once(':')?.1.parse().ok()
}

/// One plain HTTP/1.1 `GET /health`; true on a 200.
fn health(port: u16) -> bool {
    http_get(port, "/health").is_some_and(|r| r.starts_with("HTTP/1.1 200"))
}

/// One plain HTTP/1.1 GET on loopback: the whole response (status line, headers, body).
fn http_get(port: u16, path: &str) -> Option<String> {
    http_request(port, "GET", path, &[], "")
}

/// One plain HTTP/1.1 request on loopback with `headers` and `body`: the whole response.
fn http_request(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let extra = headers.iter().fold(String::new(), |mut acc, (k, v)| {
        use std::fmt::Write as _;
        let _ = write!(acc, "{k}: {v}\r\n");
        acc
    });
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    Some(response)
}

/// Waits for a child until `deadline`; kills it (and, with `group`, the process group it leads)
/// and returns `None` when time runs out.
fn wait_until(child: &mut Child, deadline: Instant, group: bool) -> Option<ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            if group {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .status();
            }
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A child's output, read on a thread (so a full pipe never blocks it) and optionally echoed.
struct Output(JoinHandle<String>);

impl Output {
    fn collect(pipe: Option<impl Read + Send + 'static>, prefix: &str, echo: bool) -> Self {
        let prefix = prefix.to_owned();
        Output(std::thread::spawn(move || {
            let mut text = String::new();
            let Some(pipe) = pipe else { return text };
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if echo {
                    say(&format!("{prefix}{line}"));
                }
                text.push_str(&line);
                text.push('\n');
            }
            text
        }))
    }

    fn finish(self) -> String {
        self.0.join().unwrap_or_default()
    }
}

/// A Sluice model folder loads in plain Python with `mlflow.pyfunc.load_model` (through the
/// `onnx` flavor `sluice step train` writes beside `model.bin`) and predicts what Sluice
/// predicts: its R² on the test split equals the one `sluice step evaluate` reports. Needs the
/// mlflow 3 venv and `onnx`/`onnxruntime` (`tests/ml/setup.sh`, `SLUICE_TEST_ONNXRUNTIME`).
#[test]
fn mlflow3_pyfunc_predicts_with_a_sluice_model_through_its_onnx_flavor() {
    let Some(python) = venv_python("venv-mlflow3") else {
        return;
    };
    let Some(onnx) = std::env::var_os("SLUICE_TEST_ONNXRUNTIME").filter(|v| !v.is_empty()) else {
        let _ = writeln!(
            std::io::stderr(),
            "skipped: SLUICE_TEST_ONNXRUNTIME is unset, so the pyfunc load of a Sluice model did not run (tests/ml/setup.sh installs onnx and onnxruntime)"
        );
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let sluice = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(args)
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env_remove("MLFLOW_TRACKING_URI")
            .env_remove("MLFLOW_RUN_ID")
            .output()
            .expect("run sluice");
        assert!(out.status.success(), "sluice {args:?}: {out:?}");
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default()
    };
    sluice(&["step", "synth-taxi", "--rows", "3000", "--path", "taxi.csv"]);
    sluice(&[
        "step",
        "prep",
        "--data",
        "taxi.csv",
        "--target",
        "fare_amount",
        "--drop",
        "pickup_datetime",
        "--categorical",
        "vendor,store_and_fwd_flag",
        "--split",
        "0.7,0.15,0.15",
        "--seed",
        "42",
        "--train-output",
        "train",
        "--validation-output",
        "val",
        "--test-output",
        "test",
    ]);
    sluice(&[
        "step",
        "train",
        "--algorithm",
        "random_forest",
        "--target",
        "fare_amount",
        "--train-data",
        "train",
        "--n-estimators",
        "10",
        "--seed",
        "42",
        "--model-output",
        "m",
    ]);
    let eval = sluice(&[
        "step",
        "evaluate",
        "--model",
        "m",
        "--test-data",
        "test",
        "--evaluation-output",
        "ev",
    ]);
    let r2 = eval["metrics"]["test_r2"].as_f64().expect("test_r2");
    // `model export` writes the same bytes as the folder's `model.onnx`.
    sluice(&["model", "export", "--path", "m", "--file", "exported.onnx"]);
    assert_eq!(
        std::fs::read(dir.path().join("exported.onnx")).unwrap(),
        std::fs::read(dir.path().join("m/model.onnx")).unwrap()
    );
    let script = "import json, sys, mlflow, pandas as pd\n\
                  from sklearn.metrics import r2_score\n\
                  m = mlflow.pyfunc.load_model('m')\n\
                  t = pd.read_parquet('test/data.parquet')\n\
                  p = m.predict(t.drop(columns=['fare_amount']))\n\
                  print(json.dumps({'flavors': sorted(m.metadata.flavors), 'r2': r2_score(t['fare_amount'], p.to_numpy().reshape(-1))}))";
    let out = Command::new(python)
        .args(["-c", script])
        .current_dir(dir.path())
        .env("PYTHONPATH", onnx)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        got["flavors"],
        serde_json::json!(["onnx", "python_function", "sluice"])
    );
    let pyfunc_r2 = got["r2"].as_f64().unwrap();
    assert!(
        (pyfunc_r2 - r2).abs() <= 1e-6,
        "pyfunc R² {pyfunc_r2} vs sluice's {r2}"
    );
}
