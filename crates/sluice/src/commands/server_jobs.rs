//! The team server's job routes (`sluice server` owns its workspace and runs jobs itself), under
//! `/api/sluice/v1/`, held to the same role rules as the MLflow routes:
//!
//! | route | role | what |
//! |---|---|---|
//! | `POST /jobs?file=F&name=N&set=K=V&force_rerun=true&folder=D` | contributor | the body is a tar of the client's project folder; the job runs on the server |
//! | `GET /jobs?max_results=N` | reader | `job list` |
//! | `GET /jobs/{name}` | reader | `job show` |
//! | `POST /jobs/{name}/cancel` | contributor | `job cancel` |
//! | `POST /jobs/{name}/resume?max_parallel=N` | contributor | `job resume`, run on the server |
//! | `GET /jobs/{name}/steps/{step}/log?offset=N` | reader | a step's log from byte `offset` |
//! | `GET /jobs/{name}/events` | reader | server-sent events: `event: job` with `job show`'s JSON each time it changes, until the job ends (the web UI's live view) |
//! | `POST /cli` `{"args": [...]}` | reader (the command checks its own role) | one of the commands in [`REMOTE_COMMANDS`], run on the server's workspace as the caller |
//! | `POST /cli/files?args=JSON&roots=JSON` | reader (as above) | the same with the local files it reads: the body is a tar of them, each under a folder `N/`; the arguments name them `@upload:N/...` |
//!
//! A submitted job runs as a `sluice job create` process of its own (its own process group),
//! started by the server in the unpacked folder and acting with the submitter's token: it keeps
//! running when the client disconnects and when the server restarts, and `job cancel` stops it
//! as it stops any job. Errors answer `{error_code, message, hint, exit_code}`, so the client
//! exits as the local command would.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, Query};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use sluice_engine::Workspace;
use sluice_server::ExtraRoute;
use sluice_store::governance::Role;

use crate::error::CliError;

/// The largest project folder a submission may upload.
pub(crate) const MAX_UPLOAD: usize = 1 << 30;
/// How long a submission waits for its job to be recorded (or refused) before answering.
const RECORD_WAIT: Duration = Duration::from_mins(2);

/// What the job routes need besides the server state.
pub(crate) struct Jobs {
    pub(crate) ws: Workspace,
    /// `--store` as given to the server, passed on to the job processes.
    pub(crate) store: Option<String>,
    /// Becomes `true` when the server is stopping: open event streams end, so the graceful
    /// shutdown does not wait for jobs that are still running.
    pub(crate) stopping: tokio::sync::watch::Receiver<bool>,
}

pub(crate) type Shared = Arc<Jobs>;

/// The commands a client may run on the server's workspace through `POST /cli` (group,
/// subcommand): those that read or govern what is stored and take no local file. Each acts
/// with the caller's token, so the role it needs is checked as locally (`token create` by an
/// owner, `model approve` by anyone but the version's creator, ...).
pub(crate) const REMOTE_COMMANDS: &[(&str, &str)] = &[
    ("job", "explain"),
    ("data", "show"),
    ("data", "list"),
    ("data", "lineage"),
    ("environment", "show"),
    ("environment", "list"),
    // Builds on the server, where its jobs run.
    ("environment", "build"),
    ("component", "show"),
    ("component", "list"),
    ("compute", "show"),
    ("compute", "list"),
    ("datastore", "show"),
    ("datastore", "list"),
    ("model", "list"),
    ("model", "show"),
    ("model", "alias"),
    ("model", "approve"),
    ("model", "promote"),
    ("model", "status"),
    ("model", "lineage"),
    ("model", "policy"),
    // Writes a file: the server writes it in a folder of its own and sends it back.
    ("model", "export"),
    ("token", "create"),
    ("token", "list"),
    ("token", "revoke"),
    ("audit", "list"),
    ("audit", "verify"),
    // These read local files: the client uploads them (`POST /cli/files`).
    ("data", "create"),
    ("environment", "create"),
    ("component", "create"),
    ("compute", "create"),
    ("datastore", "create"),
    ("model", "create"),
    ("job", "validate"),
];

/// The options whose value is a local file or folder the client uploads (`--path` also takes
/// remote addresses, `scheme://...`, passed as they are).
pub(crate) const FILE_OPTIONS: &[&str] = &["-f", "--file", "-p", "--path"];

/// How an uploaded file is named in the arguments: `@upload:N/rel`.
pub(crate) const UPLOAD_PREFIX: &str = "@upload:";

/// How a file the command writes is named in the arguments (`--file @download:NAME`): the
/// server writes it in a folder of its own and sends its bytes back under `files.NAME`.
pub(crate) const DOWNLOAD_PREFIX: &str = "@download:";

/// The largest file a forwarded command may send back.
const MAX_DOWNLOAD: u64 = 512 << 20;

/// Options a forwarded command may not carry: they name files or places on the server.
const REFUSED_OPTIONS: &[&str] = &[
    "-f",
    "-p",
    "--file",
    "--path",
    "--workspace",
    "--store",
    "--url",
    "--token",
    "--tls-cert",
    "--tls-key",
];

