//! The CLI as a client of a team server: `sluice --url https://host job ...` (or `SLUICE_URL`)
//! sends the command to a `sluice server` that owns the workspace, with `--token` /
//! `SLUICE_TOKEN` as its credentials, and prints what the local command would print, exiting
//! with the same code.
//!
//! Remote today: `job create` (the folder of the job file is uploaded, with its `.amlignore` or
//! `.gitignore` applied, and the code, component, conda and data paths the job reads beside it;
//! the job runs on the server and keeps running if the client goes away),
//! `job show`, `job list`, `job stream`, `job cancel`, `job resume`; and, forwarded, the commands
//! that read, create or govern what is stored (`server_jobs::REMOTE_COMMANDS`), the local
//! files they name uploaded with them. Other commands say they
//! are not remote yet. HTTPS servers are checked against the public roots, or against the certificates in
//! `SLUICE_CA_BUNDLE` (else `SSL_CERT_FILE`, else `REQUESTS_CA_BUNDLE`) for a private CA.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::cli::{JobCommand, JobCreateArgs};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::exit::Exit;
use crate::ui;

/// The team server a command talks to.
pub(crate) struct Remote {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Remote {
    pub(crate) fn new(url: &str, token: Option<&str>) -> Result<Self, CliError> {
        let base = url.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(CliError::usage(
                format!("`--url {url}` is not an http:// or https:// address"),
                "give the team server's address, e.g. `--url https://sluice.example.org`",
            ));
        }
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(15)));
        if let Some(roots) = private_roots()? {
            config = config.tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
                    .build(),
            );
        }
        Ok(Self {
            base,
            token: token.map(str::to_owned),
            agent: config.build().into(),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/sluice/v1{path}", self.base)
    }

    fn authorized<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) => req.header("Authorization", &format!("Bearer {t}")),
            None => req,
        }
    }

    fn unreachable(&self, e: &ureq::Error) -> CliError {
        CliError::Workspace(format!(
            "cannot reach the team server at {}: {e}",
            self.base
        ))
    }

    /// The body of a 2xx answer, else the server's error as the local command's error.
    fn answer(&self, resp: ureq::http::Response<ureq::Body>) -> Result<Vec<u8>, CliError> {
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        resp.into_body()
            .into_reader()
            .read_to_end(&mut body)
            .map_err(|e| {
                CliError::Workspace(format!("reading the answer of {}: {e}", self.base))
            })?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let err: Value = serde_json::from_slice(&body).unwrap_or_default();
        let message = err["message"].as_str().map_or_else(
            || String::from_utf8_lossy(&body).into_owned(),
            str::to_owned,
        );
        let exit = match err["exit_code"].as_i64() {
            Some(code) => Exit::from_code(i32::try_from(code).unwrap_or(10)),
            None => match status {
                401 | 403 => Exit::PermissionDenied,
                404 => Exit::NotFound,
                400 => Exit::Usage,
                _ => Exit::Workspace,
            },
        };
        if status == 401 {
            return Err(CliError::Denied {
                message: format!("the team server refused the credentials: {message}"),
                hint: Some("pass a valid token with `--token` or `SLUICE_TOKEN`".into()),
            });
        }
        Err(CliError::Remote { message, exit })
    }

    fn get(&self, path: &str) -> Result<Vec<u8>, CliError> {
        let resp = self
            .authorized(self.agent.get(self.url(path)))
            .call()
            .map_err(|e| self.unreachable(&e))?;
        self.answer(resp)
    }

    fn get_json(&self, path: &str) -> Result<Value, CliError> {
        let body = self.get(path)?;
        serde_json::from_slice(&body)
            .map_err(|e| CliError::Workspace(format!("the team server sent no JSON: {e}")))
    }

    fn post(&self, path: &str, body: &[u8], content_type: &str) -> Result<Value, CliError> {
        let resp = self
            .authorized(self.agent.post(self.url(path)))
            .header("Content-Type", content_type)
            .send(body)
            .map_err(|e| self.unreachable(&e))?;
        let body = self.answer(resp)?;
        serde_json::from_slice(&body)
            .map_err(|e| CliError::Workspace(format!("the team server sent no JSON: {e}")))
    }
}

