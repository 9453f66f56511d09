//! The governed registry: each change checks the actor's role and the model's policy, makes
//! the change and appends its audit entry in one transaction. The HTTP server's registry
//! endpoints and the command line both call these, so neither can skip a policy.

use crate::db::{OptionalExtension, params};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Actor, GateResult, Governed, Policy, Role};
use crate::registry::{ModelVersion, NewModelVersion, RegisteredModel};
use crate::tracking::KeyValue;
use crate::{Result, Store, StoreError, now};

/// One move of an alias (`version` `None`: the alias was removed).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AliasMove {
    pub alias: String,
    pub version: Option<String>,
    pub previous: Option<String>,
    pub actor: String,
    pub at: String,
}

/// An approval of a version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Approval {
    pub version: String,
    pub approver: String,
    pub comment: Option<String>,
    pub at: String,
}

/// Where a protected move goes: an alias, or the `Production` stage.
#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    Alias(&'a str),
    ProductionStage,
}

impl Target<'_> {
    fn describe(self, name: &str) -> String {
        match self {
            Target::Alias(a) => format!("alias `{a}` of model `{name}`"),
            Target::ProductionStage => format!("the `Production` stage of model `{name}`"),
        }
    }
}

/// What decides a protected move: the version, where it goes, the policy, the gate's result
/// (none when the policy has no gate) and the version's approvals.
struct ProtectedMove<'a> {
    name: &'a str,
    version: &'a str,
    /// The version as stored (`1`), which approvals name; `version` is as the caller wrote it.
    number: &'a str,
    creator: &'a str,
    target: Target<'a>,
    policy: &'a Policy,
    gate: Option<&'a GateResult>,
    approvals: &'a [Approval],
}

/// Whether a protected move may happen: every failed condition of the gate, and too few
/// approvals (those of the version's creator not counted when the policy says so), named in
/// one refusal. Reads nothing but its facts.
fn protected_move_verdict(m: &ProtectedMove<'_>) -> Result<()> {
    let (name, version, policy) = (m.name, m.version, m.policy);
    let mut failures: Vec<String> = m.gate.map(|g| g.failures.clone()).unwrap_or_default();
    let have = counted_approvals(policy, m.number, m.creator, m.approvals);
    let need = usize::try_from(policy.approvals.required).unwrap_or(usize::MAX);
    if have < need {
        failures.push(format!(
            "version {version} has {have} of the {need} approval(s) it needs{} (`sluice model approve -n {name} --version {version}`)",
            if policy.approvals.distinct_from_creator {
                " from someone other than its creator"
            } else {
                ""
            }
        ));
    }
    if failures.is_empty() {
        return Ok(());
    }
    Err(StoreError::Denied(format!(
        "the promotion policy of model `{name}` forbids moving {} to version {version}: {}",
        match m.target {
            Target::Alias(a) => format!("alias `{a}`"),
            Target::ProductionStage => "the `Production` stage".to_owned(),
        },
        failures.join("; ")
    )))
}

/// The approvals of `version` that count under `policy` (its creator's not, when the policy
/// wants them from someone else).
fn counted_approvals(
    policy: &Policy,
    version: &str,
    creator: &str,
    approvals: &[Approval],
) -> usize {
    approvals
        .iter()
        .filter(|a| a.version == version)
        .filter(|a| !policy.approvals.distinct_from_creator || a.approver != creator)
        .count()
}

fn version_json(v: &ModelVersion) -> Value {
    json!({"version": v.version, "stage": v.current_stage, "description": v.description,
           "source": v.source, "run_id": v.run_id, "created_by": v.user_id})
}

fn model_json(m: &RegisteredModel) -> Value {
    json!({"name": m.name, "description": m.description,
           "aliases": m.aliases.iter().map(|a| json!({"alias": a.alias, "version": a.version})).collect::<Vec<_>>(),
           "tags": m.tags.iter().map(|t| json!({"key": t.key, "value": t.value})).collect::<Vec<_>>()})
}