/// The (group, subcommand) of a command line, skipping global options and their values.
pub(crate) fn command_of(args: &[String]) -> Option<(&str, &str)> {
    const WITH_VALUE: &[&str] = &[
        "-o",
        "--output",
        "--query",
        "--workspace",
        "--store",
        "--log-format",
        "--token",
        "--url",
        "-g",
        "--resource-group",
        "-w",
        "--workspace-name",
        "--subscription",
    ];
    let mut words = Vec::new();
    let mut i = 0;
    while i < args.len() && words.len() < 2 {
        let a = args[i].as_str();
        if WITH_VALUE.contains(&a) {
            i += 2;
            continue;
        }
        if !a.starts_with('-') {
            words.push(a);
        }
        i += 1;
    }
    match words.as_slice() {
        [group, sub] => Some((group, sub)),
        _ => None,
    }
}

/// The routes, for [`sluice_server::router_with`].
pub(crate) fn routes(jobs: Shared) -> Vec<ExtraRoute> {
    let for_resume = Arc::clone(&jobs);
    let for_files = Arc::clone(&jobs);
    let for_events = Arc::clone(&jobs);
    let (for_submit, for_list, for_show, for_cancel, for_cli, for_log) = (
        Arc::clone(&jobs),
        Arc::clone(&jobs),
        Arc::clone(&jobs),
        Arc::clone(&jobs),
        Arc::clone(&jobs),
        jobs,
    );
    vec![
        ExtraRoute {
            method: Method::GET,
            path: "/api/sluice/v1/jobs/{name}/events",
            role: Some(Role::Reader),
            handler: get(move |UrlPath(name): UrlPath<String>| {
                let jobs = Arc::clone(&for_events);
                async move { events(jobs, name) }
            }),
        },
        ExtraRoute {
            method: Method::POST,
            path: "/api/sluice/v1/jobs",
            role: Some(Role::Contributor),
            handler: post(
                move |headers: HeaderMap, Query(q): Query<Vec<(String, String)>>, body: Bytes| {
                    let jobs = Arc::clone(&for_submit);
                    async move { blocking(move || submit(&jobs, &headers, &q, &body)).await }
                },
            )
            .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD)),
        },
        ExtraRoute {
            method: Method::GET,
            path: "/api/sluice/v1/jobs",
            role: Some(Role::Reader),
            handler: get(move |Query(q): Query<Vec<(String, String)>>| {
                let jobs = Arc::clone(&for_list);
                async move { blocking(move || list(&jobs, &q)).await }
            }),
        },
        ExtraRoute {
            method: Method::GET,
            path: "/api/sluice/v1/jobs/{name}",
            role: Some(Role::Reader),
            handler: get(move |UrlPath(name): UrlPath<String>| {
                let jobs = Arc::clone(&for_show);
                async move { blocking(move || crate::commands::job::job_json(&jobs.ws, &name)).await }
            }),
        },
        ExtraRoute {
            method: Method::POST,
            path: "/api/sluice/v1/jobs/{name}/cancel",
            role: Some(Role::Contributor),
            handler: post(move |UrlPath(name): UrlPath<String>| {
                let jobs = Arc::clone(&for_cancel);
                async move {
                    blocking(move || crate::commands::job::cancel::cancel(&jobs.ws, &name)).await
                }
            }),
        },
        ExtraRoute {
            method: Method::POST,
            path: "/api/sluice/v1/jobs/{name}/resume",
            role: Some(Role::Contributor),
            handler: post(
                move |headers: HeaderMap,
                      UrlPath(name): UrlPath<String>,
                      Query(q): Query<Vec<(String, String)>>| {
                    let jobs = Arc::clone(&for_resume);
                    async move { blocking(move || resume(&jobs, &headers, &name, &q)).await }
                },
            ),
        },
        ExtraRoute {
            method: Method::POST,
            path: "/api/sluice/v1/cli",
            role: Some(Role::Reader),
            handler: post(
                move |headers: HeaderMap, axum::Json(body): axum::Json<Value>| {
                    let jobs = Arc::clone(&for_cli);
                    async move { blocking(move || forwarded(&jobs, &headers, &body)).await }
                },
            ),
        },
        ExtraRoute {
            method: Method::POST,
            path: "/api/sluice/v1/cli/files",
            role: Some(Role::Reader),
            handler: post(
                move |headers: HeaderMap, Query(q): Query<Vec<(String, String)>>, body: Bytes| {
                    let jobs = Arc::clone(&for_files);
                    async move { blocking(move || with_files(&jobs, &headers, &q, &body)).await }
                },
            )
            .layer(axum::extract::DefaultBodyLimit::max(MAX_UPLOAD)),
        },
        ExtraRoute {
            method: Method::GET,
            path: "/api/sluice/v1/jobs/{name}/steps/{step}/log",
            role: Some(Role::Reader),
            handler: get(
                move |UrlPath((name, step)): UrlPath<(String, String)>,
                      Query(q): Query<Vec<(String, String)>>| {
                    let jobs = Arc::clone(&for_log);
                    async move {
                        tokio::task::spawn_blocking(move || log_from(&jobs, &name, &step, &q))
                            .await
                            .unwrap_or_else(|e| {
                                error_response(&CliError::Workspace(format!("internal error: {e}")))
                            })
                    }
                },
            ),
        },
    ]
}

/// How often the job is read for its event stream.
const EVENT_POLL: Duration = Duration::from_millis(400);