/// Certificates to trust instead of the public roots, from the first of `SLUICE_CA_BUNDLE`,
/// `SSL_CERT_FILE`, `REQUESTS_CA_BUNDLE` that is set.
fn private_roots() -> Result<Option<Vec<ureq::tls::Certificate<'static>>>, CliError> {
    let Some((var, path)) = ["SLUICE_CA_BUNDLE", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"]
        .into_iter()
        .find_map(|v| {
            std::env::var_os(v)
                .filter(|p| !p.is_empty())
                .map(|p| (v, p))
        })
    else {
        return Ok(None);
    };
    let pem = std::fs::read(&path).map_err(|e| {
        CliError::usage(
            format!("`{var}={}` cannot be read: {e}", Path::new(&path).display()),
            "point it at a PEM file of CA certificates, or unset it",
        )
    })?;
    let certs: Vec<_> = ureq::tls::parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(ureq::tls::PemItem::Certificate(c)) => Some(c.to_owned()),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(CliError::usage(
            format!(
                "`{var}={}` holds no certificate",
                Path::new(&path).display()
            ),
            "point it at a PEM file of CA certificates, or unset it",
        ));
    }
    Ok(Some(certs))
}

/// Percent-encodes a query value or path segment.
fn enc(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A job command against the team server.
pub(crate) fn job(ctx: &Ctx<'_>, remote: &Remote, cmd: &JobCommand) -> Result<(), CliError> {
    match cmd {
        JobCommand::Create(args) => create(ctx, remote, args),
        JobCommand::Show(args) => {
            let job = remote.get_json(&format!("/jobs/{}", enc(&args.name)))?;
            ctx.printer.print(&job, crate::commands::job::JOB_COLUMNS)
        }
        JobCommand::List(args) => {
            let jobs = remote.get_json(&format!("/jobs?max_results={}", args.max_results))?;
            crate::commands::job::list::print(ctx, &jobs)
        }
        JobCommand::Stream(args) => stream(remote, &args.name),
        JobCommand::Cancel(args) => {
            let job = remote.post(
                &format!("/jobs/{}/cancel", enc(&args.name)),
                &[],
                "application/json",
            )?;
            crate::commands::job::cancel::print(ctx, &job)
        }
        JobCommand::Resume(args) => {
            let mut path = format!("/jobs/{}/resume", enc(&args.name));
            if let Some(n) = args.max_parallel {
                let _ = write!(path, "?max_parallel={n}");
            }
            remote.post(&path, &[], "application/json")?;
            ui::note(&format!("Resumed job {} on {}", args.name, remote.base));
            finish(ctx, remote, &args.name, args.stream)
        }
        JobCommand::Validate(_) | JobCommand::Explain(_) => Err(not_remote("this job command")),
    }
}

/// A command the server runs on its workspace as the caller (see
/// `server_jobs::REMOTE_COMMANDS`): this process's own arguments, less `--url` and `--token`,
/// sent as they are; the server's stdout, stderr and exit code passed on unchanged. The local
/// files its `-f`/`--file`/`-p`/`--path` options name are uploaded with it (a file with its
/// folder, whose `.amlignore`/`.gitignore` applies, since a YAML file refers to files beside
/// it), and the server runs the command on the copies.
pub(crate) fn forward(remote: &Remote) -> Result<std::process::ExitCode, CliError> {
    let mut args = Vec::new();
    let mut skip = false;
    for a in std::env::args().skip(1) {
        if skip {
            skip = false;
            continue;
        }
        if a == "--url" || a == "--token" {
            skip = true;
            continue;
        }
        if a.starts_with("--url=") || a.starts_with("--token=") {
            continue;
        }
        args.push(a);
    }
    // A file the command writes (`model export --file F`): written on the server, sent back.
    let written = take_written(&mut args);
    let uploads = Uploads::of(&mut args)?;
    let answer = if uploads.roots.is_empty() {
        let body = serde_json::to_vec(&serde_json::json!({ "args": args }))
            .map_err(|e| CliError::Workspace(e.to_string()))?;
        remote.post("/cli", &body, "application/json")?
    } else {
        let tar = uploads
            .tar
            .into_inner()
            .map_err(|e| CliError::Workspace(format!("cannot pack the files: {e}")))?;
        ui::note(&format!(
            "Uploading {} KB to {} ...",
            tar.len().div_ceil(1024),
            remote.base
        ));
        let args = serde_json::to_string(&args).unwrap_or_default();
        let roots = serde_json::to_string(&uploads.roots).unwrap_or_default();
        remote.post(
            &format!("/cli/files?args={}&roots={}", enc(&args), enc(&roots)),
            &tar,
            "application/x-tar",
        )?
    };
    let mut stdout = answer["stdout"].as_str().unwrap_or_default().to_owned();
    let mut stderr = answer["stderr"].as_str().unwrap_or_default().to_owned();
    let code = answer["exit_code"].as_i64().unwrap_or(10);
    if let Some((name, local)) = &written {
        let placeholder = format!("{}{name}", crate::commands::server_jobs::DOWNLOAD_PREFIX);
        let shown = local.display().to_string();
        stdout = stdout.replace(&placeholder, &shown);
        stderr = stderr.replace(&placeholder, &shown);
        if code == 0 {
            use base64::Engine as _;
            let bytes = answer["files"][name.as_str()]
                .as_str()
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                .ok_or_else(|| {
                    CliError::Workspace(format!(
                        "the server sent `{name}` back unreadable, or not at all"
                    ))
                })?;
            std::fs::write(local, bytes).map_err(|e| {
                CliError::Workspace(format!("cannot write {}: {e}", local.display()))
            })?;
        }
    }
    {
        use std::io::Write;
        let _ = std::io::stdout().lock().write_all(stdout.as_bytes());
        let _ = std::io::stderr().lock().write_all(stderr.as_bytes());
    }
    Ok(std::process::ExitCode::from(
        u8::try_from(code).unwrap_or(10),
    ))
}

/// The file `model export` writes (`--file F`, `--file=F`), if this is one: its value
/// becomes `@download:NAME` (the server writes it in a folder of its own and sends it back);
/// the file's name and the local path it goes to.
fn take_written(args: &mut Vec<String>) -> Option<(String, PathBuf)> {
    use crate::commands::server_jobs::{DOWNLOAD_PREFIX, command_of};
    if command_of(args) != Some(("model", "export")) {
        return None;
    }
    let at = args
        .iter()
        .position(|a| a == "--file" || a.starts_with("--file="))?;
    let split = args[at]
        .split_once('=')
        .map(|(option, value)| (option.to_owned(), value.to_owned()));
    let local = match split {
        Some((option, value)) => {
            args[at] = option;
            args.insert(at + 1, String::new());
            value
        }
        None => args.get(at + 1)?.clone(),
    };
    let local = PathBuf::from(local);
    let name = local.file_name().map_or_else(
        || "model.onnx".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    args[at + 1] = format!("{DOWNLOAD_PREFIX}{name}");
    Some((name, local))
}

/// The local files a forwarded command names, packed for the server.
struct Uploads {
    tar: tar::Builder<Vec<u8>>,
    /// Upload number → the local folder its files came from (to name them in the output).
    roots: std::collections::BTreeMap<String, String>,
}

impl Uploads {
    /// Packs the files `args` name and rewrites those arguments to `@upload:N/...`, each
    /// option and its value as two words.
    fn of(args: &mut Vec<String>) -> Result<Self, CliError> {
        use crate::commands::server_jobs::{FILE_OPTIONS, UPLOAD_PREFIX};
        let mut up = Self {
            tar: tar::Builder::new(Vec::new()),
            roots: std::collections::BTreeMap::new(),
        };
        up.tar.follow_symlinks(true);
        let mut out = Vec::with_capacity(args.len());
        let mut words = std::mem::take(args).into_iter();
        while let Some(a) = words.next() {
            // `--file X`, `--file=X`, `-f X`, `-fX`, `-f=X`.
            let split = FILE_OPTIONS.iter().find_map(|o| {
                if a == *o {
                    Some((*o, None))
                } else if let Some(v) = a.strip_prefix(&format!("{o}=")) {
                    Some((*o, Some(v.to_owned())))
                } else if !o.starts_with("--") && a.len() > 2 && a.starts_with(o) {
                    Some((*o, Some(a[2..].to_owned())))
                } else {
                    None
                }
            });
            let Some((option, value)) = split else {
                out.push(a);
                continue;
            };
            let Some(value) = value.or_else(|| words.next()) else {
                out.push(a);
                continue;
            };
            out.push(option.to_owned());
            let remote_path = matches!(option, "-p" | "--path")
                && (value.contains("://") || value.starts_with("azureml:"));
            // A file the server writes and sends back (see `take_written`), not one to upload.
            let written = value.starts_with(crate::commands::server_jobs::DOWNLOAD_PREFIX);
            if remote_path || written {
                out.push(value);
                continue;
            }
            let n = up.roots.len().to_string();
            let named = up.add(&n, Path::new(&value), matches!(option, "-f" | "--file"))?;
            out.push(format!("{UPLOAD_PREFIX}{n}/{named}"));
        }
        *args = out;
        Ok(up)
    }

    /// Adds `path` as upload `n` (with its whole folder when `with_folder`); its name there.
    fn add(&mut self, n: &str, path: &Path, with_folder: bool) -> Result<String, CliError> {
        let full = std::fs::canonicalize(path).map_err(|e| {
            CliError::usage(
                format!("cannot read `{}`: {e}", path.display()),
                "check the path; relative paths resolve against the current directory",
            )
        })?;
        let parent = full.parent().unwrap_or(Path::new("/")).to_path_buf();
        let name = full
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (root, prefix) = if with_folder {
            (parent.clone(), n.to_owned())
        } else {
            (full.clone(), format!("{n}/{name}"))
        };
        let snapshot = sluice_artifacts::Snapshot::of_skipping(
            &root,
            &[root.join(".sluice")],
            crate::workspace::is_workspace,
        )
        .map_err(|e| CliError::Workspace(format!("cannot list {}: {e}", root.display())))?;
        for rel in snapshot.paths() {
            let (from, to) = if root.is_file() {
                (root.clone(), prefix.clone())
            } else {
                (root.join(rel), format!("{prefix}/{rel}"))
            };
            self.tar
                .append_path_with_name(&from, &to)
                .map_err(|e| CliError::Workspace(format!("cannot pack {}: {e}", from.display())))?;
        }
        // The named file itself, even where an ignore file leaves it out.
        if with_folder && !snapshot.paths().any(|p| p == name) {
            self.tar
                .append_path_with_name(&full, format!("{n}/{name}"))
                .map_err(|e| CliError::Workspace(format!("cannot pack {}: {e}", full.display())))?;
        }
        self.roots
            .insert(n.to_owned(), parent.display().to_string());
        Ok(name)
    }
}

/// The error for a command a team server does not run yet.
pub(crate) fn not_remote(what: &str) -> CliError {
    CliError::usage(
        format!("{what} does not work against a team server yet (`--url` / `SLUICE_URL`)"),
        "remote today: `job create|validate|show|list|stream|cancel|resume|explain`, `create|list|show` of data, environments, components, computes, datastores and models (their local files uploaded), `environment build`, `model alias|approve|promote|status|lineage|policy|export`, `token create|list|revoke`, `audit list|verify`; run others on the server's workspace, or unset SLUICE_URL",
    )
}

/// What `job create` uploads, as a tar stream, the job file's path in it, and the folder it
/// holds: the job file's folder (its ignore file applied) and every path the job reads beside
/// it ([`sluice_spec::local_paths`]: `code: ../../src`, `path: ../data/trips.csv`, component
/// and conda files; a code folder with its own ignore file), each where it is below the folder
/// that holds them all (taken as the job file resolves them, without following links), so the
/// job's relative paths mean on the server what they mean here. Workspaces are left out.
fn pack(file: &Path) -> Result<(Vec<u8>, String, PathBuf), CliError> {
    let unreadable = |p: &Path, e: &dyn std::fmt::Display| {
        CliError::usage(
            format!("cannot read `{}`: {e}", p.display()),
            "check the path; relative paths resolve against the current directory",
        )
    };
    let file = std::path::absolute(file)
        .map(|f| sluice_spec::normalize(&f))
        .map_err(|e| unreadable(file, &e))?;
    let job_dir = file.parent().unwrap_or(Path::new("/")).to_path_buf();
    let mut roots = vec![job_dir.clone()];
    let mut climbs = Vec::new();
    for found in sluice_spec::local_paths(&file)? {
        std::fs::metadata(&found.path).map_err(|e| {
            CliError::usage(
                format!(
                    "cannot read `{}`, which {} names: {e}",
                    found.path.display(),
                    found.named_in
                ),
                "a path in a YAML file resolves against that file's folder; fix the path there",
            )
        })?;
        if !roots.contains(&found.path) {
            roots.push(found.path);
        }
        climbs.push(found.climbs_to);
    }
    let mut top = job_dir.clone();
    for root in roots.iter().chain(&climbs) {
        while !root.starts_with(&top) {
            if !top.pop() {
                break;
            }
        }
    }
    if top.parent().is_none() {
        let apart = roots
            .iter()
            .chain(&climbs)
            .find(|r| r.components().nth(1) != job_dir.components().nth(1))
            .map_or_else(String::new, |r| r.display().to_string());
        return Err(CliError::usage(
            format!(
                "the job reads `{apart}`, which shares no folder but `/` with the job file's `{}`: a team server is sent one folder",
                job_dir.display(),
            ),
            "keep the job's code and local data inside one project folder, or register the data as an asset (`sluice data create`) and refer to it as `azureml:NAME:VERSION`",
        ));
    }
    let mut files: std::collections::BTreeMap<String, PathBuf> = std::collections::BTreeMap::new();
    for root in &roots {
        // A workspace inside the project (`.sluice/`, or where `infra apply` put one) is not
        // part of what the job reads.
        let snapshot = sluice_artifacts::Snapshot::of_skipping(
            root,
            &[root.join(".sluice"), top.join(".sluice")],
            crate::workspace::is_workspace,
        )
        .map_err(|e| CliError::Workspace(format!("cannot list {}: {e}", root.display())))?;
        for (_, path) in snapshot.files() {
            if let Ok(rel) = path.strip_prefix(&top) {
                files.insert(slash(rel), path.to_path_buf());
            }
        }
    }
    let bytes: u64 = files
        .values()
        .map(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    let limit = crate::commands::server_jobs::MAX_UPLOAD as u64;
    if bytes > limit {
        return Err(CliError::usage(
            format!(
                "the job's files under {} come to {} MB, more than a team server takes ({} MB)",
                top.display(),
                bytes.div_ceil(1 << 20),
                limit >> 20
            ),
            "register large data as an asset on the server (`sluice --url URL data create`, or a datastore path) and refer to it as `azureml:NAME:VERSION`; leave other large files out with an `.amlignore`",
        ));
    }
    let rel = slash(file.strip_prefix(&top).unwrap_or(Path::new("")));
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(true);
    for (name, path) in &files {
        builder
            .append_path_with_name(path, name)
            .map_err(|e| CliError::Workspace(format!("cannot pack {name}: {e}")))?;
    }
    let bytes = builder
        .into_inner()
        .map_err(|e| CliError::Workspace(format!("cannot pack {}: {e}", top.display())))?;
    Ok((bytes, rel, top))
}

/// A relative path with `/` between its parts, as tar and the server take it.
fn slash(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn create(ctx: &Ctx<'_>, remote: &Remote, args: &JobCreateArgs) -> Result<(), CliError> {
    // The file is checked here first, so a mistake is reported before anything is uploaded.
    let overrides = crate::commands::overrides(&args.set)?;
    let mut warnings = Vec::new();
    let checked = sluice_spec::load_job(&args.file, &overrides, None, &mut warnings);
    // A registered component (`component: azureml:NAME:VERSION`) is the server's to look up.
    if let Err(e) = checked
        && !e.message.contains("cannot be looked up here")
    {
        crate::commands::print_warnings(&warnings);
        return Err(e.into());
    }
    let (tar, rel, top) = pack(&args.file)?;
    let mut query = vec![format!("file={}", enc(&rel))];
    if let Some(dir) = std::env::current_dir()
        .ok()
        .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
    {
        query.push(format!("folder={}", enc(&dir)));
    }
    if let Some(name) = &args.name {
        query.push(format!("name={}", enc(name)));
    }
    for kv in &args.set.set {
        query.push(format!("set={}", enc(kv)));
    }
    if args.force_rerun {
        query.push("force_rerun=true".into());
    }
    if let Some(n) = args.max_parallel {
        query.push(format!("max_parallel={n}"));
    }
    ui::note(&format!(
        "Uploading {} KB of {} to {} ...",
        tar.len().div_ceil(1024),
        top.display(),
        remote.base
    ));
    let job = remote.post(
        &format!("/jobs?{}", query.join("&")),
        &tar,
        "application/x-tar",
    )?;
    let name = job["name"].as_str().unwrap_or_default().to_owned();
    ui::note(&format!(
        "Running job {name} on {} (it goes on if this command stops; follow it with `sluice job stream -n {name}`)",
        remote.base
    ));
    finish(ctx, remote, &name, args.stream)
}

/// Follows a job the server is running to its end (its logs too with `stream`), prints it as
/// the local command does and exits as it would.
fn finish(ctx: &Ctx<'_>, remote: &Remote, name: &str, stream: bool) -> Result<(), CliError> {
    let end = follow(remote, name, stream)?;
    if end.status != "Completed" {
        crate::commands::job::create::report_failures(&end.job);
    }
    if !stream {
        ui::status(&format!("job {name}"), &end.status, None);
    }
    ctx.printer
        .print(&end.job, crate::commands::job::JOB_COLUMNS)?;
    ended(name, &end.status)
}

/// The exit of a job that ended so.
fn ended(name: &str, status: &str) -> Result<(), CliError> {
    match sluice_engine::Status::parse(status) {
        Some(sluice_engine::Status::Completed) => Ok(()),
        Some(s) => Err(CliError::JobEnded {
            name: name.to_owned(),
            status: s,
        }),
        None => Err(CliError::Workspace(format!(
            "job `{name}` ended as `{status}`"
        ))),
    }
}

struct Ended {
    job: Value,
    status: String,
}

/// Polls the job to its end; with `show`, prints each step's new log lines and status changes
/// as `job stream` does.
fn follow(remote: &Remote, name: &str, show: bool) -> Result<Ended, CliError> {
    let mut logs = crate::commands::job::stream::StepLogs::default();
    let mut seen: HashMap<String, String> = HashMap::new();
    loop {
        let job = remote.get_json(&format!("/jobs/{}", enc(name)))?;
        let status = job["status"].as_str().unwrap_or_default().to_owned();
        let terminal =
            sluice_engine::Status::parse(&status).is_some_and(sluice_engine::Status::is_terminal);
        if show {
            let steps = job["jobs"].as_object().cloned().unwrap_or_default();
            for (step, info) in &steps {
                let step_status = info["status"].as_str().unwrap_or_default();
                if info["log_path"].is_string() {
                    let bytes = remote.get(&format!(
                        "/jobs/{}/steps/{}/log?offset={}",
                        enc(name),
                        enc(step),
                        logs.offset(step)
                    ))?;
                    logs.push(step, &bytes);
                }
                if seen.get(step).map(String::as_str) != Some(step_status) {
                    seen.insert(step.clone(), step_status.to_owned());
                    if step_status != "NotStarted" {
                        ui::status(&format!("step {step}"), step_status, info["error"].as_str());
                    }
                }
            }
        }
        if terminal {
            if show {
                logs.flush();
                ui::status(&format!("job {name}"), &status, job["error"].as_str());
            }
            return Ok(Ended { job, status });
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// `job stream -n NAME` against the team server.
fn stream(remote: &Remote, name: &str) -> Result<(), CliError> {
    let end = follow(remote, name, true)?;
    ended(name, &end.status)
}
