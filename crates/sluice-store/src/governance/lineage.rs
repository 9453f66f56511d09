//! Lineage in one query: how a model version was made (its data, job and steps, runs,
//! environment, code, approvals and alias history), and the reverse, what was built from a data
//! asset version.
//!
//! The path: a version's source run carries the tags `sluice.job` and `sluice.step`; the job's
//! steps record their resolved inputs (data assets with version and content hash, outputs of
//! other steps with their hashes); the job's runs hold params and metrics.

use crate::db::params;
use serde_json::{Value, json};

use crate::{Result, StepRow, Store};

/// The code a step ran (see `sluice_engine::record_code_provenance`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepCode {
    pub job: String,
    pub step: String,
    /// The `code` folder (or file) as planned.
    pub path: String,
    /// Its blake3 content hash (`blake3:...`).
    pub hash: String,
    pub git_commit: Option<String>,
    /// Whether the git working tree had uncommitted changes.
    pub git_dirty: Option<bool>,
}

/// The run tag naming the job a run belongs to (set by the engine).
const JOB_TAG: &str = "sluice.job";
const STEP_TAG: &str = "sluice.step";

impl Store {
    fn run_tag(&self, run_id: &str, key: &str) -> Result<Option<String>> {
        use crate::db::OptionalExtension;
        Ok(self
            .conn
            .query_row(
                "SELECT t.value FROM runs r JOIN tags t ON t.run_seq = r.seq WHERE r.run_uuid = ?1 AND t.key = ?2",
                params![run_id, key],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Run ids of a job's runs (the parent and one per step), in creation order.
    fn job_run_ids(&self, job: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT r.run_uuid FROM runs r JOIN tags t ON t.run_seq = r.seq
             WHERE t.key = ?1 AND t.value = ?2 ORDER BY r.seq",
        )?;
        let rows = stmt.query_map(params![JOB_TAG, job], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The Python environment a step ran in: its content hash and pinned set; a step without
    /// one ran with the host's tools.
    fn step_environment(&self, _job: &str, step: &StepRow) -> Result<Value> {
        let Some(hash) = &step.env_hash else {
            return Ok(json!({
                "requested": step.environment,
                "hash": null,
                "lock": null,
                "runs_on": "the host's tools (no conda file or requirements)",
            }));
        };
        let build = self.get_env_build(hash)?;
        Ok(json!({
            "requested": step.environment,
            "hash": hash,
            "python": build.as_ref().map(|b| b.python.clone()),
            "lock": build.map(|b| b.lock),
        }))
    }

    pub fn record_step_code(&self, code: &StepCode) -> Result<()> {
        self.conn.execute(
            "INSERT INTO step_code (job_name, step_name, code_path, code_hash, git_commit, git_dirty)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (job_name, step_name) DO UPDATE SET code_path = excluded.code_path, code_hash = excluded.code_hash, git_commit = excluded.git_commit, git_dirty = excluded.git_dirty",
            params![code.job, code.step, code.path, code.hash, code.git_commit, code.git_dirty],
        )?;
        Ok(())
    }

    /// The code a step ran, as recorded when its job was created. A job without a record
    /// (created before it was kept, or a step without a `code` folder) says so rather than
    /// guessing: the step's working folder also holds what the step wrote.
    fn step_code(&self, job: &str, step: &StepRow) -> Result<Value> {
        use crate::db::OptionalExtension;
        let found = self
            .conn
            .query_row(
                "SELECT code_path, code_hash, git_commit, git_dirty FROM step_code WHERE job_name = ?1 AND step_name = ?2",
                params![job, step.name],
                |r| {
                    Ok(json!({
                        "path": r.get::<_, String>(0)?,
                        "hash": r.get::<_, String>(1)?,
                        "git_commit": r.get::<_, Option<String>>(2)?,
                        "git_dirty": r.get::<_, Option<bool>>(3)?,
                    }))
                },
            )
            .optional()?;
        Ok(found.unwrap_or_else(|| {
            json!({
                "path": null,
                "hash": null,
                "git_commit": null,
                "git_dirty": null,
                "missing": "no code snapshot was recorded for this step (no `code` folder, or a job created before Sluice recorded it)",
            })
        }))
    }

    /// Everything a model version was made from, in one answer.
    pub fn model_lineage(&self, name: &str, version: &str) -> Result<Value> {
        let v = self.get_model_version(name, version)?;
        let job_name = match v.run_id.as_str() {
            "" => None,
            run => self.run_tag(run, JOB_TAG)?,
        };
        let step_name = match v.run_id.as_str() {
            "" => None,
            run => self.run_tag(run, STEP_TAG)?,
        };
        let mut data = Vec::new();
        let mut steps = Vec::new();
        let mut job = Value::Null;
        let mut runs = Vec::new();
        let mut outputs = Vec::new();
        if let Some(jn) = &job_name {
            let row = self.get_job(jn)?;
            job = json!({
                "name": row.name,
                "status": row.status,
                "experiment_name": row.experiment_name,
                "spec_path": row.spec_path,
                "created_at": row.created_at,
                "inputs": row.inputs,
            });
            for step in self.list_steps(jn)? {
                if let Some(inputs) = step.inputs.as_object() {
                    for (input, i) in inputs {
                        if i["kind"] == "data" {
                            let (asset, asset_version) = match i["asset"].as_str() {
                                Some(a) => match a.rsplit_once(':') {
                                    Some((n, v)) => (json!(n), json!(v)),
                                    None => (json!(a), Value::Null),
                                },
                                None => (Value::Null, Value::Null),
                            };
                            data.push(json!({
                                "step": step.name,
                                "input": input,
                                "asset": asset,
                                "version": asset_version,
                                "content_hash": i["content_hash"],
                                "path": i["path"],
                            }));
                        }
                    }
                }
                steps.push(json!({
                    "name": step.name,
                    "status": step.status,
                    "command": step.command,
                    "inputs": step.inputs,
                    "environment": self.step_environment(jn, &step)?,
                    "code": self.step_code(jn, &step)?,
                }));
            }
            for id in self.job_run_ids(jn)? {
                let run = self.get_run(&id)?;
                let tag = |k: &str| {
                    run.tags
                        .iter()
                        .find(|t| t.key == k)
                        .map(|t| t.value.clone())
                };
                runs.push(json!({
                    "run_id": id,
                    "step": tag(STEP_TAG),
                    "status": run.info.status,
                    "params": run.params.iter().map(|p| (p.key.clone(), Value::String(p.value.clone()))).collect::<serde_json::Map<_, _>>(),
                    "metrics": run.metrics.iter().map(|m| (m.key.clone(), json!(m.value))).collect::<serde_json::Map<_, _>>(),
                }));
            }
            for o in self.list_outputs(jn)? {
                outputs.push(json!({
                    "step": o.step_name,
                    "name": o.name,
                    "content_hash": o.content_hash,
                    "asset": o.asset_name,
                    "version": o.asset_version,
                }));
            }
        }
        let moves: Vec<_> = self
            .alias_history(name)?
            .into_iter()
            .filter(|m| {
                m.version.as_deref() == Some(&v.version)
                    || m.previous.as_deref() == Some(&v.version)
            })
            .collect();
        Ok(json!({
            "model": {"name": v.name, "version": v.version, "source": v.source,
                      "storage_location": v.storage_location, "created_by": v.user_id,
                      "aliases": v.aliases, "stage": v.current_stage},
            "run_id": v.run_id,
            "job": job,
            "step": step_name,
            "data": data,
            "steps": steps,
            "runs": runs,
            "outputs": outputs,
            "approvals": self.approvals(name, Some(version))?,
            "alias_history": moves,
        }))
    }

    /// The jobs that read a data asset version (by asset reference, or by the same content
    /// hash), the job that produced it, and the model versions those jobs registered.
    pub fn data_lineage(&self, name: &str, version: &str) -> Result<Value> {
        let asset = self.get_data(name, Some(version))?;
        let reference = format!("{name}:{version}");
        let mut used_by = Vec::new();
        let mut jobs: Vec<String> = Vec::new();
        {
            let mut stmt = self.conn.prepare(
                "SELECT job_name, name, inputs FROM steps ORDER BY created_at, job_name, position",
            )?;
            let rows = stmt.query_map((), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            for row in rows {
                let (job, step, inputs) = row?;
                let inputs: Value = serde_json::from_str(&inputs).unwrap_or(Value::Null);
                for (input, i) in inputs.as_object().into_iter().flatten() {
                    if i["kind"] != "data" {
                        continue;
                    }
                    let by_ref = i["asset"].as_str() == Some(reference.as_str());
                    let by_hash = i["content_hash"].as_str() == Some(asset.content_hash.as_str());
                    if by_ref || by_hash {
                        used_by.push(json!({
                            "job": job, "step": step, "input": input,
                            "match": if by_ref { "asset" } else { "content_hash" },
                        }));
                        if !jobs.contains(&job) {
                            jobs.push(job.clone());
                        }
                    }
                }
            }
        }
        let mut produced_by = Vec::new();
        {
            let mut stmt = self.conn.prepare(
                "SELECT job_name, step_name, name FROM outputs WHERE asset_name = ?1 AND asset_version = ?2",
            )?;
            let rows = stmt.query_map(params![name, version], |r| {
                Ok(json!({"job": r.get::<_, String>(0)?, "step": r.get::<_, String>(1)?, "output": r.get::<_, String>(2)?}))
            })?;
            for r in rows {
                produced_by.push(r?);
            }
        }
        let mut models = Vec::new();
        {
            let mut stmt = self.conn.prepare(
                "SELECT mv.name, mv.version, t.value FROM model_versions mv
                 JOIN runs r ON r.run_uuid = mv.run_id
                 JOIN tags t ON t.run_seq = r.seq AND t.key = ?1
                 WHERE t.value = ?2 ORDER BY mv.name, mv.version",
            )?;
            for job in &jobs {
                let rows = stmt.query_map(params![JOB_TAG, job], |r| {
                    Ok(json!({"name": r.get::<_, String>(0)?, "version": r.get::<_, i64>(1)?.to_string(), "job": r.get::<_, String>(2)?}))
                })?;
                for r in rows {
                    models.push(r?);
                }
            }
        }
        Ok(json!({
            "data": {"name": asset.name, "version": asset.version, "type": asset.ty,
                     "content_hash": asset.content_hash},
            "produced_by": produced_by,
            "used_by": used_by,
            "jobs": jobs,
            "model_versions": models,
        }))
    }
}
