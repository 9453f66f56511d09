//! API tokens: `slu_<id>_<secret>`. The id is public (it names the token in lists and audit
//! entries); the secret is 32 random bytes, stored only as `blake3(salt || secret)` with a
//! random salt per token. The plaintext is returned once, by [`Governed::create_token`].

use crate::db::{OptionalExtension, params};
use serde::Serialize;
use serde_json::json;

use super::{Actor, Governed, Role, random_hex};
use crate::{Result, Store, StoreError, now};

const PREFIX: &str = "slu_";

/// A token as lists show it: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub identity: String,
    pub role: Role,
    pub created_at: String,
    pub created_by: String,
    pub expires_at: Option<String>,
    pub revoked_at: Option<String>,
    pub job: Option<String>,
}

/// A token just created: the plaintext (shown once) and what is stored about it.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub token: String,
    pub info: TokenInfo,
}

/// `identity, role, salt, hash, expires_at, revoked_at` of a token.
type SecretRow = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

const COLUMNS: &str =
    "id, name, identity, role, created_at, created_by, expires_at, revoked_at, job_name";

fn from_row(r: &crate::db::Row<'_>) -> crate::db::Result<TokenInfo> {
    let role: String = r.get(3)?;
    Ok(TokenInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        identity: r.get(2)?,
        role: Role::parse(&role).unwrap_or(Role::Reader),
        created_at: r.get(4)?,
        created_by: r.get(5)?,
        expires_at: r.get(6)?,
        revoked_at: r.get(7)?,
        job: r.get(8)?,
    })
}

fn digest(salt: &str, secret: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(salt.as_bytes());
    h.update(secret.as_bytes());
    h.finalize().to_hex().to_string()
}

fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "invalid token name `{name}`: use 1 to 64 letters, digits, `-`, `_`, `.` or `@`"
        )))
    }
}