/// A job's changes as server-sent events: its `job show` JSON first, then each time it
/// differs, ending after the one that shows it finished. An unknown job ends the stream with
/// an `error` event.
fn events(jobs: Shared, name: String) -> Response {
    use axum::response::sse::{Event, KeepAlive, Sse};
    const ENDED: &[&str] = &[
        "Completed",
        "Failed",
        "Canceled",
        "NotResponding",
        "Skipped",
    ];
    // (last JSON sent, finished)
    let stream = futures::stream::unfold((String::new(), false), move |(last, done)| {
        let jobs = Arc::clone(&jobs);
        let name = name.clone();
        async move {
            if done {
                return None;
            }
            let mut stopping = jobs.stopping.clone();
            let mut first = last.is_empty();
            loop {
                if *stopping.borrow() {
                    return None;
                }
                if !first {
                    tokio::select! {
                        () = tokio::time::sleep(EVENT_POLL) => {}
                        _ = stopping.changed() => return None,
                    }
                }
                first = false;
                let (jobs, name) = (Arc::clone(&jobs), name.clone());
                let read = tokio::task::spawn_blocking(move || {
                    crate::commands::job::job_json(&jobs.ws, &name)
                })
                .await;
                let job = match read {
                    Ok(Ok(job)) => job,
                    Ok(Err(e)) => {
                        let event = Event::default().event("error").data(e.to_string());
                        return Some((Ok::<_, std::convert::Infallible>(event), (last, true)));
                    }
                    Err(_) => continue,
                };
                let text = job.to_string();
                if text == last {
                    continue;
                }
                let ended = job["status"].as_str().is_some_and(|s| ENDED.contains(&s));
                let event = Event::default().event("job").data(text.clone());
                return Some((Ok(event), (text, ended)));
            }
        }
    });
    Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// Runs `f` off the async threads; its error as the client reads it.
async fn blocking(f: impl FnOnce() -> Result<Value, CliError> + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(v)) => axum::Json(v).into_response(),
        Ok(Err(e)) => error_response(&e),
        Err(e) => error_response(&CliError::Workspace(format!("internal error: {e}"))),
    }
}

/// An error as JSON: the MLflow-style code and message, the hint, and the exit code the CLI
/// would have exited with.
pub(crate) fn error_response(e: &CliError) -> Response {
    let exit = e.exit();
    let (status, code) = match exit.code() {
        2 => (StatusCode::BAD_REQUEST, "INVALID_PARAMETER_VALUE"),
        3 => (StatusCode::BAD_REQUEST, "INVALID_SPEC"),
        5 => (StatusCode::NOT_FOUND, "RESOURCE_DOES_NOT_EXIST"),
        6 => (StatusCode::CONFLICT, "RESOURCE_ALREADY_EXISTS"),
        12 => (StatusCode::FORBIDDEN, "PERMISSION_DENIED"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
    };
    let message = e.to_string();
    (
        status,
        axum::Json(json!({
            "error_code": code,
            "message": message,
            "hint": e.hint(),
            "exit_code": exit.code(),
        })),
    )
        .into_response()
}

fn param<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn list(jobs: &Jobs, q: &[(String, String)]) -> Result<Value, CliError> {
    let max = param(q, "max_results")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    crate::commands::job::list::list_json(&jobs.ws, max)
}

/// A path inside the upload, refused if it would leave it.
fn inside(root: &Path, rel: &str) -> Result<PathBuf, CliError> {
    let p = Path::new(rel);
    if p.is_absolute()
        || p.components().any(|c| {
            !matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        })
    {
        return Err(CliError::usage(
            format!("`{rel}` is not a path inside the uploaded folder"),
            "the job file must be inside the folder the client uploads",
        ));
    }
    Ok(root.join(p))
}

fn submit(
    jobs: &Jobs,
    headers: &HeaderMap,
    q: &[(String, String)],
    body: &[u8],
) -> Result<Value, CliError> {
    let file = param(q, "file").ok_or_else(|| {
        CliError::usage(
            "the submission names no job file (`file=`)",
            "send `file=pipeline.yml`",
        )
    })?;
    let folder = param(q, "folder")
        .filter(|f| {
            !f.is_empty()
                && f.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && *f != "."
                && *f != ".."
        })
        .unwrap_or("project");
    let name = match param(q, "name") {
        Some(n) => n.to_owned(),
        None => sluice_engine::generate_name(),
    };
    if jobs.ws.store().get_job(&name).is_ok() {
        return Err(CliError::AlreadyExists {
            message: format!("job `{name}` already exists"),
            hint: Some("job names are unique: pass another `--name`, or none".into()),
        });
    }
    // Unpack the project where the job's process will run.
    let upload = jobs
        .ws
        .root()
        .join("uploads")
        .join(format!("{name}-{:08x}", fastrand::u32(..)));
    let project = upload.join(folder);
    std::fs::create_dir_all(&project)
        .map_err(|e| CliError::Workspace(format!("cannot create {}: {e}", project.display())))?;
    let mut archive = tar::Archive::new(body);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(true);
    // `unpack` refuses entries that would land outside the folder (`..`, absolute paths).
    archive.unpack(&project).map_err(|e| {
        CliError::usage(
            format!("the uploaded project is not a readable tar archive: {e}"),
            "submit with `sluice --url URL job create -f FILE`",
        )
    })?;
    let spec = inside(&project, file)?;
    // Who submitted it, beside it: the server resumes it as them if its process dies.
    let submitter = match sluice_server::request_token(headers) {
        Some(token) => jobs.ws.store().authenticate(&token)?,
        None => sluice_store::governance::Actor::local(),
    };
    let record =
        json!({"job": name, "identity": submitter.name, "role": submitter.role.to_string()});
    std::fs::write(upload.join(SUBMITTED), record.to_string()).map_err(|e| {
        CliError::Workspace(format!(
            "cannot write {}: {e}",
            upload.join(SUBMITTED).display()
        ))
    })?;
    let mut cmd = sluice_for(Some(headers))?;
    cmd.args(["job", "create", "-o", "none", "--name", &name, "-f"])
        .arg(&spec)
        .current_dir(&project);
    let sets: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "set")
        .map(|(_, v)| v.as_str())
        .collect();
    if !sets.is_empty() {
        cmd.arg("--set").args(&sets);
    }
    if param(q, "force_rerun") == Some("true") {
        cmd.arg("--force-rerun");
    }
    if let Some(n) = param(q, "max_parallel") {
        cmd.arg("--max-parallel").arg(n);
    }
    let started = run_detached(jobs, cmd, &upload.join("runner.log"), &|ws| {
        ws.store().get_job(&name).is_ok()
    });
    if started.is_err() {
        let _ = std::fs::remove_dir_all(&upload);
    }
    started?;
    crate::commands::job::job_json(&jobs.ws, &name)
}

