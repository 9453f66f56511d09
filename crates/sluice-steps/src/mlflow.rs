//! A small MLflow REST client for the built-in steps, so they log exactly as a user's script
//! would: to `MLFLOW_TRACKING_URI`, into the run `MLFLOW_RUN_ID`. Outside a job (no tracking
//! URI), logging is skipped and said so once.

use std::path::Path;

use serde_json::{Value, json};

use crate::StepError;

/// Where to log.
#[derive(Debug, Clone)]
pub struct Tracking {
    base: String,
    pub run_id: String,
    /// `MLFLOW_TRACKING_TOKEN`, sent as a bearer token when the server requires one.
    token: Option<String>,
}

impl Tracking {
    /// From the environment a job gives its steps; `None` when not inside a tracked job.
    #[must_use]
    pub fn from_env() -> Option<Self> {
        let uri = std::env::var("MLFLOW_TRACKING_URI")
            .ok()
            .filter(|u| u.starts_with("http://"))?;
        let run_id = std::env::var("MLFLOW_RUN_ID")
            .ok()
            .filter(|r| !r.is_empty())?;
        Some(Self {
            base: uri.trim_end_matches('/').to_owned(),
            run_id,
            token: std::env::var("MLFLOW_TRACKING_TOKEN")
                .ok()
                .filter(|t| !t.is_empty()),
        })
    }

    #[must_use]
    pub fn new(uri: &str, run_id: &str) -> Self {
        Self {
            base: uri.trim_end_matches('/').to_owned(),
            run_id: run_id.to_owned(),
            token: None,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/2.0/mlflow/{path}", self.base)
    }

    fn answer(
        res: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        what: &str,
    ) -> Result<Value, StepError> {
        let mut res = res.map_err(|e| StepError::Tracking(format!("{what}: {e}")))?;
        let status = res.status();
        let body: Value = res.body_mut().read_json().unwrap_or(Value::Null);
        if status.is_success() {
            Ok(body)
        } else {
            Err(StepError::Tracking(format!(
                "{what}: {} {}",
                body["error_code"].as_str().unwrap_or("HTTP error"),
                body["message"].as_str().unwrap_or(status.as_str())
            )))
        }
    }

    /// Adds the bearer token, if there is one.
    fn auth<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.token {
            Some(t) => req.header("Authorization", format!("Bearer {t}")),
            None => req,
        }
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_mins(1)))
            .build()
            .into()
    }

    /// POSTs JSON to an MLflow endpoint and returns the answer.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, StepError> {
        Self::answer(
            self.auth(Self::agent().post(&self.url(path)))
                .send_json(body),
            path,
        )
    }

    /// GETs an MLflow endpoint with query parameters.
    pub fn get(&self, path: &str, query: &[(&str, &str)]) -> Result<Value, StepError> {
        let mut req = self.auth(Self::agent().get(&self.url(path)));
        for (k, v) in query {
            req = req.query(*k, *v);
        }
        Self::answer(req.call(), path)
    }

    /// Logs params, metrics and tags in batches within MLflow's limits.
    pub fn log(
        &self,
        params: &[(String, String)],
        metrics: &[(String, f64)],
        tags: &[(String, String)],
    ) -> Result<(), StepError> {
        let now = jiff_now_ms();
        for chunk in params.chunks(100) {
            let params: Vec<Value> = chunk
                .iter()
                .map(|(k, v)| json!({"key": k, "value": v}))
                .collect();
            self.post(
                "runs/log-batch",
                &json!({"run_id": self.run_id, "params": params}),
            )?;
        }
        for chunk in metrics.chunks(1000) {
            let metrics: Vec<Value> = chunk
                .iter()
                .map(|(k, v)| json!({"key": k, "value": crate::json_f64(*v), "timestamp": now, "step": 0}))
                .collect();
            self.post(
                "runs/log-batch",
                &json!({"run_id": self.run_id, "metrics": metrics}),
            )?;
        }
        for chunk in tags.chunks(100) {
            let tags: Vec<Value> = chunk
                .iter()
                .map(|(k, v)| json!({"key": k, "value": v}))
                .collect();
            self.post(
                "runs/log-batch",
                &json!({"run_id": self.run_id, "tags": tags}),
            )?;
        }
        Ok(())
    }

    /// The run's artifact URI (`mlflow-artifacts:/...`).
    pub fn artifact_uri(&self) -> Result<String, StepError> {
        let run = self.get("runs/get", &[("run_id", &self.run_id)])?;
        run["run"]["info"]["artifact_uri"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| StepError::Tracking("runs/get: no artifact_uri".into()))
    }

    /// Uploads every file under `dir` to the run's artifacts under `artifact_path`.
    pub fn upload_dir(&self, dir: &Path, artifact_path: &str) -> Result<(), StepError> {
        let uri = self.artifact_uri()?;
        let rel_root = uri
            .strip_prefix("mlflow-artifacts:/")
            .ok_or_else(|| {
                StepError::Tracking(format!(
                    "artifacts at `{uri}` are not served by the tracking server"
                ))
            })?
            .trim_start_matches('/')
            .to_owned();
        for entry in walk(dir)? {
            let rel = entry.strip_prefix(dir).unwrap_or(&entry);
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let url = format!(
                "{}/api/2.0/mlflow-artifacts/artifacts/{rel_root}/{artifact_path}/{rel}",
                self.base
            );
            let bytes = std::fs::read(&entry).map_err(|e| StepError::io(&entry, e))?;
            Self::answer(
                self.auth(Self::agent().put(&url)).send(&bytes[..]),
                "artifact upload",
            )?;
        }
        Ok(())
    }
}

