//! `sluice server`: the MLflow-compatible tracking and registry server over the workspace.
//! Stops on SIGINT or SIGTERM after the requests in flight are answered; every write that was
//! answered is already committed to the database.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use crate::cli::{AUTO_RESUME, ServerArgs, UiArgs};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::{ui, workspace};

/// `sluice ui`: a server on loopback for this workspace, its page's address on stdout.
pub(crate) fn ui(ctx: &Ctx<'_>, args: &UiArgs) -> Result<(), CliError> {
    let server = ServerArgs {
        host: "127.0.0.1".to_owned(),
        port: args.port,
        auth: args.auth,
        insecure_no_auth: false,
        mlflow_ui: "auto".to_owned(),
        static_prefix: None,
        pool_size: 8,
        artifacts_destination: None,
        tls_cert: None,
        tls_key: None,
        auto_resume: AUTO_RESUME,
        // MLflow's variables, as `sluice server` reads them.
        allowed_hosts: std::env::var("MLFLOW_SERVER_ALLOWED_HOSTS").ok(),
        cors_allowed_origins: std::env::var("MLFLOW_SERVER_CORS_ALLOWED_ORIGINS").ok(),
        x_frame_options: std::env::var("MLFLOW_SERVER_X_FRAME_OPTIONS").ok(),
        disable_security_middleware: std::env::var("MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE")
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true")),
    };
    serve(ctx, &server, Some(args.open))
}

pub(crate) fn run(ctx: &Ctx<'_>, args: &ServerArgs) -> Result<(), CliError> {
    serve(ctx, args, None)
}

/// Opens `url` in the desktop's browser, if there is one to ask.
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let started = std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if started.is_err() {
        ui::warn(&format!("cannot run `{opener}`: open {url} yourself"));
    }
}

/// Caps glibc's malloc arenas at 2 (unless `MALLOC_ARENA_MAX` sets them): by default each
/// thread that allocates while others do gets an arena of its own, up to 8 per core, and the
/// server's request threads leave each one holding freed memory. Measured under the tracking
/// load harness: one run after populating, peak RSS 67-75 MB → 55.6 MB (4 arenas: 73 MB); the
/// benchmark's populate and two runs, 86.0 → 67.8 MB; log-batch throughput unchanged (medians
/// 1,850.6 and 1,854.5 batches/s, alternating fresh servers).
#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: `mallopt` only sets a parameter of the allocator for arenas made from now
        // on; `M_ARENA_MAX` is one glibc knows and takes any positive value.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// Serves the workspace; `page` (from `sluice ui`: whether to open a browser) prints the web
