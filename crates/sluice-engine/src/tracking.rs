//! Experiment tracking for a running job: the MLflow-compatible server runs in-process on a
//! loopback port for the job's duration (or on the workspace's `tracking-host`, for steps on
//! other machines: then tokens are always required); the job gets a parent run and each step a child run
//! (`mlflow.parentRunId`), and each step process is told where to log through the variables the
//! `mlflow` client reads.
//!
//! The job acts as the identity that created it (the store's actor), with at most the
//! contributor role: a step can log and register, never approve or move a protected alias. When
//! that identity authenticated with a token, the server requires tokens too, and the steps get a
//! job-scoped one ([`TrackingInfo::token`]), revoked when the job ends.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use sluice_store::StoreError;
use sluice_store::governance::{Actor, Role};
use sluice_store::tracking::{KeyValue, now_ms};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::plan::Plan;
use crate::status::Status;
use crate::{EngineError, Workspace};

/// Where a job's steps log.
#[derive(Debug, Clone)]
pub struct TrackingInfo {
    pub uri: String,
    pub experiment_id: String,
    pub experiment_name: String,
    pub parent_run_id: String,
    /// The job-scoped token the steps must send (`MLFLOW_TRACKING_TOKEN`), when the server
    /// requires one.
    pub token: Option<String>,
}

pub(crate) struct JobTracking {
    pub(crate) info: Arc<TrackingInfo>,
    job: String,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: value.to_owned(),
    }
}

/// Where the job's tracking server listens, and the host steps are told (`None`: the address
/// itself). Without a `tracking-host`, 127.0.0.1; with one, the address it names (an IP, or a
/// name resolved here), so that steps on other nodes reach it by that name.
fn listen_on(ws: &Workspace) -> Result<(IpAddr, Option<String>), EngineError> {
    let Some(host) = ws.tracking_host()? else {
        return Ok((IpAddr::V4(Ipv4Addr::LOCALHOST), None));
    };
    if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok((ip, Some(host)));
    }
    let resolved = (host.as_str(), 0)
        .to_socket_addrs()
        .map_err(|e| {
            EngineError::Internal(format!(
                "the workspace's tracking host `{host}` does not resolve here: {e}; write this machine's name or address in `.sluice/{}`",
                crate::workspace::TRACKING_HOST_FILE
            ))
        })?
        .map(|a| a.ip())
        .min_by_key(IpAddr::is_ipv6)
        .ok_or_else(|| {
            EngineError::Internal(format!("the workspace's tracking host `{host}` has no address"))
        })?;
    Ok((resolved, Some(host)))
}

/// Whether a job's tracking server wants the job's token on every request: when the job runs
/// with a token (a governed identity), and when it listens where other machines reach it.
fn needs_token(actor: &Actor, bind_ip: IpAddr) -> bool {
    actor.token.is_some() || !bind_ip.is_loopback()
}

/// The user recorded on runs: the job's identity.
fn user(ws: &Workspace) -> String {
    ws.store().actor().name.clone()
}