/// `job resume` on the server: the job's own process again, as the caller.
fn resume(
    jobs: &Jobs,
    headers: &HeaderMap,
    name: &str,
    q: &[(String, String)],
) -> Result<Value, CliError> {
    let job = jobs.ws.store().get_job(name)?;
    let before = jobs.ws.store().status_history(name).map_or(0, |h| h.len());
    let mut cmd = sluice_for(Some(headers))?;
    cmd.args(["job", "resume", "-o", "none", "-n", name]);
    if let Some(dir) = job.settings["spec_dir"].as_str() {
        cmd.current_dir(dir);
    }
    if let Some(n) = param(q, "max_parallel") {
        cmd.arg("--max-parallel").arg(n);
    }
    let log = jobs
        .ws
        .job_dir(name)
        .join(format!("resume-{:08x}.log", fastrand::u32(..)));
    run_detached(jobs, cmd, &log, &|ws| resumed(ws, name, before))?;
    crate::commands::job::job_json(&jobs.ws, name)
}

/// Whether job `name` was resumed since its status history held `before` events: it grew past
/// a new job-level `Running`.
fn resumed(ws: &Workspace, name: &str, before: usize) -> bool {
    ws.store().status_history(name).is_ok_and(|h| {
        h.len() > before
            && h.iter()
                .skip(before)
                .any(|e| e.step.is_empty() && e.status == "Running")
    })
}

/// The file, beside a submitted project, that says which job it is and who submitted it.
const SUBMITTED: &str = "submitted.json";

/// Who submitted job `job` to this server (identity, role), from the record in the folder the
/// server made for its upload (`uploads/JOB-XXXXXXXX`, the first below `uploads` in the job's
/// recorded spec folder, taken as written: no link in the upload can lead elsewhere; the
/// uploaded tar is unpacked a folder deeper and cannot write it); `None` for a job not
/// submitted here (or before submissions were recorded).
fn submitter_of(uploads: &Path, spec_dir: &Path, job: &str) -> Option<(String, Role)> {
    // The workspace's root as given, or as the job's process may have resolved it.
    let rel = spec_dir
        .strip_prefix(uploads)
        .ok()
        .or_else(|| spec_dir.strip_prefix(uploads.canonicalize().ok()?).ok())?;
    let std::path::Component::Normal(first) = rel.components().next()? else {
        return None;
    };
    let ours = first
        .to_str()
        .and_then(|f| f.strip_prefix(job)?.strip_prefix('-'))
        .is_some_and(|hex| hex.len() == 8 && hex.chars().all(|c| c.is_ascii_hexdigit()));
    if !ours {
        return None;
    }
    let upload = uploads.join(first);
    let record: Value =
        serde_json::from_slice(&std::fs::read(upload.join(SUBMITTED)).ok()?).ok()?;
    if record["job"] != job {
        return None;
    }
    let role = Role::parse(record["role"].as_str()?).ok()?;
    Some((record["identity"].as_str()?.to_owned(), role))
}

/// How often the server looks for jobs whose `sluice` process died.
const WATCH: Duration = Duration::from_secs(2);

/// Watches the workspace's jobs on a thread of its own until the server stops: a job whose
/// `sluice` process died (killed, crashed, or gone with a restarted machine) is ended as
/// interrupted, as any command opening the workspace ends it, and one that was submitted to
/// this server is resumed, at most `limit` times in a row (0: never). The resumed job keeps
/// its completed steps and follows a step's batch job that ran on (Slurm); it acts as its
/// submitter (at most as a contributor), with a token made for that job alone. A job started
/// from a terminal on the server's machine, or submitted before submissions were recorded, is
/// left to whoever started it.
pub(crate) fn watch(jobs: Shared, limit: usize) {
    std::thread::spawn(move || {
        let mut handled = std::collections::HashSet::new();
        while !*jobs.stopping.borrow() {
            if let Err(e) = resume_interrupted(&jobs, limit, &mut handled) {
                tracing::warn!(error = %e, "cannot check the workspace for interrupted jobs");
            }
            std::thread::sleep(WATCH);
        }
    });
}