impl Tracking {
    /// Downloads the artifacts under an `mlflow-artifacts:/...` URI into `dir`.
    pub fn download_dir(&self, uri: &str, dir: &Path) -> Result<(), StepError> {
        let rel = uri
            .strip_prefix("mlflow-artifacts:/")
            .ok_or_else(|| {
                StepError::Tracking(format!(
                    "cannot download `{uri}`: not served by the tracking server"
                ))
            })?
            .trim_start_matches('/')
            .trim_end_matches('/')
            .to_owned();
        let mut pending = vec![(rel.clone(), dir.to_path_buf())];
        while let Some((path, local)) = pending.pop() {
            std::fs::create_dir_all(&local).map_err(|e| StepError::io(&local, e))?;
            let url = format!("{}/api/2.0/mlflow-artifacts/artifacts", self.base);
            let listing = Self::answer(
                self.auth(Self::agent().get(&url))
                    .query("path", &path)
                    .call(),
                "artifact listing",
            )?;
            for f in listing["files"].as_array().cloned().unwrap_or_default() {
                let Some(name) = f["path"].as_str() else {
                    continue;
                };
                if f["is_dir"].as_bool() == Some(true) {
                    pending.push((format!("{path}/{name}"), local.join(name)));
                } else {
                    let url = format!(
                        "{}/api/2.0/mlflow-artifacts/artifacts/{path}/{name}",
                        self.base
                    );
                    let mut res = self
                        .auth(Self::agent().get(&url))
                        .call()
                        .map_err(|e| StepError::Tracking(format!("artifact download: {e}")))?;
                    let bytes = res
                        .body_mut()
                        .with_config()
                        .limit(u64::MAX)
                        .read_to_vec()
                        .map_err(|e| StepError::Tracking(format!("artifact download: {e}")))?;
                    let target = local.join(name);
                    std::fs::write(&target, bytes).map_err(|e| StepError::io(&target, e))?;
                }
            }
        }
        Ok(())
    }
}

fn walk(dir: &Path) -> Result<Vec<std::path::PathBuf>, StepError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| StepError::io(&d, e))? {
            let entry = entry.map_err(|e| StepError::io(&d, e))?;
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn jiff_now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}