impl JobTracking {
    /// Starts the server and creates the job's experiment (if new) and parent run.
    pub(crate) async fn start(ws: &Workspace, plan: &Plan) -> Result<Self, EngineError> {
        let experiment_id = {
            let mut store = ws.store();
            let existing = store.get_experiment_by_name(&plan.experiment_name);
            match existing {
                Ok(e) if e.lifecycle_stage == "active" => e.experiment_id,
                Ok(e) => store
                    .set_experiment_lifecycle(&e.experiment_id, "active")
                    .map(|()| e.experiment_id)?,
                Err(StoreError::NotFound { .. }) => {
                    match store.create_experiment(&plan.experiment_name, None, &[]) {
                        Ok(id) => id,
                        // Another job in this workspace created it a moment ago.
                        Err(StoreError::AlreadyExists { .. }) => {
                            store
                                .get_experiment_by_name(&plan.experiment_name)?
                                .experiment_id
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                Err(e) => return Err(e.into()),
            }
        };
        let who = user(ws);
        let mut tags = vec![
            kv("mlflow.user", &who),
            kv("mlflow.source.type", "JOB"),
            kv("mlflow.source.name", &plan.spec_path),
            kv("sluice.job", &plan.job_name),
        ];
        if let Some(d) = &plan.display_name {
            tags.push(kv("mlflow.note.content", d));
        }
        let parent = ws.store().create_run(
            &experiment_id,
            &who,
            Some(&plan.job_name),
            Some(now_ms()),
            &tags,
        )?;
        let actor = ws.store().actor().clone();
        let (bind_ip, advertised) = listen_on(ws)?;
        let require_token = needs_token(&actor, bind_ip);
        let token = if require_token {
            let new = ws.store().governed(&actor).create_job_token(&plan.job_name);
            Some(new?.token)
        } else {
            None
        };
        let steps_actor = Actor {
            role: actor.role.min(Role::Contributor),
            ..actor
        };
        let state = Arc::new(
            sluice_server::ServerState::new(ws.store_pool(4)?, ws.artifacts()?)
                .with_auth(token.is_some())
                .with_default_actor(steps_actor)
                .with_security(match &advertised {
                    Some(host) => sluice_server::security::Security::default()
                        .listening_on(bind_ip)
                        .also_allowing(host),
                    None => sluice_server::security::Security::default().listening_on(bind_ip),
                }),
        );
        // A resumed job listens where it did before when it can: a step whose batch job ran
        // on without a runner was told that address.
        let earlier = ws.store().job_tracking_port(&plan.job_name)?;
        let bound = match earlier {
            Some(port) => match sluice_server::bind(SocketAddr::new(bind_ip, port)).await {
                Ok(b) => Ok(b),
                Err(e) => {
                    tracing::info!(port, error = %e, "the job's earlier tracking port is taken; listening on another");
                    sluice_server::bind(SocketAddr::new(bind_ip, 0)).await
                }
            },
            None => sluice_server::bind(SocketAddr::new(bind_ip, 0)).await,
        };
        let (listener, addr) = match bound {
            Ok(b) => b,
            Err(e) => {
                if token.is_some() {
                    let actor = ws.store().actor().clone();
                    let _ = ws.store().governed(&actor).revoke_job_token(&plan.job_name);
                }
                return Err(EngineError::Internal(format!(
                    "cannot start the tracking server: {e}"
                )));
            }
        };
        if let Err(e) = ws
            .store()
            .set_job_tracking_port(&plan.job_name, addr.port())
        {
            tracing::warn!(error = %e, "cannot record the job's tracking port");
        }
        let (shutdown, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(sluice_server::serve(listener, state, async move {
            let _ = rx.await;
        }));
        let uri = match &advertised {
            Some(host) if host.contains(':') && !host.starts_with('[') => {
                format!("http://[{host}]:{}", addr.port())
            }
            Some(host) => format!("http://{host}:{}", addr.port()),
            None => format!("http://{addr}"),
        };
        Ok(Self {
            info: Arc::new(TrackingInfo {
                uri,
                experiment_id,
                experiment_name: plan.experiment_name.clone(),
                parent_run_id: parent.info.run_uuid,
                token,
            }),
            job: plan.job_name.clone(),
            shutdown,
            server,
        })
    }

    /// Ends the parent run with the job's status and stops the server.
    pub(crate) async fn finish(self, ws: &Workspace, status: Status) -> Result<(), EngineError> {
        let _ = self.shutdown.send(());
        let _ = self.server.await;
        // The job's token goes first, whatever else fails.
        let revoked = if self.info.token.is_some() {
            let actor = ws.store().actor().clone();
            ws.store().governed(&actor).revoke_job_token(&self.job)
        } else {
            Ok(())
        };
        end_run(ws, &self.info.parent_run_id, status)?;
        revoked?;
        Ok(())
    }
}

/// Creates the child run of a step.
pub(crate) fn child_run(
    store: &mut sluice_store::Store,
    info: &TrackingInfo,
    job: &str,
    step: &str,
) -> Result<String, EngineError> {
    let who = store.actor().name.clone();
    let tags = [
        kv("mlflow.user", &who),
        kv("mlflow.parentRunId", &info.parent_run_id),
        kv("mlflow.source.type", "JOB"),
        kv("sluice.job", job),
        kv("sluice.step", step),
    ];
    let run = store.create_run(&info.experiment_id, &who, Some(step), Some(now_ms()), &tags)?;
    Ok(run.info.run_uuid)
}

/// What links a reused step's run to the run whose results it reused: the original's params
/// and latest metrics, and tags naming the original step and run (read here, written with the
/// step's other bookkeeping by [`write_reused_run`]).
pub(crate) struct ReusedRun {
    metrics: Vec<sluice_store::tracking::Metric>,
    params: Vec<KeyValue>,
    tags: Vec<KeyValue>,
}

pub(crate) fn reused_run(
    ws: &Workspace,
    job: &str,
    step: &str,
    original: &str,
) -> Result<ReusedRun, EngineError> {
    let recorded = ws.store().step_run(job, step)?;
    let source = match recorded {
        Some(id) => Some(id),
        // A step recorded before steps kept their run: found by its tags.
        None => ws
            .store()
            .job_runs(job)?
            .into_iter()
            .find(|(_, s)| s.as_deref() == Some(step))
            .map(|(id, _)| id),
    };
    let mut tags = vec![kv("sluice.reused_from", original)];
    let (metrics, params) = match &source {
        Some(id) => {
            let run = ws.store().get_run(id)?;
            tags.push(kv("sluice.reused_from_run", id));
            (run.metrics, run.params)
        }
        None => (Vec::new(), Vec::new()),
    };
    Ok(ReusedRun {
        metrics,
        params,
        tags,
    })
}

/// Writes [`reused_run`]'s link on `run_id` and finishes the run.
pub(crate) fn write_reused_run(
    store: &mut sluice_store::Store,
    run_id: &str,
    link: &ReusedRun,
) -> Result<(), sluice_store::StoreError> {
    store.log_batch(run_id, &link.metrics, &link.params, &link.tags)?;
    store.update_run(run_id, Some("FINISHED"), Some(now_ms()), None)?;
    Ok(())
}

/// Sets a run's final status from a job or step status.
pub(crate) fn end_run(ws: &Workspace, run_id: &str, status: Status) -> Result<(), EngineError> {
    finish_run(&mut ws.store(), run_id, status)?;
    Ok(())
}

/// [`end_run`] on a store, for a caller writing it with other things in one commit.
pub(crate) fn finish_run(
    store: &mut sluice_store::Store,
    run_id: &str,
    status: Status,
) -> Result<(), sluice_store::StoreError> {
    let mlflow_status = match status {
        Status::Completed => "FINISHED",
        Status::Canceled => "KILLED",
        _ => "FAILED",
    };
    store.update_run(run_id, Some(mlflow_status), Some(now_ms()), None)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tracking_server_other_machines_reach_needs_a_token() {
        let local = Actor::local();
        assert!(!needs_token(&local, IpAddr::V4(Ipv4Addr::LOCALHOST)));
        assert!(needs_token(&local, "192.0.2.2".parse().unwrap()));
        assert!(needs_token(&local, "10.1.0.5".parse().unwrap()));
        assert!(needs_token(&local, "fd00::2".parse().unwrap()));
        assert!(!needs_token(&local, "::1".parse().unwrap()));
    }
}