/// One look of [`watch`]: ends the jobs whose process died, then resumes the interrupted
/// jobs submitted to this server. `handled` holds each interruption (job, end time) already
/// acted on, so a resume that fails, or a job past `limit`, is tried or said only once.
fn resume_interrupted(
    jobs: &Jobs,
    limit: usize,
    handled: &mut std::collections::HashSet<(String, Option<String>)>,
) -> Result<(), CliError> {
    for name in sluice_engine::recover_interrupted(&jobs.ws)? {
        tracing::warn!(job = %name, "the job's sluice process is gone: the job is marked Failed (interrupted)");
    }
    if limit == 0 {
        return Ok(());
    }
    // As the server wrote it into the job's spec folder (never through links).
    let uploads = jobs.ws.root().join("uploads");
    let interrupted = jobs.ws.store().interrupted_jobs()?;
    for name in interrupted {
        let job = jobs.ws.store().get_job(&name)?;
        if !handled.insert((name.clone(), job.ended_at.clone())) {
            continue;
        }
        let Some(dir) = job.settings["spec_dir"].as_str().map(PathBuf::from) else {
            continue;
        };
        // Submitted here, and recorded so.
        let Some((identity, role)) = submitter_of(&uploads, &dir, &name) else {
            continue;
        };
        let history = jobs.ws.store().status_history(&name)?;
        let times = sluice_engine::interruptions_in_a_row(&history);
        if times > limit {
            tracing::warn!(
                job = %name,
                "the job was interrupted {times} times in a row: not resumed again (`--auto-resume {limit}`); `sluice job resume -n {name}` resumes it"
            );
            continue;
        }
        tracing::warn!(job = %name, submitter = %identity, "resuming the job: its sluice process stopped (interruption {times} in a row, at most {limit} resumed)");
        // As its submitter: what it registers is theirs, as when they submitted it.
        // The command first: a token is made only for a resume that can be started.
        let mut cmd = sluice_for(None)?;
        let server = sluice_store::governance::Actor::local();
        let token = match jobs
            .ws
            .store()
            .governed(&server)
            .create_resume_token(&name, &identity, role)
        {
            Ok(token) => token,
            Err(e) => {
                tracing::warn!(job = %name, error = %e, "cannot make the token to resume the job with");
                continue;
            }
        };
        // Only while still interrupted: a `job cancel` meanwhile wins.
        cmd.env("SLUICE_TOKEN", &token.token)
            .args([
                "job",
                "resume",
                "--if-interrupted",
                "-o",
                "none",
                "-n",
                &name,
            ])
            .current_dir(&dir);
        let log = jobs
            .ws
            .job_dir(&name)
            .join(format!("auto-resume-{:08x}.log", fastrand::u32(..)));
        let before = history.len();
        if let Err(e) = run_detached(jobs, cmd, &log, &|ws| resumed(ws, &name, before)) {
            tracing::warn!(job = %name, error = %e, "cannot resume the interrupted job");
            // Its token is of no further use (a resume still starting fails without it).
            if let Err(e) = jobs
                .ws
                .store()
                .governed(&server)
                .revoke_token(&token.info.id)
            {
                tracing::warn!(job = %name, error = %e, "cannot revoke the resume token");
            }
        }
    }
    Ok(())
}