impl Store {
    /// The version an alias points at, if any.
    fn alias_holder(&self, name: &str, alias: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT version FROM registered_model_aliases WHERE name = ?1 AND alias = ?2",
                params![name, alias],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// The newest version in the `Production` stage, if any.
    fn production_holder(&self, name: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT MAX(version) FROM model_versions WHERE name = ?1 AND current_stage = 'Production'",
                [name],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// Approvals of a version, oldest first.
    pub fn approvals(&self, name: &str, version: Option<&str>) -> Result<Vec<Approval>> {
        let version = version.map(crate::registry::parse_version).transpose()?;
        let mut stmt = self.conn.prepare(
            "SELECT version, approver, comment, created_at FROM approvals
             WHERE name = ?1 AND (CAST(?2 AS BIGINT) IS NULL OR version = ?2) ORDER BY created_at, rowid",
        )?;
        let rows = stmt.query_map(params![name, version], |r| {
            Ok(Approval {
                version: r.get::<_, i64>(0)?.to_string(),
                approver: r.get(1)?,
                comment: r.get(2)?,
                at: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Which version held which alias, oldest first.
    pub fn alias_history(&self, name: &str) -> Result<Vec<AliasMove>> {
        let mut stmt = self.conn.prepare(
            "SELECT alias, version, previous, actor, at FROM alias_history WHERE name = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map([name], |r| {
            Ok(AliasMove {
                alias: r.get(0)?,
                version: r.get::<_, Option<i64>>(1)?.map(|v| v.to_string()),
                previous: r.get::<_, Option<i64>>(2)?.map(|v| v.to_string()),
                actor: r.get(3)?,
                at: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn record_alias_move(
        &self,
        name: &str,
        alias: &str,
        version: Option<i64>,
        previous: Option<i64>,
        actor: &str,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO alias_history (name, alias, version, previous, actor, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![name, alias, version, previous, actor, now()],
        )?;
        Ok(())
    }

    /// The gate of `policy` evaluated for a version, against the holder of `baseline_alias`
    /// (or of the `Production` stage when `None`).
    fn gate_for(
        &self,
        name: &str,
        policy: &Policy,
        version: &ModelVersion,
        target: Target<'_>,
    ) -> Result<Option<GateResult>> {
        let Some(gate) = &policy.gate else {
            return Ok(None);
        };
        let found = self.version_metric(&version.run_id, &gate.metric)?;
        let holder = match target {
            Target::Alias(a) => self.alias_holder(name, a)?,
            Target::ProductionStage => self.production_holder(name)?,
        };
        let baseline = match holder.filter(|h| h.to_string() != version.version) {
            Some(h) => {
                let hv = self.get_model_version(name, &h.to_string())?;
                let value = self.version_metric(&hv.run_id, &gate.metric)?;
                Some((h.to_string(), value.map(|(v, _)| v)))
            }
            None => None,
        };
        let mut result = gate.evaluate(&version.version, found.as_ref().map(|f| f.0), baseline);
        result.metric_run = found.map(|f| f.1);
        Ok(Some(result))
    }

    /// Refuses a protected move the policy forbids, naming each failed condition: the facts
    /// (the gate's result, the version's approvals and creator) are read here, the decision is
    /// [`protected_move_verdict`]'s.
    fn check_protected_move(
        &self,
        actor: &Actor,
        name: &str,
        policy: &Policy,
        version: &str,
        target: Target<'_>,
    ) -> Result<()> {
        actor.require(
            Role::Owner,
            &format!("moving the protected {}", target.describe(name)),
        )?;
        let v = self.get_model_version(name, version)?;
        let gate = self.gate_for(name, policy, &v, target)?;
        let approvals = self.approvals(name, Some(version))?;
        protected_move_verdict(&ProtectedMove {
            name,
            version,
            number: &v.version,
            creator: &v.user_id,
            target,
            policy,
            gate: gate.as_ref(),
            approvals: &approvals,
        })
    }

    /// A model's governance at a glance: aliases, policy, and per version its creator,
    /// approvals and gate result (against the first protected alias).
    pub fn model_status(&self, name: &str) -> Result<Value> {
        let model = self.get_registered_model(name)?;
        let policy = self.get_policy(name)?;
        let effective = policy.clone().unwrap_or_default();
        let (versions, _) = self.search_model_versions(
            Some(&format!("name = '{}'", name.replace('\'', "''"))),
            &["version_number ASC".to_owned()],
            100_000,
            0,
        )?;
        let first_protected = effective.protected_aliases.first().cloned();
        let mut rows = Vec::new();
        for v in &versions {
            let gate = match &first_protected {
                Some(a) => self.gate_for(name, &effective, v, Target::Alias(a))?,
                None => None,
            };
            let approvals = self.approvals(name, Some(&v.version))?;
            let v_aliases: Vec<&str> = model
                .aliases
                .iter()
                .filter(|a| a.version == v.version)
                .map(|a| a.alias.as_str())
                .collect();
            rows.push(json!({
                "version": v.version,
                "aliases": v_aliases,
                "stage": v.current_stage,
                "created_by": v.user_id,
                "run_id": v.run_id,
                "approvals_counted": counted_approvals(&effective, &v.version, &v.user_id, &approvals),
                "approvals": approvals,
                "approvals_required": effective.approvals.required,
                "gate": gate,
            }));
        }
        Ok(json!({
            "name": name,
            "aliases": model.aliases.iter().map(|a| (a.alias.clone(), Value::String(a.version.clone()))).collect::<serde_json::Map<_, _>>(),
            "policy": policy,
            "versions": rows,
        }))
    }
}

impl Governed<'_> {
    #[expect(
        clippy::needless_pass_by_value,
        reason = "call sites build the target and the values inline"
    )]
    fn audit(
        s: &Store,
        actor: &Actor,
        action: &str,
        model: &str,
        target: String,
        before: Option<Value>,
        after: Option<Value>,
    ) -> Result<()> {
        s.append_audit(
            actor,
            action,
            Some(model),
            &target,
            before.as_ref(),
            after.as_ref(),
        )
    }

    /// Records in the audit log a change to the workspace's definitions made outside the
    /// registry (`sluice infra apply`: a compute, datastore, environment or data asset defined),
    /// as `action` on `target` with what it was and is. Contributors and owners only.
    pub fn record_change(
        &mut self,
        action: &str,
        target: &str,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> Result<()> {
        self.actor
            .require(Role::Contributor, "changing the workspace's definitions")?;
        let actor = self.actor;
        self.store
            .atomically(|s| s.append_audit(actor, action, None, target, before, after))
    }

    // ---- registered models ------------------------------------------------------------------

    pub fn create_registered_model(
        &mut self,
        name: &str,
        tags: &[KeyValue],
        description: Option<&str>,
    ) -> Result<RegisteredModel> {
        self.actor
            .require(Role::Contributor, "registering a model")?;
        let actor = self.actor;
        self.store.atomically(|s| {
            let m = s.create_registered_model(name, tags, description)?;
            Self::audit(
                s,
                actor,
                "model.create",
                name,
                format!("model/{name}"),
                None,
                Some(model_json(&m)),
            )?;
            Ok(m)
        })
    }

    pub fn rename_registered_model(
        &mut self,
        name: &str,
        new_name: &str,
    ) -> Result<RegisteredModel> {
        self.actor.require(Role::Owner, "renaming a model")?;
        let actor = self.actor;
        self.store.atomically(|s| {
            let m = s.rename_registered_model(name, new_name)?;
            for table in ["model_policies", "approvals", "alias_history"] {
                s.conn.execute(
                    &format!("UPDATE {table} SET name = ?2 WHERE name = ?1"),
                    params![name, new_name],
                )?;
            }
            Self::audit(
                s,
                actor,
                "model.rename",
                new_name,
                format!("model/{name}"),
                Some(json!({"name": name})),
                Some(json!({"name": new_name})),
            )?;
            Ok(m)
        })
    }

    pub fn update_registered_model(
        &mut self,
        name: &str,
        description: Option<&str>,
    ) -> Result<RegisteredModel> {
        self.actor.require(Role::Contributor, "updating a model")?;
        let actor = self.actor;
        self.store.atomically(|s| {
            let before = s.get_registered_model(name)?;
            let m = s.update_registered_model(name, description)?;
            Self::audit(
                s,
                actor,
                "model.update",
                name,
                format!("model/{name}"),
                Some(json!({"description": before.description})),
                Some(json!({"description": m.description})),
            )?;
            Ok(m)
        })
    }

    pub fn delete_registered_model(&mut self, name: &str) -> Result<()> {
        self.actor.require(Role::Owner, "deleting a model")?;
        let actor = self.actor;
        self.store.atomically(|s| {
            let before = s.get_registered_model(name)?;
            s.delete_registered_model(name)?;
            // (The audit log keeps the deleted model's story.)
            for table in ["model_policies", "approvals", "alias_history"] {
                s.conn
                    .execute(&format!("DELETE FROM {table} WHERE name = ?1"), [name])?;
            }
            Self::audit(
                s,
                actor,
                "model.delete",
                name,
                format!("model/{name}"),
                Some(model_json(&before)),
                None,
            )
        })
    }

    pub fn set_registered_model_tag(&mut self, name: &str, key: &str, value: &str) -> Result<()> {
        self.actor.require(Role::Contributor, "tagging a model")?;
        let actor = self.actor;
        self.store.atomically(|s| {
            s.set_registered_model_tag(name, key, value)?;
            Self::audit(
                s,
                actor,
                "model.tag.set",
                name,
                format!("model/{name}/tag/{key}"),
                None,
                Some(json!({"value": value})),
            )
        })
    }

    pub fn delete_registered_model_tag(&mut self, name: &str, key: &str) -> Result<()> {
        self.actor.require(Role::Contributor, "untagging a model")?;
        let actor = self.actor;
        self.store.atomically(|s| {
            s.delete_registered_model_tag(name, key)?;
            Self::audit(
                s,
                actor,
                "model.tag.delete",
                name,
                format!("model/{name}/tag/{key}"),
                None,
                None,
            )
        })
    }

    // ---- aliases ----------------------------------------------------------------------------

    /// Points `alias` at a version. A protected alias needs the owner role, the gate and the
    /// approvals of the model's policy.
    pub fn set_alias(&mut self, name: &str, alias: &str, version: &str) -> Result<ModelVersion> {
        self.actor.require(Role::Contributor, "setting an alias")?;
        let actor = self.actor;
        self.store.atomically(|s| {
            let v = crate::registry::parse_version(version)?;
            s.get_model_version(name, version)?;
            if let Some(policy) = s.get_policy(name)?
                && policy.protects(alias)
            {
                s.check_protected_move(actor, name, &policy, version, Target::Alias(alias))?;
            }
            let previous = s.alias_holder(name, alias)?;
            s.set_registered_model_alias(name, alias, version)?;
            if previous != Some(v) {
                s.record_alias_move(name, alias, Some(v), previous, &actor.name)?;
            }
            Self::audit(
                s,
                actor,
                "alias.set",
                name,
                format!("model/{name}/alias/{alias}"),
                Some(json!({"version": previous.map(|p| p.to_string())})),
                Some(json!({"version": v.to_string()})),
            )?;
            s.get_model_version_by_alias(name, alias)
        })
    }

    /// Removes an alias; removing a protected one needs the owner role.
    pub fn delete_alias(&mut self, name: &str, alias: &str) -> Result<()> {
        self.actor.require(Role::Contributor, "removing an alias")?;
        let actor = self.actor;
        self.store.atomically(|s| {
            if let Some(policy) = s.get_policy(name)?
                && policy.protects(alias)
            {
                actor.require(
                    Role::Owner,
                    &format!("removing the protected alias `{alias}` of model `{name}`"),
                )?;
            }
            let previous = s.alias_holder(name, alias)?;
            s.delete_registered_model_alias(name, alias)?;
            if previous.is_some() {
                s.record_alias_move(name, alias, None, previous, &actor.name)?;
                Self::audit(
                    s,
                    actor,
                    "alias.delete",
                    name,
                    format!("model/{name}/alias/{alias}"),
                    Some(json!({"version": previous.map(|p| p.to_string())})),
                    None,
                )?;
            }
            Ok(())
        })
    }

    // ---- versions ---------------------------------------------------------------------------

    /// Registers a version, created by the actor. Under a policy that requires it, the source
    /// run must pass the gate (against the holder of the first protected alias).
    pub fn create_model_version(&mut self, new: &NewModelVersion<'_>) -> Result<ModelVersion> {
        self.actor
            .require(Role::Contributor, "registering a model version")?;
        let actor = self.actor;
        self.store.atomically(|s| {
            let created = s.create_model_version(new)?;
            s.conn.execute(
                "UPDATE versions SET user_id = ?3 WHERE model_key = (SELECT model_key FROM registered_models WHERE name = ?1) AND version = ?2",
                params![new.name, crate::registry::parse_version(&created.version)?, actor.name],
            )?;
            let v = s.get_model_version(new.name, &created.version)?;
            if let Some(policy) = s.get_policy(new.name)?
                && policy.require_gate_for_registration
            {
                let target = policy
                    .protected_aliases
                    .first()
                    .map_or(Target::ProductionStage, |a| Target::Alias(a));
                if let Some(g) = s.gate_for(new.name, &policy, &v, target)?
                    && !g.passed
                {
                    // Refused: the transaction rolls back, the version number is not used.
                    return Err(StoreError::Denied(format!(
                        "the promotion policy of model `{}` requires registration to pass the gate: {}",
                        new.name,
                        g.failures.join("; ")
                    )));
                }
            }
            Self::audit(s, actor, "version.create", new.name, format!("model/{}/version/{}", new.name, v.version),
                None, Some(version_json(&v)))?;
            Ok(v)
        })
    }

    pub fn update_model_version(
        &mut self,
        name: &str,
        version: &str,
        description: Option<&str>,
    ) -> Result<ModelVersion> {
        self.actor
            .require(Role::Contributor, "updating a model version")?;
        let actor = self.actor;
        self.store.atomically(|s| {
            let before = s.get_model_version(name, version)?;
            let v = s.update_model_version(name, version, description)?;
            Self::audit(
                s,
                actor,
                "version.update",
                name,
                format!("model/{name}/version/{version}"),
                Some(json!({"description": before.description})),
                Some(json!({"description": v.description})),
            )?;
            Ok(v)
        })
    }

    pub fn delete_model_version(&mut self, name: &str, version: &str) -> Result<()> {
        self.actor
            .require(Role::Owner, "deleting a model version")?;
        let actor = self.actor;
        self.store.atomically(|s| {
            let before = s.get_model_version(name, version)?;
            s.delete_model_version(name, version)?;
            for alias in &before.aliases {
                s.record_alias_move(name, alias, None, Some(crate::registry::parse_version(version)?), &actor.name)?;
            }
            s.conn.execute(
                "DELETE FROM approvals WHERE name = ?1 AND version = ?2",
                params![name, crate::registry::parse_version(version)?],
            )?;
            Self::audit(s, actor, "version.delete", name, format!("model/{name}/version/{version}"),
                Some(json!({"version": before.version, "aliases": before.aliases, "run_id": before.run_id})), None)
        })
    }

    /// Moves a version to a stage; into `Production` under a policy, it is a protected move.
    pub fn transition_stage(
        &mut self,
        name: &str,
        version: &str,
        stage: &str,
        archive_existing: bool,
    ) -> Result<ModelVersion> {
        self.actor
            .require(Role::Contributor, "moving a model version's stage")?;
        let actor = self.actor;
        self.store.atomically(|s| {
            let canonical = crate::registry::canonical_stage(stage)?;
            let before = s.get_model_version(name, version)?;
            if canonical == "Production"
                && before.current_stage != "Production"
                && let Some(policy) = s.get_policy(name)?
            {
                s.check_protected_move(actor, name, &policy, version, Target::ProductionStage)?;
            }
            // Taking a version out of Production is a protected move too: owners only.
            if before.current_stage == "Production"
                && canonical != "Production"
                && s.get_policy(name)?.is_some()
            {
                actor.require(Role::Owner, "moving a version out of the Production stage")?;
            }
            let v = s.transition_model_version_stage(name, version, stage, archive_existing)?;
            Self::audit(s, actor, "version.stage", name, format!("model/{name}/version/{version}"),
                Some(json!({"stage": before.current_stage})),
                Some(json!({"stage": v.current_stage, "archive_existing_versions": archive_existing})))?;
            Ok(v)
        })
    }

    pub fn set_model_version_tag(
        &mut self,
        name: &str,
        version: &str,
        key: &str,
        value: &str,
    ) -> Result<()> {
        self.actor
            .require(Role::Contributor, "tagging a model version")?;
        let actor = self.actor;
        self.store.atomically(|s| {
            s.set_model_version_tag(name, version, key, value)?;
            Self::audit(
                s,
                actor,
                "version.tag.set",
                name,
                format!("model/{name}/version/{version}/tag/{key}"),
                None,
                Some(json!({"value": value})),
            )
        })
    }

    pub fn delete_model_version_tag(&mut self, name: &str, version: &str, key: &str) -> Result<()> {
        self.actor
            .require(Role::Contributor, "untagging a model version")?;
        let actor = self.actor;
        self.store.atomically(|s| {
            s.delete_model_version_tag(name, version, key)?;
            Self::audit(
                s,
                actor,
                "version.tag.delete",
                name,
                format!("model/{name}/version/{version}/tag/{key}"),
                None,
                None,
            )
        })
    }

    // ---- policies and approvals -------------------------------------------------------------

    /// Sets (or replaces) a model's promotion policy (owners only).
    pub fn set_policy(&mut self, name: &str, policy: &Policy) -> Result<()> {
        self.actor
            .require(Role::Owner, "setting a promotion policy")?;
        policy.validate()?;
        let actor = self.actor;
        self.store.atomically(|s| {
            s.get_registered_model(name)?;
            let before = s.get_policy(name)?;
            s.put_policy(name, policy, &actor.name)?;
            Self::audit(
                s,
                actor,
                "policy.set",
                name,
                format!("model/{name}/policy"),
                before.map(|p| serde_json::to_value(p).unwrap_or_default()),
                Some(serde_json::to_value(policy)?),
            )
        })
    }

    /// Approves a version for promotion (owners only; not its creator when the policy, or the
    /// default, says so).
    pub fn approve(
        &mut self,
        name: &str,
        version: &str,
        comment: Option<&str>,
    ) -> Result<Approval> {
        self.actor
            .require(Role::Owner, "approving a model version")?;
        let actor = self.actor;
        self.store.atomically(|s| {
            let v = s.get_model_version(name, version)?;
            let policy = s.get_policy(name)?.unwrap_or_default();
            if policy.approvals.distinct_from_creator && v.user_id == actor.name {
                return Err(StoreError::Denied(format!(
                    "`{}` created version {version} of model `{name}` and cannot approve it: an approver must be someone else",
                    actor.name
                )));
            }
            let at = now();
            let res = s.conn.execute(
                "INSERT INTO approvals (name, version, approver, comment, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, crate::registry::parse_version(version)?, actor.name, comment, at],
            );
            crate::map_conflict(res, crate::Entity::Approval, || format!("{name} version {version} by {}", actor.name))?;
            let approval = Approval {
                version: v.version.clone(),
                approver: actor.name.clone(),
                comment: comment.map(str::to_owned),
                at,
            };
            Self::audit(s, actor, "version.approve", name, format!("model/{name}/version/{version}"),
                None, Some(json!({"approver": actor.name, "comment": comment})))?;
            Ok(approval)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::{Approvals, Direction, Gate};
    use crate::tracking::Metric;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        alice: Actor,
        bob: Actor,
        carol: Actor,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::testing::fresh_store(dir.path()).unwrap();
        let alice = Actor::new("alice", Role::Contributor);
        store
            .governed(&alice)
            .create_registered_model("taxi", &[], None)
            .unwrap();
        Fixture {
            _dir: dir,
            store,
            alice,
            bob: Actor::new("bob", Role::Owner),
            carol: Actor::new("carol", Role::Owner),
        }
    }

    /// Registers a version (as `who`) whose source run logged `test r2` = `r2`.
    fn version(f: &mut Fixture, who: &Actor, r2: f64) -> Result<ModelVersion> {
        let exp = match f.store.get_experiment_by_name("e") {
            Ok(e) => e.experiment_id,
            Err(_) => f.store.create_experiment("e", None, &[]).unwrap(),
        };
        let run = f
            .store
            .create_run(&exp, &who.name, None, None, &[])
            .unwrap();
        let id = run.info.run_uuid;
        let metric = Metric {
            key: "test r2".into(),
            value: r2,
            timestamp: 1,
            step: 0,
        };
        f.store.log_batch(&id, &[metric], &[], &[]).unwrap();
        let source = format!("runs:/{id}/model");
        f.store
            .governed(who)
            .create_model_version(&NewModelVersion {
                name: "taxi",
                source: &source,
                run_id: Some(&id),
                ..NewModelVersion::default()
            })
    }

    fn policy(required: u32, on_registration: bool) -> Policy {
        Policy {
            gate: Some(Gate {
                metric: "test r2".into(),
                direction: Direction::Higher,
                min: Some(0.7),
                max: None,
                min_improvement: Some(0.01),
            }),
            approvals: Approvals {
                required,
                distinct_from_creator: true,
            },
            require_gate_for_registration: on_registration,
            ..Policy::default()
        }
    }

    fn denied(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Err(StoreError::Denied(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_worse_candidate_cannot_take_champion() {
        let mut f = fixture();
        let (alice, bob) = (f.alice.clone(), f.bob.clone());
        f.store
            .governed(&bob)
            .set_policy("taxi", &policy(1, false))
            .unwrap();
        version(&mut f, &alice, 0.80).unwrap();
        version(&mut f, &alice, 0.75).unwrap();
        f.store.governed(&bob).approve("taxi", "1", None).unwrap();
        f.store
            .governed(&bob)
            .approve("taxi", "2", Some("looks fine"))
            .unwrap();
        f.store
            .governed(&bob)
            .set_alias("taxi", "champion", "1")
            .unwrap();
        let msg = denied(f.store.governed(&bob).set_alias("taxi", "champion", "2"));
        assert!(
            msg.contains("metric `test r2` of version 2 is 0.75, which does not beat version 1 (0.8) by the minimum improvement 0.01"),
            "{msg}"
        );
        assert_eq!(
            f.store
                .get_model_version_by_alias("taxi", "champion")
                .unwrap()
                .version,
            "1"
        );
        // Unprotected aliases move freely, by contributors too.
        f.store
            .governed(&alice)
            .set_alias("taxi", "challenger", "2")
            .unwrap();
        let history = f.store.alias_history("taxi").unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(
            (history[0].alias.as_str(), history[0].version.as_deref()),
            ("champion", Some("1"))
        );
    }

    #[test]
    fn thresholds_roles_and_approvals_are_enforced() {
        let mut f = fixture();
        let (alice, bob, carol) = (f.alice.clone(), f.bob.clone(), f.carol.clone());
        f.store
            .governed(&bob)
            .set_policy("taxi", &policy(2, false))
            .unwrap();
        version(&mut f, &alice, 0.65).unwrap();
        let v2 = version(&mut f, &bob, 0.9).unwrap();
        assert_eq!(v2.user_id, "bob");
        let msg = denied(f.store.governed(&bob).set_alias("taxi", "champion", "1"));
        assert!(
            msg.contains("metric `test r2` of version 1 is 0.65, below the threshold min 0.7"),
            "{msg}"
        );
        assert!(
            msg.contains("version 1 has 0 of the 2 approval(s)"),
            "{msg}"
        );
        // A contributor may not move a protected alias at all.
        let msg = denied(f.store.governed(&alice).set_alias("taxi", "champion", "2"));
        assert!(msg.contains("needs the owner role"), "{msg}");
        // The creator cannot approve their own version; a contributor cannot approve.
        let msg = denied(f.store.governed(&bob).approve("taxi", "2", None));
        assert!(msg.contains("`bob` created version 2"), "{msg}");
        denied(f.store.governed(&alice).approve("taxi", "2", None));
        f.store.governed(&carol).approve("taxi", "2", None).unwrap();
        let msg = denied(f.store.governed(&carol).set_alias("taxi", "champion", "2"));
        assert!(
            msg.contains("version 2 has 1 of the 2 approval(s)"),
            "{msg}"
        );
        assert!(matches!(
            f.store.governed(&carol).approve("taxi", "2", None),
            Err(StoreError::AlreadyExists { .. })
        ));
        f.store
            .governed(&Actor::new("dave", Role::Owner))
            .approve("taxi", "2", None)
            .unwrap();
        // The version as a caller may write it (`02`): its approvals still count.
        f.store
            .governed(&carol)
            .set_alias("taxi", "champion", "02")
            .unwrap();
        // The Production stage is governed like a protected alias.
        let msg = denied(
            f.store
                .governed(&bob)
                .transition_stage("taxi", "1", "production", false),
        );
        assert!(msg.contains("the `Production` stage"), "{msg}");
        f.store
            .governed(&bob)
            .transition_stage("taxi", "2", "Production", true)
            .unwrap();
        // Removing a protected alias needs an owner.
        denied(f.store.governed(&alice).delete_alias("taxi", "champion"));
        let status = f.store.model_status("taxi").unwrap();
        assert_eq!(status["aliases"]["champion"], "2");
        assert_eq!(status["versions"][1]["approvals_counted"], 2);
        assert_eq!(status["versions"][0]["gate"]["passed"], false);
    }

    #[test]
    fn registration_can_require_the_gate() {
        let mut f = fixture();
        let (alice, bob) = (f.alice.clone(), f.bob.clone());
        f.store
            .governed(&bob)
            .set_policy("taxi", &policy(1, true))
            .unwrap();
        let msg = denied(version(&mut f, &alice, 0.5));
        assert!(
            msg.contains("requires registration to pass the gate"),
            "{msg}"
        );
        assert!(msg.contains("is 0.5, below the threshold min 0.7"), "{msg}");
        // Nothing was written: the next version is still number 1.
        assert_eq!(version(&mut f, &alice, 0.8).unwrap().version, "1");
        let report = f.store.verify_audit().unwrap();
        assert!(report.ok, "{report:?}");
        let actions: Vec<String> = f
            .store
            .list_audit(Some("taxi"), 100)
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(actions, ["model.create", "policy.set", "version.create"]);
    }

    #[test]
    fn no_policy_means_mlflow_behaviour() {
        let mut f = fixture();
        let alice = f.alice.clone();
        version(&mut f, &alice, 0.1).unwrap();
        f.store
            .governed(&alice)
            .set_alias("taxi", "champion", "1")
            .unwrap();
        // ...but approving one's own version is still refused.
        denied(
            f.store
                .governed(&Actor::new("alice", Role::Owner))
                .approve("taxi", "1", None),
        );
        // Readers change nothing.
        denied(
            f.store
                .governed(&Actor::new("r", Role::Reader))
                .set_alias("taxi", "x", "1"),
        );
    }

    /// A model's policy, approvals and alias history follow it through a rename, and go with
    /// it when it is deleted: a new model under either name starts with none of them.
    #[test]
    fn governance_records_follow_a_rename_and_go_with_a_delete() {
        let mut f = fixture();
        let (alice, bob) = (f.alice.clone(), f.bob.clone());
        f.store
            .governed(&bob)
            .set_policy("taxi", &policy(1, false))
            .unwrap();
        version(&mut f, &alice, 0.9).unwrap();
        f.store.governed(&bob).approve("taxi", "1", None).unwrap();
        f.store
            .governed(&bob)
            .set_alias("taxi", "champion", "1")
            .unwrap();
        let records = |f: &Fixture, name: &str| {
            (
                f.store.get_policy(name).unwrap().is_some(),
                f.store.approvals(name, None).unwrap().len(),
                f.store.alias_history(name).unwrap().len(),
            )
        };
        assert_eq!(records(&f, "taxi"), (true, 1, 1));
        f.store
            .governed(&bob)
            .rename_registered_model("taxi", "fares")
            .unwrap();
        assert_eq!(records(&f, "fares"), (true, 1, 1));
        assert_eq!(records(&f, "taxi"), (false, 0, 0));
        f.store
            .governed(&alice)
            .create_registered_model("taxi", &[], None)
            .unwrap();
        assert_eq!(records(&f, "taxi"), (false, 0, 0));
        f.store
            .governed(&bob)
            .delete_registered_model("fares")
            .unwrap();
        f.store
            .governed(&alice)
            .create_registered_model("fares", &[], None)
            .unwrap();
        assert_eq!(records(&f, "fares"), (false, 0, 0));
    }

    /// The protected-move decision, from facts alone: the gate's failures and too few
    /// approvals are each named; the creator's own approval does not count when the policy
    /// wants another's; approvals of other versions never count.
    #[test]
    fn a_protected_move_is_decided_from_its_facts_alone() {
        let approval = |version: &str, approver: &str| Approval {
            version: version.into(),
            approver: approver.into(),
            comment: None,
            at: "t".into(),
        };
        let policy = policy(1, false);
        let failed_gate = GateResult {
            metric: "test r2".into(),
            value: Some(0.5),
            metric_run: None,
            baseline_version: None,
            baseline_value: None,
            passed: false,
            failures: vec![
                "metric `test r2` of version 2 is 0.5, below the threshold min 0.7".into(),
            ],
        };
        let verdict = |gate: Option<&GateResult>, approvals: &[Approval]| {
            protected_move_verdict(&ProtectedMove {
                name: "taxi",
                version: "2",
                number: "2",
                creator: "alice",
                target: Target::Alias("champion"),
                policy: &policy,
                gate,
                approvals,
            })
        };
        assert!(verdict(None, &[approval("2", "bob")]).is_ok());
        // The creator's own approval, and another version's, do not count.
        let msg = denied(verdict(
            None,
            &[approval("2", "alice"), approval("1", "bob")],
        ));
        assert!(
            msg.starts_with("the promotion policy of model `taxi` forbids moving alias `champion` to version 2: ")
                && msg.contains("version 2 has 0 of the 1 approval(s) it needs from someone other than its creator"),
            "{msg}"
        );
        // Both failures named in one refusal.
        let msg = denied(verdict(Some(&failed_gate), &[]));
        assert!(
            msg.contains("below the threshold min 0.7; version 2 has 0 of the 1"),
            "{msg}"
        );
        let msg = denied(verdict(Some(&failed_gate), &[approval("2", "bob")]));
        assert!(!msg.contains("approval"), "{msg}");
    }
}