/// UI's address on stdout.
fn serve(ctx: &Ctx<'_>, args: &ServerArgs, page: Option<bool>) -> Result<(), CliError> {
    limit_malloc_arenas();
    let ip: IpAddr = args.host.parse().map_err(|_| {
        CliError::usage(
            format!("`--host {}` is not an IP address", args.host),
            "use e.g. `--host 127.0.0.1`",
        )
    })?;
    let auth = args.auth || (!ip.is_loopback() && !args.insecure_no_auth);
    let ws = workspace::open(&workspace::locate(
        ctx.global.workspace.as_deref(),
        ctx.global.store.as_deref(),
    )?)?;
    if auth {
        let tokens = ws.store().list_tokens(false)?;
        if tokens.is_empty() && !ip.is_loopback() {
            return Err(CliError::usage(
                format!(
                    "`--host {ip}` is not a loopback address, so authentication is on, but the workspace has no tokens"
                ),
                "create one first with `sluice token create --name NAME --role owner`, or pass `--insecure-no-auth` to serve without authentication",
            ));
        }
        if tokens.is_empty() {
            ui::warn(
                "authentication is on but the workspace has no tokens: every request will be refused; \
                 create one with `sluice token create --name NAME --role owner`",
            );
        }
    } else if args.insecure_no_auth {
        ui::warn(&format!(
            "serving {ip} without authentication (`--insecure-no-auth`): anyone who can reach it acts as the owner `{}`",
            sluice_store::governance::local_user()
        ));
    }
    let prefix = match args.static_prefix.as_deref().map(str::trim) {
        None | Some("" | "/") => None,
        Some(p) if p.starts_with('/') && !p.contains(['?', '#', '{', '}', '*']) => {
            Some(p.trim_end_matches('/').to_owned())
        }
        Some(p) => {
            return Err(CliError::usage(
                format!("`--static-prefix {p}` is not a path"),
                "give a path that starts with `/`, e.g. `--static-prefix /mlflow`",
            ));
        }
    };
    let mlflow_ui = mlflow_ui(&args.mlflow_ui)?;
    let artifacts = match args.artifacts_destination.as_deref() {
        Some(uri) => sluice_artifacts::store::Artifacts::open(uri).map_err(|e| {
            CliError::usage(
                format!("`--artifacts-destination`: {e}"),
                "give a folder, s3://BUCKET/PREFIX or wasbs://CONTAINER@ACCOUNT.blob.core.windows.net/PREFIX",
            )
        })?,
        None => ws.artifacts()?,
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(sluice_server::tls::acceptor(cert, key).map_err(|e| {
            CliError::usage(
                format!("`--tls-cert`/`--tls-key`: {e}"),
                "give a PEM certificate chain and its private key, e.g. from `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out cert.pem -subj /CN=HOST -addext subjectAltName=DNS:HOST`",
            )
        })?),
        _ => None,
    };
    let security = if args.disable_security_middleware {
        ui::warn(
            "the security middleware is off (`--disable-security-middleware`): no host or origin checks",
        );
        sluice_server::security::Security::disabled()
    } else {
        sluice_server::security::Security::new(
            args.allowed_hosts.as_deref(),
            args.cors_allowed_origins.as_deref(),
            args.x_frame_options.as_deref(),
        )
        .map_err(|e| {
            CliError::usage(
                format!("`--x-frame-options`: {e}"),
                "use `--x-frame-options SAMEORIGIN` (the default), `DENY` or `NONE`",
            )
        })?
        .listening_on(ip)
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let state = Arc::new(
        sluice_server::ServerState::new(ws.store_pool(args.pool_size)?, artifacts)
            .with_auth(auth)
            .with_mlflow_ui(mlflow_ui.clone())
            .with_secure_cookies(tls.is_some())
            .with_security(security)
            .with_static_prefix(prefix.clone()),
    );
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let jobs = Arc::new(super::server_jobs::Jobs {
        ws: ws.clone(),
        store: ctx.global.store.clone(),
        stopping,
    });
    let shutdown = async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Workspace(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        let (listener, addr) = sluice_server::bind(SocketAddr::new(ip, args.port))
            .await
            .map_err(|e| {
                CliError::Workspace(format!("cannot listen on {ip}:{}: {e}", args.port))
            })?;
        ui::note(&format!(
            "Listening on {scheme}://{addr} (workspace {}, artifacts in {})",
            ws.root().display(),
            state.artifacts_location()
        ));
        let base = format!("{scheme}://{addr}{}", prefix.as_deref().unwrap_or(""));
        ui::note(&format!(
            "Point clients at it with: export MLFLOW_TRACKING_URI={base}"
        ));
        ui::note(&format!("Sluice's web UI: {base}/"));
        if let Some(open) = page {
            // The address on stdout, for scripts (`URL=$(sluice ui &)` ...); notes go to stderr.
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{base}/").and_then(|()| out.flush());
            if open {
                open_browser(&format!("{base}/"));
            }
        }
        match &mlflow_ui {
            Some(dir) => ui::note(&format!(
                "MLflow's web UI: {base}/mlflow/ (from {})",
                dir.display()
            )),
            // Looked for while the server answers already (asking Python takes ~0.1 s).
            None if args.mlflow_ui == "auto" => {
                let (state, base) = (Arc::clone(&state), base.clone());
                std::thread::spawn(move || match discover_mlflow_ui() {
                    Some(dir) => {
                        state.set_mlflow_ui(dir.clone());
                        ui::note(&format!(
                            "MLflow's web UI: {base}/mlflow/ (from {})",
                            dir.display()
                        ));
                    }
                    None => ui::note(
                        "MLflow's web UI is not served: no `mlflow` found in the active virtual environment or the `python3` on PATH (pass `--mlflow-ui DIR`)",
                    ),
                });
            }
            None => {}
        }
        if auth {
            ui::note("Authentication is on: clients send a token (MLFLOW_TRACKING_TOKEN).");
        }
        ui::note(&format!("Prometheus metrics: {base}/metrics"));
        ui::note(&format!(
            "Runs jobs for clients: sluice --url {base} job create -f pipeline.yml"
        ));
        super::server_jobs::watch(Arc::clone(&jobs), args.auto_resume);
        let app = sluice_server::router_with(state, super::server_jobs::routes(jobs));
        let served = match tls {
            Some(acceptor) => {
                sluice_server::tls::serve_tls(listener, app, acceptor, shutdown).await
            }
            None => sluice_server::serve_router(listener, app, shutdown).await,
        };
        served.map_err(|e| CliError::Workspace(format!("the server stopped: {e}")))?;
        ui::note("Stopped.");
        Ok(())
    })
}

/// The MLflow UI bundle `--mlflow-ui` names: a folder, or none for `off` and for `auto` (found
/// once the server listens: see `serve`).
fn mlflow_ui(choice: &str) -> Result<Option<PathBuf>, CliError> {
    match choice {
        // `auto`: found once the server listens (see `serve`).
        "off" | "auto" => Ok(None),
        dir => {
            let dir = PathBuf::from(dir);
            let dir = if dir.join("server/js/build").is_dir() {
                dir.join("server/js/build")
            } else {
                dir
            };
            if sluice_server::mlflow_ui::is_bundle(&dir) {
                Ok(Some(dir))
            } else {
                Err(CliError::usage(
                    format!(
                        "`--mlflow-ui {}` is not MLflow's web UI: it has no `index.html` and `static/js`",
                        dir.display()
                    ),
                    "give the `mlflow/server/js/build` folder of an `mlflow` install (`python -c 'import mlflow, os; print(os.path.dirname(mlflow.__file__))'` prints where `mlflow` is), or `off`",
                ))
            }
        }
    }
}

/// The UI bundle of the `mlflow` package the active virtual environment's Python, or `python3`
/// on PATH, imports. Finds the package without importing it (fast: no `import mlflow`).
fn discover_mlflow_ui() -> Option<PathBuf> {
    let mut pythons: Vec<PathBuf> = Vec::new();
    if let Some(venv) = std::env::var_os("VIRTUAL_ENV") {
        pythons.push(PathBuf::from(venv).join("bin").join("python"));
    }
    pythons.push(PathBuf::from("python3"));
    let script = "import importlib.util as u\ns = u.find_spec('mlflow')\nprint(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')";
    pythons.into_iter().find_map(|python| {
        let out = std::process::Command::new(&python)
            .args(["-I", "-c", script])
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        let found = String::from_utf8(out.stdout).ok()?;
        let dir = PathBuf::from(found.trim()).join("server/js/build");
        (out.status.success() && sluice_server::mlflow_ui::is_bundle(&dir)).then_some(dir)
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