/// Starts `cmd` (a `sluice job ...` command from [`sluice_for`]) in its own process group, on
/// the server's workspace, its stderr in `log`, and waits until `started` holds (the job is under
/// way) or it exits first (its error, with its exit code, is the answer).
fn run_detached(
    jobs: &Jobs,
    mut cmd: Command,
    log: &Path,
    started: &dyn Fn(&Workspace) -> bool,
) -> Result<(), CliError> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::Workspace(format!("cannot create {}: {e}", dir.display())))?;
    }
    let file = std::fs::File::create(log)
        .map_err(|e| CliError::Workspace(format!("cannot create {}: {e}", log.display())))?;
    on_workspace(jobs, &mut cmd);
    cmd.stdout(Stdio::null()).stderr(file);
    // Its own process group: the server's Ctrl-C or SIGTERM does not reach it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .spawn()
        .map_err(|e| CliError::Workspace(format!("cannot start the job's process: {e}")))?;
    let deadline = Instant::now() + RECORD_WAIT;
    loop {
        if started(&jobs.ws) {
            // Reap it whenever it ends.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
            return Ok(());
        }
        if let Some(status) = child
            .try_wait()
            .map_err(|e| CliError::Workspace(e.to_string()))?
        {
            if started(&jobs.ws) {
                return Ok(());
            }
            let text = std::fs::read_to_string(log).unwrap_or_default();
            return Err(CliError::Remote {
                message: text.trim().to_owned(),
                exit: crate::exit::Exit::from_code(status.code().unwrap_or(10)),
            });
        }
        if Instant::now() > deadline {
            // It may still start: reaped whenever it ends.
            std::thread::spawn(move || {
                let _ = child.wait();
            });
            return Err(CliError::Workspace(format!(
                "the job did not start within {} s; see {}",
                RECORD_WAIT.as_secs(),
                log.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `sluice` run on the server's workspace (and store) for a client, acting with the request's
/// token (`headers`), or for the server itself (`None`: as the user running it), never with
/// the server's own `SLUICE_URL`, `SLUICE_TOKEN` or output settings.
fn sluice_for(headers: Option<&HeaderMap>) -> Result<Command, CliError> {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::Workspace(format!("cannot find the sluice binary: {e}")))?;
    let mut cmd = Command::new(exe);
    cmd.stdin(Stdio::null())
        .env("NO_COLOR", "1")
        .env_remove("SLUICE_URL")
        .env_remove("SLUICE_OUTPUT");
    match headers.and_then(sluice_server::request_token) {
        Some(token) => cmd.env("SLUICE_TOKEN", token),
        None => cmd.env_remove("SLUICE_TOKEN"),
    };
    Ok(cmd)
}

/// The options that point a command at the server's workspace.
fn on_workspace(jobs: &Jobs, cmd: &mut Command) {
    cmd.arg("--workspace").arg(jobs.ws.root());
    if let Some(store) = &jobs.store {
        cmd.arg("--store").arg(store);
    }
}

/// Runs one of [`REMOTE_COMMANDS`] on the server's workspace as the caller: its stdout, stderr
/// and exit code, for the client to pass on unchanged.
fn forwarded(jobs: &Jobs, headers: &HeaderMap, body: &Value) -> Result<Value, CliError> {
    let args: Vec<String> = body["args"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    check_command(&args)?;
    if let Some(bad) = downloads(&args)?.0.iter().find(|a| refused(a)) {
        return Err(refused_error(bad));
    }
    run_collecting(jobs, headers, &args, None)
}

/// [`run_forwarded`], with the files the command writes (`--file @download:NAME`) written in a
/// folder of the server's own and sent back under `files` (base64), their paths in its output
/// named as the client gave them.
fn run_collecting(
    jobs: &Jobs,
    headers: &HeaderMap,
    args: &[String],
    uploads: Option<(&Path, &std::collections::BTreeMap<String, String>)>,
) -> Result<Value, CliError> {
    let (args, wanted) = downloads(args)?;
    if wanted.is_empty() {
        return run_forwarded(jobs, headers, &args, uploads);
    }
    let dir = scratch_dir(jobs, "out")?;
    let ran = (|| {
        let mut full = Vec::with_capacity(args.len() + 2 * wanted.len());
        full.extend(args.iter().cloned());
        for (option, name) in &wanted {
            full.push(option.clone());
            full.push(dir.join(name).display().to_string());
        }
        let mut out = run_forwarded(jobs, headers, &full, uploads)?;
        let mut files = serde_json::Map::new();
        for (_, name) in &wanted {
            let path = dir.join(name);
            // Named back as the client gave it (`@download:NAME`), which it replaces with its path.
            let placeholder = format!("{DOWNLOAD_PREFIX}{name}");
            for stream in ["stdout", "stderr"] {
                if let Some(text) = out[stream].as_str() {
                    out[stream] =
                        Value::String(text.replace(&path.display().to_string(), &placeholder));
                }
            }
            if out["exit_code"] != 0 {
                continue;
            }
            let size = std::fs::metadata(&path).map_or(0, |m| m.len());
            if size > MAX_DOWNLOAD {
                return Err(CliError::usage(
                    format!(
                        "`{name}` is {size} bytes, more than a team server sends back ({MAX_DOWNLOAD})"
                    ),
                    "run the command on the server's workspace itself",
                ));
            }
            if let Ok(bytes) = std::fs::read(&path) {
                use base64::Engine as _;
                files.insert(
                    name.clone(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
                );
            }
        }
        out["files"] = Value::Object(files);
        Ok(out)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    ran
}

/// A new folder `uploads/PREFIX-XXXXXXXX` of the server's workspace, for one forwarded
/// command's files.
fn scratch_dir(jobs: &Jobs, prefix: &str) -> Result<PathBuf, CliError> {
    let dir = jobs
        .ws
        .root()
        .join("uploads")
        .join(format!("{prefix}-{:08x}", fastrand::u32(..)));
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::Workspace(format!("cannot create {}: {e}", dir.display())))?;
    Ok(dir)
}

/// The files a command writes, as [`downloads`] finds them: (option, plain file name).
type Written = Vec<(String, String)>;

/// Takes the `--file @download:NAME` options out of `args` (the option and the file's name,
/// a plain file name); the others as they are.
fn downloads(args: &[String]) -> Result<(Vec<String>, Written), CliError> {
    // Only `model export` writes a file a client asks for.
    if command_of(args) != Some(("model", "export")) {
        return Ok((args.to_vec(), Vec::new()));
    }
    let mut kept = Vec::with_capacity(args.len());
    let mut wanted = Vec::new();
    let mut words = args.iter().peekable();
    while let Some(a) = words.next() {
        let name = if a == "--file" {
            words
                .peek()
                .and_then(|v| v.strip_prefix(DOWNLOAD_PREFIX))
                .map(str::to_owned)
        } else {
            None
        };
        let Some(name) = name else {
            kept.push(a.clone());
            continue;
        };
        words.next();
        let plain = !name.is_empty() && !name.contains(['/', '\\']) && name != "." && name != "..";
        if !plain {
            return Err(CliError::usage(
                format!("`{DOWNLOAD_PREFIX}{name}` is not a plain file name"),
                "send the command with `sluice --url URL ...`",
            ));
        }
        wanted.push((a.clone(), name));
    }
    Ok((kept, wanted))
}

/// A forwarded command with the local files it reads: the tar body is unpacked into a folder
/// of the server's workspace (kept when the command succeeds, since what it registered may
/// refer to it), the arguments' `@upload:N/...` become paths in it, and in the command's
/// output those paths become the client's own again (`roots`: N → the client's folder).
fn with_files(
    jobs: &Jobs,
    headers: &HeaderMap,
    q: &[(String, String)],
    body: &[u8],
) -> Result<Value, CliError> {
    let parse = |key: &str| -> Result<Value, CliError> {
        serde_json::from_str(param(q, key).unwrap_or("null")).map_err(|e| {
            CliError::usage(
                format!("`{key}=` is not JSON: {e}"),
                "send the command with `sluice --url URL ...`",
            )
        })
    };
    let given: Vec<String> = serde_json::from_value(parse("args")?).unwrap_or_default();
    let roots: std::collections::BTreeMap<String, String> =
        serde_json::from_value(parse("roots")?).unwrap_or_default();
    check_command(&given)?;
    let dir = scratch_dir(jobs, "cli")?;
    let ran = (|| {
        let mut archive = tar::Archive::new(body);
        archive.set_preserve_permissions(true);
        // `unpack` refuses entries that would land outside the folder (`..`, absolute paths).
        archive.unpack(&dir).map_err(|e| {
            CliError::usage(
                format!("the uploaded files are not a readable tar archive: {e}"),
                "send the command with `sluice --url URL ...`",
            )
        })?;
        let mut args = Vec::with_capacity(given.len());
        let mut value_of: Option<&str> = None;
        for a in &given {
            if let Some(option) = value_of.take() {
                if let Some(rel) = a.strip_prefix(UPLOAD_PREFIX) {
                    args.push(inside(&dir, rel)?.display().to_string());
                    continue;
                }
                // A file `model export` writes: see `run_collecting`.
                if option == "--file"
                    && a.starts_with(DOWNLOAD_PREFIX)
                    && command_of(&given) == Some(("model", "export"))
                {
                    args.push(a.clone());
                    continue;
                }
                if matches!(option, "-p" | "--path")
                    && (a.contains("://") || a.starts_with("azureml:"))
                {
                    args.push(a.clone());
                    continue;
                }
                return Err(refused_error(option));
            }
            if FILE_OPTIONS.contains(&a.as_str()) {
                value_of = Some(a.as_str());
            } else if refused(a) {
                return Err(refused_error(a));
            }
            args.push(a.clone());
        }
        let mut out = run_collecting(jobs, headers, &args, Some((&dir, &roots)))?;
        // Kept while what the command registered may refer to it: not after a failure, nor
        // after `model export`, which registers nothing.
        if out["exit_code"] != 0 || command_of(&given) == Some(("model", "export")) {
            let _ = std::fs::remove_dir_all(&dir);
        }
        out["uploaded_to"] = Value::String(dir.display().to_string());
        Ok(out)
    })();
    if ran.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    ran
}

/// Fails unless `args` is one of [`REMOTE_COMMANDS`].
fn check_command(args: &[String]) -> Result<(), CliError> {
    let Some((group, sub)) = command_of(args) else {
        return Err(CliError::usage(
            "no command to run",
            "send `{\"args\": [\"model\", \"list\"]}`",
        ));
    };
    if !REMOTE_COMMANDS.contains(&(group, sub)) {
        return Err(crate::remote::not_remote(&format!(
            "`sluice {group} {sub}`"
        )));
    }
    Ok(())
}

/// An option naming a file or place on the server, which a client may not give.
fn refused(arg: &str) -> bool {
    REFUSED_OPTIONS.iter().any(|o| {
        if o.starts_with("--") {
            arg == *o || arg.starts_with(&format!("{o}="))
        } else {
            // `-fFILE` and `-f=FILE` too.
            arg.starts_with(o)
        }
    })
}

fn refused_error(option: &str) -> CliError {
    CliError::usage(
        format!("`{option}` names a file or place on the server, which a client may not"),
        "give local files to `sluice --url URL ...`: it uploads them",
    )
}

/// Runs a checked command line on the server's workspace as the caller; with `uploads`, the
/// upload folder's paths in its output replaced by the client's folders.
fn run_forwarded(
    jobs: &Jobs,
    headers: &HeaderMap,
    args: &[String],
    uploads: Option<(&Path, &std::collections::BTreeMap<String, String>)>,
) -> Result<Value, CliError> {
    let mut cmd = sluice_for(Some(headers))?;
    cmd.args(args).current_dir(jobs.ws.root());
    on_workspace(jobs, &mut cmd);
    let out = cmd
        .output()
        .map_err(|e| CliError::Workspace(format!("cannot run the command: {e}")))?;
    let mut stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if let Some((dir, roots)) = uploads {
        // Longest first, so `1` does not eat the start of `10`.
        let mut roots: Vec<_> = roots.iter().collect();
        roots.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
        for (n, local) in roots {
            let theirs = dir.join(n).display().to_string();
            stdout = stdout.replace(&theirs, local);
            stderr = stderr.replace(&theirs, local);
        }
    }
    Ok(json!({
        "exit_code": out.status.code().unwrap_or(10),
        "stdout": stdout,
        "stderr": stderr,
    }))
}

/// Up to 1 MiB of a step's log from byte `offset`; `X-Sluice-Log-Size` says how long it is.
fn log_from(jobs: &Jobs, name: &str, step: &str, q: &[(String, String)]) -> Response {
    let offset: u64 = param(q, "offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let found = (|| -> Result<Option<PathBuf>, CliError> {
        let steps = jobs.ws.store().list_steps(name)?;
        let row = steps
            .into_iter()
            .find(|s| s.name == step)
            .ok_or_else(|| CliError::NotFound {
                message: format!("job `{name}` has no step `{step}`"),
                hint: Some(format!("see its steps with `sluice job show -n {name}`")),
            })?;
        Ok(row.log_path.map(PathBuf::from))
    })();
    let path = match found {
        Ok(Some(p)) => p,
        Ok(None) => return (StatusCode::OK, Vec::new()).into_response(),
        Err(e) => return error_response(&e),
    };
    let mut buf = Vec::new();
    let size = match std::fs::File::open(&path) {
        Ok(mut f) => {
            let size = f.metadata().map_or(0, |m| m.len());
            if f.seek(SeekFrom::Start(offset)).is_ok() {
                let _ = f.take(1 << 20).read_to_end(&mut buf);
            }
            size
        }
        Err(_) => 0,
    };
    (
        StatusCode::OK,
        [("x-sluice-log-size", size.to_string())],
        buf,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::{Role, SUBMITTED, submitter_of};

    /// Every team-server route (jobs, logs, events, forwarded commands), with authentication
    /// on: no token is 401, a role below the route's 403, and the route's role or above passes
    /// the check (the answer is then the handler's: a job that does not exist, a bad body).
    #[tokio::test]
    async fn every_team_server_route_is_held_to_its_role() {
        use axum::body::Body;
        use axum::http::{Method, Request, StatusCode};
        use sluice_store::governance::Actor;
        use tower::ServiceExt as _;

        let dir = tempfile::tempdir().unwrap();
        let ws = sluice_engine::Workspace::open(&dir.path().join(".sluice")).unwrap();
        let admin = Actor::new("admin", Role::Owner);
        let mut tokens = Vec::new();
        for (name, role) in [
            ("rita", Role::Reader),
            ("cody", Role::Contributor),
            ("olga", Role::Owner),
        ] {
            let t = ws
                .store()
                .governed(&admin)
                .create_token(name, role, None)
                .unwrap();
            tokens.push((role, t.token));
        }
        let state = std::sync::Arc::new(
            sluice_server::ServerState::new(ws.store_pool(2).unwrap(), ws.artifacts().unwrap())
                .with_auth(true),
        );
        let (_stop, stopping) = tokio::sync::watch::channel(false);
        let jobs = std::sync::Arc::new(super::Jobs {
            ws: ws.clone(),
            store: None,
            stopping,
        });
        let rules: Vec<(Method, &str, Option<Role>)> = super::routes(std::sync::Arc::clone(&jobs))
            .into_iter()
            .map(|r| (r.method, r.path, r.role))
            .collect();
        // The roles this test states: changing a route's role must change this table too.
        let stated = [
            (Method::POST, "/api/sluice/v1/jobs", Role::Contributor),
            (Method::GET, "/api/sluice/v1/jobs", Role::Reader),
            (Method::GET, "/api/sluice/v1/jobs/{name}", Role::Reader),
            (
                Method::GET,
                "/api/sluice/v1/jobs/{name}/events",
                Role::Reader,
            ),
            (
                Method::POST,
                "/api/sluice/v1/jobs/{name}/cancel",
                Role::Contributor,
            ),
            (
                Method::POST,
                "/api/sluice/v1/jobs/{name}/resume",
                Role::Contributor,
            ),
            (
                Method::GET,
                "/api/sluice/v1/jobs/{name}/steps/{step}/log",
                Role::Reader,
            ),
            // Forwarded commands check their own roles, as locally (tested in tests/cli/remote.rs).
            (Method::POST, "/api/sluice/v1/cli", Role::Reader),
            (Method::POST, "/api/sluice/v1/cli/files", Role::Reader),
        ];
        let mut got: Vec<String> = rules
            .iter()
            .map(|(m, p, r)| format!("{m} {p} {r:?}"))
            .collect();
        let mut want: Vec<String> = stated
            .iter()
            .map(|(m, p, r)| format!("{m} {p} {:?}", Some(*r)))
            .collect();
        got.sort();
        want.sort();
        assert_eq!(got, want, "the team server's routes and their roles");
        let app = sluice_server::router_with(state, super::routes(jobs));
        for (method, path, role) in rules {
            let needed = role.expect("every team-server route needs a role");
            let path = path
                .replace("{name}", "no-such-job")
                .replace("{step}", "no-such-step");
            let send = |token: Option<&str>| {
                let mut req = Request::builder()
                    .method(method.clone())
                    .uri(&path)
                    .header("content-type", "application/json");
                if let Some(t) = token {
                    req = req.header("authorization", format!("Bearer {t}"));
                }
                app.clone().oneshot(req.body(Body::from("{}")).unwrap())
            };
            let status = send(None).await.unwrap().status();
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} without a token"
            );
            for (role, token) in &tokens {
                let status = send(Some(token)).await.unwrap().status();
                if *role < needed {
                    assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path} as {role}");
                } else {
                    assert!(
                        !matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
                        "{method} {path} as {role}: {status}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_submission_is_read_only_from_the_folder_the_server_made_for_that_job() {
        let dir = tempfile::tempdir().unwrap();
        let uploads = dir.path().join("uploads");
        let record = |folder: &str, job: &str| {
            let f = uploads.join(folder);
            std::fs::create_dir_all(f.join("project")).unwrap();
            std::fs::write(
                f.join(SUBMITTED),
                format!(r#"{{"job": "{job}", "identity": "carol", "role": "contributor"}}"#),
            )
            .unwrap();
            f.join("project")
        };
        let mine = record("j1-0a1b2c3d", "j1");
        assert_eq!(
            submitter_of(&uploads, &mine, "j1"),
            Some(("carol".to_owned(), Role::Contributor))
        );
        assert_eq!(
            submitter_of(&uploads, &mine.join("sub"), "j1")
                .map(|s| s.0)
                .as_deref(),
            Some("carol")
        );
        // Another job's folder, a forwarded command's upload, a name not the server's: no.
        assert_eq!(submitter_of(&uploads, &mine, "j2"), None);
        let other = record("cli-0a1b2c3d", "j3");
        assert_eq!(submitter_of(&uploads, &other, "j3"), None);
        let odd = record("j4-xyz", "j4");
        assert_eq!(submitter_of(&uploads, &odd, "j4"), None);
        // Outside the uploads: no.
        assert_eq!(submitter_of(&uploads, dir.path(), "j1"), None);
    }
}
