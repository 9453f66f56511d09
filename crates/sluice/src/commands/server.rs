//! `sluice server`: the MLflow-compatible tracking and registry server over the workspace.
//! Stops on SIGINT or SIGTERM after the requests in flight are answered; every write that was
//! answered is already committed to the database.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use crate::cli::ServerArgs;
use crate::commands::Ctx;
use crate::error::CliError;
use crate::{ui, workspace};

pub(crate) fn run(ctx: &Ctx<'_>, args: &ServerArgs) -> Result<(), CliError> {
    let ip: IpAddr = args.host.parse().map_err(|_| {
        CliError::usage(
            format!("`--host {}` is not an IP address", args.host),
            "use e.g. `--host 127.0.0.1`",
        )
    })?;
    let auth = args.auth || (!ip.is_loopback() && !args.insecure_no_auth);
    let ws = workspace::open(&workspace::locate(ctx.global.workspace.as_deref())?)?;
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
    let state = Arc::new(
        sluice_server::ServerState::new(ws.store_handle(), ws.artifact_root()).with_auth(auth),
    );
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
            "Listening on http://{addr} (workspace {})",
            ws.root().display()
        ));
        ui::note(&format!(
            "Point clients at it with: export MLFLOW_TRACKING_URI=http://{addr}"
        ));
        if auth {
            ui::note("Authentication is on: clients send a token (MLFLOW_TRACKING_TOKEN).");
        }
        sluice_server::serve(listener, state, shutdown_signal())
            .await
            .map_err(|e| CliError::Workspace(format!("the server stopped: {e}")))?;
        ui::note("Stopped.");
        Ok(())
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
