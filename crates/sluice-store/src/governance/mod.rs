//! Governance: who may do what (tokens with roles), which versions may hold protected aliases
//! (promotion policies and approvals), what was done (the hash-chained audit log), and how a
//! model was made (lineage).
//!
//! Every governed change goes through [`Governed`] (`store.governed(&actor)`), which the HTTP
//! server and the command line both use: a policy is enforced in one place, and each change and
//! its audit entry are written in one transaction.

mod audit;
mod lineage;
mod ops;
mod policy;
mod tokens;
mod webhooks;

use serde::{Deserialize, Serialize};

pub use audit::{AuditEntry, AuditFilter, AuditReport};
pub use lineage::StepCode;
pub use ops::{AliasMove, Approval};
pub use policy::{Approvals, Direction, Gate, GateResult, Policy};
pub use tokens::{NewToken, TokenInfo};
pub use webhooks::{
    Delivery, NewWebhook, Webhook, WebhookUpdate, check_event, check_name, check_url, url_origin,
    url_parts,
};

use crate::{Result, Store, StoreError};

/// A role, after Azure's built-in roles: each includes what the ones before it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything.
    Reader,
    /// Also creates experiments, runs and jobs, logs, registers versions, sets aliases that
    /// no policy protects.
    Contributor,
    /// Also approves, moves protected aliases, manages tokens and policies, deletes.
    Owner,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Reader, Role::Contributor, Role::Owner];

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Contributor => "contributor",
            Role::Owner => "owner",
        }
    }

    pub fn parse(s: &str) -> Result<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "unknown role `{s}`: expected `reader`, `contributor` or `owner`"
                ))
            })
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is acting: an identity and its role. With authentication off it is the local user,
/// as owner; with a token, the token's identity and role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub name: String,
    pub role: Role,
    /// The token it authenticated with (its public id), if any.
    pub token: Option<String>,
}

impl Actor {
    #[must_use]
    pub fn new(name: impl Into<String>, role: Role) -> Self {
        Self {
            name: name.into(),
            role,
            token: None,
        }
    }

    /// The local operating-system user, as owner (authentication off).
    #[must_use]
    pub fn local() -> Self {
        Self::new(local_user(), Role::Owner)
    }

    /// Refuses unless this actor has at least `role`.
    pub fn require(&self, role: Role, what: &str) -> Result<()> {
        if self.role >= role {
            Ok(())
        } else {
            Err(StoreError::Denied(format!(
                "`{}` has the {} role; {what} needs the {role} role",
                self.name, self.role
            )))
        }
    }
}

/// The local user's name (`USER`, else `LOGNAME`).
#[must_use]
pub fn local_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The store acting for one actor: every method checks the actor's role and the model's
/// policy, makes the change and appends its audit entry, all in one transaction.
pub struct Governed<'a> {
    store: &'a mut Store,
    actor: &'a Actor,
}

impl Store {
    /// The store acting for `actor`.
    pub fn governed<'a>(&'a mut self, actor: &'a Actor) -> Governed<'a> {
        Governed { store: self, actor }
    }

    /// Who acts for calls that carry no identity of their own (job creation): the local user
    /// unless the command line says otherwise.
    #[must_use]
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub fn set_actor(&mut self, actor: Actor) {
        self.actor = actor;
    }

    /// Runs `f` in one transaction (a savepoint when one is already open): all of its writes
    /// land, or none. A new transaction takes the write lock at once (`BEGIN IMMEDIATE`), so a
    /// check made inside it still holds when the write happens, across processes too.
    pub(crate) fn atomically<T>(&mut self, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        self.batch(f)
    }

    /// Runs several writes as one transaction (a savepoint inside an open one): one commit
    /// instead of one each, and all or none of them land. For the engine's bookkeeping of a
    /// step (never for governed changes: those go through [`Store::governed`]).
    pub fn batch<T>(&mut self, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        let outer = self.conn.begin()?;
        let res = f(self);
        match (self.conn.finish(outer, res.is_ok()), res) {
            (Ok(()), res) => res,
            (Err(e), Ok(_)) => Err(e.into()),
            (Err(_), Err(e)) => Err(e),
        }
    }
}

/// `bytes` random bytes from the operating system's generator.
fn random_bytes(bytes: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| StoreError::Invalid(format!("the system random generator failed: {e}")))?;
    Ok(buf)
}

/// A random hex string of `bytes` bytes from the operating system's generator.
pub(crate) fn random_hex(bytes: usize) -> Result<String> {
    Ok(hex(&random_bytes(bytes)?))
}

/// A random (version 4) UUID, hyphenated, as MLflow's ids and delivery ids are.
pub fn uuid4() -> Result<String> {
    let mut b = random_bytes(16)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