impl Store {
    /// Inserts a token and returns its plaintext; no audit entry (callers write it).
    fn insert_token(
        &self,
        name: &str,
        identity: &str,
        role: Role,
        expires_days: Option<u32>,
        created_by: &str,
        job: Option<&str>,
    ) -> Result<NewToken> {
        let id = random_hex(6)?;
        let secret = random_hex(32)?;
        let salt = random_hex(16)?;
        let created_at = now();
        let expires_at = expires_days
            .map(|d| {
                jiff::Timestamp::now()
                    .checked_add(jiff::SignedDuration::from_hours(i64::from(d) * 24))
                    .map(|t| format!("{t:.0}"))
                    .map_err(|e| StoreError::Invalid(format!("`--expires {d}`: {e}")))
            })
            .transpose()?;
        let res = self.conn.execute(
            "INSERT INTO tokens (id, name, identity, role, salt, hash, created_at, created_by, expires_at, job_name)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                id,
                name,
                identity,
                role.as_str(),
                salt,
                digest(&salt, &secret),
                created_at,
                created_by,
                expires_at,
                job
            ],
        );
        crate::map_conflict(res, crate::Entity::Token, || name.to_owned())?;
        Ok(NewToken {
            token: format!("{PREFIX}{id}_{secret}"),
            info: TokenInfo {
                id,
                name: name.to_owned(),
                identity: identity.to_owned(),
                role,
                created_at,
                created_by: created_by.to_owned(),
                expires_at,
                revoked_at: None,
                job: job.map(str::to_owned),
            },
        })
    }

    /// The actor a presented token stands for; `Unauthenticated` when it is malformed,
    /// unknown, revoked or expired (one message for all, so a guess learns nothing).
    pub fn authenticate(&self, token: &str) -> Result<Actor> {
        let bad = || StoreError::Unauthenticated("invalid, revoked or expired token".to_owned());
        let (id, secret) = token
            .trim()
            .strip_prefix(PREFIX)
            .and_then(|t| t.split_once('_'))
            .ok_or_else(bad)?;
        let row: Option<SecretRow> = self
            .conn
            .query_row(
                "SELECT identity, role, salt, hash, expires_at, revoked_at FROM tokens WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
            )
            .optional()?;
        let (identity, role, salt, hash, expires_at, revoked_at) = row.ok_or_else(bad)?;
        let presented = blake3::Hash::from_hex(digest(&salt, secret)).map_err(|_| bad())?;
        let stored = blake3::Hash::from_hex(&hash).map_err(|_| bad())?;
        // `blake3::Hash` compares in constant time.
        if presented != stored || revoked_at.is_some() {
            return Err(bad());
        }
        if let Some(exp) = expires_at {
            let exp: jiff::Timestamp = exp.parse().map_err(|_| bad())?;
            if exp <= jiff::Timestamp::now() {
                return Err(bad());
            }
        }
        Ok(Actor {
            name: identity,
            role: Role::parse(&role)?,
            token: Some(id.to_owned()),
        })
    }

    /// Tokens, oldest first; revoked and job tokens only with `all`.
    pub fn list_tokens(&self, all: bool) -> Result<Vec<TokenInfo>> {
        let filter = if all {
            ""
        } else {
            "WHERE revoked_at IS NULL AND job_name IS NULL"
        };
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM tokens {filter} ORDER BY created_at, rowid"
        ))?;
        let rows = stmt.query_map((), from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl Governed<'_> {
    /// Creates a token (owners only) and returns its plaintext, which is not stored.
    pub fn create_token(
        &mut self,
        name: &str,
        role: Role,
        expires_days: Option<u32>,
    ) -> Result<NewToken> {
        check_name(name)?;
        if expires_days == Some(0) {
            return Err(StoreError::Invalid(
                "`--expires 0` would create an expired token: give a number of days, at least 1"
                    .into(),
            ));
        }
        self.actor.require(Role::Owner, "creating a token")?;
        let actor = self.actor.clone();
        self.store.atomically(|s| {
            let new = s.insert_token(name, name, role, expires_days, &actor.name, None)?;
            s.append_audit(
                &actor,
                "token.create",
                None,
                &format!("token/{}", new.info.id),
                None,
                Some(&json!({"name": name, "role": role, "expires_at": new.info.expires_at})),
            )?;
            Ok(new)
        })
    }

    /// A token for the steps of one job: it acts as the job's creator, with at most the
    /// contributor role, and is revoked when the job ends ([`Governed::revoke_job_token`]).
    pub fn create_job_token(&mut self, job: &str) -> Result<NewToken> {
        self.actor.require(Role::Contributor, "creating a job")?;
        let identity = self.actor.name.clone();
        let role = self.actor.role;
        self.job_scoped_token(&format!("job:{job}"), job, &identity, role, None)
    }

    /// A token to resume job `job` on behalf of `identity`, who submitted it (a team server
    /// resuming a job whose process died): it acts as them, at most as a contributor, for this
    /// job only (revoked with the job's tokens when it ends) and for 7 days at most. Owners only.
    pub fn create_resume_token(
        &mut self,
        job: &str,
        identity: &str,
        role: Role,
    ) -> Result<NewToken> {
        self.actor
            .require(Role::Owner, "resuming a job on its submitter's behalf")?;
        self.job_scoped_token(
            &format!("resume:{job}"),
            job,
            identity,
            role,
            Some("resume"),
        )
    }

    /// A token named `name` acting as `identity` for job `job` only (at most a contributor, 7
    /// days at most, revoked with the job's tokens), made by the acting identity and audited;
    /// `purpose` says why when it is not the job's own.
    fn job_scoped_token(
        &mut self,
        name: &str,
        job: &str,
        identity: &str,
        role: Role,
        purpose: Option<&str>,
    ) -> Result<NewToken> {
        let actor = self.actor.clone();
        let role = role.min(Role::Contributor);
        self.store.atomically(|s| {
            let new = s.insert_token(name, identity, role, Some(7), &actor.name, Some(job))?;
            let mut after = json!({"job": job, "role": role, "identity": identity});
            if let Some(purpose) = purpose {
                after["for"] = json!(purpose);
            }
            s.append_audit(
                &actor,
                "token.create",
                None,
                &format!("token/{}", new.info.id),
                None,
                Some(&after),
            )?;
            Ok(new)
        })
    }

    /// Revokes a job's tokens (when the job ends).
    pub fn revoke_job_token(&mut self, job: &str) -> Result<()> {
        let actor = self.actor.clone();
        self.store.atomically(|s| {
            let n = s.conn.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE job_name = ?1 AND revoked_at IS NULL",
                params![job, now()],
            )?;
            if n > 0 {
                s.append_audit(
                    &actor,
                    "token.revoke",
                    None,
                    &format!("job/{job}"),
                    None,
                    Some(&json!({"job": job})),
                )?;
            }
            Ok(())
        })
    }

    /// Revokes the active token with this name or id (owners only).
    pub fn revoke_token(&mut self, name_or_id: &str) -> Result<TokenInfo> {
        self.actor.require(Role::Owner, "revoking a token")?;
        let actor = self.actor.clone();
        self.store.atomically(|s| {
            let found = s
                .conn
                .query_row(
                    &format!(
                        "SELECT {COLUMNS} FROM tokens WHERE (name = ?1 OR id = ?1) AND revoked_at IS NULL
                         ORDER BY job_name IS NOT NULL LIMIT 1"
                    ),
                    [name_or_id],
                    from_row,
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound {
                    what: crate::Entity::Token,
                    name: name_or_id.to_owned(),
                })?;
            let at = now();
            s.conn.execute(
                "UPDATE tokens SET revoked_at = ?2 WHERE id = ?1",
                params![found.id, at],
            )?;
            s.append_audit(
                &actor,
                "token.revoke",
                None,
                &format!("token/{}", found.id),
                Some(&json!({"name": found.name, "role": found.role})),
                Some(&json!({"revoked_at": at})),
            )?;
            Ok(TokenInfo {
                revoked_at: Some(at),
                ..found
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::testing::fresh_store(dir.path()).unwrap();
        (dir, store)
    }

    #[test]
    fn tokens_authenticate_until_revoked_and_store_no_secret() {
        let dir = tempfile::tempdir().unwrap();
        let location = crate::testing::fresh_location(dir.path()).unwrap();
        let mut store = Store::open_at(&location).unwrap();
        let owner = Actor::new("admin", Role::Owner);
        let new = store
            .governed(&owner)
            .create_token("alice", Role::Contributor, Some(30))
            .unwrap();
        assert!(new.token.starts_with("slu_"));
        let actor = store.authenticate(&new.token).unwrap();
        assert_eq!(
            (actor.name.as_str(), actor.role),
            ("alice", Role::Contributor)
        );
        // A wrong secret with the right id, garbage, and an unknown id are all refused.
        let (head, _) = new.token.rsplit_once('_').unwrap();
        for bad in [
            format!("{head}_{}", "0".repeat(64)),
            "garbage".into(),
            "slu_nope_x".into(),
        ] {
            assert!(matches!(
                store.authenticate(&bad),
                Err(StoreError::Unauthenticated(_))
            ));
        }
        // The secret is nowhere in the database (its file, or every stored token column).
        let secret = new.token.rsplit_once('_').unwrap().1;
        let stored: Vec<String> = store
            .conn
            .query_map("SELECT * FROM tokens", (), |r| {
                (0..12)
                    .map_while(|i| r.get::<_, crate::db::Value>(i).ok())
                    .map(|v| Ok(format!("{v:?}")))
                    .collect::<crate::db::Result<Vec<_>>>()
                    .map(|v| v.join(" "))
            })
            .unwrap();
        assert!(!stored.is_empty() && stored.iter().all(|row| !row.contains(secret)));
        drop(store);
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let bytes = std::fs::read(entry.unwrap().path()).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "secret found in the database"
            );
        }
        let mut store = Store::open_at(&location).unwrap();
        assert!(
            store
                .governed(&Actor::new("bob", Role::Contributor))
                .revoke_token("alice")
                .is_err()
        );
        store.governed(&owner).revoke_token("alice").unwrap();
        assert!(store.authenticate(&new.token).is_err());
        assert!(store.list_tokens(false).unwrap().is_empty());
        assert_eq!(store.list_tokens(true).unwrap().len(), 1);
    }

    #[test]
    fn expired_tokens_are_refused() {
        let (_d, mut store) = store();
        let new = store
            .governed(&Actor::local())
            .create_token("old", Role::Reader, Some(1))
            .unwrap();
        assert!(store.authenticate(&new.token).is_ok());
        store
            .conn
            .execute(
                "UPDATE tokens SET expires_at = '2020-01-01T00:00:00Z' WHERE id = ?1",
                [&new.info.id],
            )
            .unwrap();
        assert!(matches!(
            store.authenticate(&new.token),
            Err(StoreError::Unauthenticated(_))
        ));
        assert!(
            store
                .governed(&Actor::local())
                .create_token("zero", Role::Reader, Some(0))
                .is_err()
        );
    }

    #[test]
    fn only_owners_create_tokens_and_names_are_checked() {
        let (_d, mut store) = store();
        let contributor = Actor::new("c", Role::Contributor);
        assert!(matches!(
            store
                .governed(&contributor)
                .create_token("x", Role::Owner, None),
            Err(StoreError::Denied(_))
        ));
        let owner = Actor::local();
        assert!(matches!(
            store
                .governed(&owner)
                .create_token("a b", Role::Reader, None),
            Err(StoreError::Invalid(_))
        ));
        store
            .governed(&owner)
            .create_token("ci", Role::Reader, None)
            .unwrap();
        assert!(matches!(
            store
                .governed(&owner)
                .create_token("ci", Role::Reader, None),
            Err(StoreError::AlreadyExists { .. })
        ));
    }
}
