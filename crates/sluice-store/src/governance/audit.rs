//! The audit log: one entry per governed change (registry, policies, approvals, tokens, job
//! creation), hash-chained. Each entry's `hash` is `blake3(prev_hash || content)`, where
//! `content` is the canonical JSON of its other fields; `audit_head` records the last sequence
//! number and hash in the same transaction.
//!
//! [`Store::verify_audit`] recomputes the chain: an edited entry breaks its own hash, a deleted
//! entry leaves a gap in the sequence and a broken link, and deleting the newest entries
//! disagrees with the head. What it cannot detect: someone with write access to the database
//! file who rewrites every hash after an edit *and* the head (the chain has no secret key), or
//! who deletes the whole log together with its head (reported as an empty log).

use crate::db::{OptionalExtension, params};
use serde::Serialize;
use serde_json::{Value, json};

use super::Actor;
use crate::{Result, Store, now};

const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audit entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub model: Option<String>,
    pub target: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub prev_hash: String,
    pub hash: String,
}

/// Which audit entries [`Store::search_audit`] keeps (each field, when given, narrows them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// About this registered model.
    pub model: Option<String>,
    /// Made by this identity (with any of its tokens, or none).
    pub actor: Option<String>,
    /// This action (`alias.set`) or those under it (`infra` keeps `infra.compute.create`, ...).
    pub action: Option<String>,
    /// Recorded at or after this time (RFC 3339, UTC, as entries record it).
    pub since: Option<String>,
    /// Recorded before this time.
    pub until: Option<String>,
    /// Older than this entry (the next page back).
    pub before_seq: Option<i64>,
}

/// What `verify_audit` found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditReport {
    pub ok: bool,
    pub entries: i64,
    pub head_seq: Option<i64>,
    pub problems: Vec<String>,
}

/// The hash of an entry: `blake3(prev_hash || canonical JSON of the content)`.
#[expect(clippy::too_many_arguments, reason = "the columns of one row")]
fn entry_hash(
    prev_hash: &str,
    seq: i64,
    at: &str,
    actor: &str,
    action: &str,
    model: Option<&str>,
    target: &str,
    before: Option<&str>,
    after: Option<&str>,
) -> String {
    let content = json!([seq, at, actor, action, model, target, before, after]).to_string();
    let mut h = blake3::Hasher::new();
    h.update(prev_hash.as_bytes());
    h.update(content.as_bytes());
    h.finalize().to_hex().to_string()
}

/// The raw columns of one row, as stored (JSON fields still text).
struct Raw {
    seq: i64,
    at: String,
    actor: String,
    action: String,
    model: Option<String>,
    target: String,
    before: Option<String>,
    after: Option<String>,
    prev_hash: String,
    hash: String,
}

impl Raw {
    const SELECT: &'static str = "SELECT seq, at, actor, action, model, target, before, after, prev_hash, hash FROM audit_log";

    fn from_row(r: &crate::db::Row<'_>) -> crate::db::Result<Self> {
        Ok(Self {
            seq: r.get(0)?,
            at: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            model: r.get(4)?,
            target: r.get(5)?,
            before: r.get(6)?,
            after: r.get(7)?,
            prev_hash: r.get(8)?,
            hash: r.get(9)?,
        })
    }

    fn computed_hash(&self) -> String {
        entry_hash(
            &self.prev_hash,
            self.seq,
            &self.at,
            &self.actor,
            &self.action,
            self.model.as_deref(),
            &self.target,
            self.before.as_deref(),
            self.after.as_deref(),
        )
    }

    fn entry(self) -> AuditEntry {
        let parse =
            |s: Option<String>| s.map(|t| serde_json::from_str(&t).unwrap_or(Value::String(t)));
        AuditEntry {
            seq: self.seq,
            at: self.at,
            actor: self.actor,
            action: self.action,
            model: self.model,
            target: self.target,
            before: parse(self.before),
            after: parse(self.after),
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

impl Store {
    /// Appends an entry. Call inside a transaction ([`Store::atomically`]), so the entry and
    /// the change it records land together and two writers cannot fork the chain.
    pub(crate) fn append_audit(
        &self,
        actor: &Actor,
        action: &str,
        model: Option<&str>,
        target: &str,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> Result<()> {
        let head: Option<(i64, String)> = self
            .conn
            .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", (), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let (prev_seq, prev_hash) = head.unwrap_or((0, GENESIS.to_owned()));
        let seq = prev_seq + 1;
        let at = now();
        let who = match &actor.token {
            Some(id) => format!("{} (token {id})", actor.name),
            None => actor.name.clone(),
        };
        let before = before.map(Value::to_string);
        let after = after.map(Value::to_string);
        let hash = entry_hash(
            &prev_hash,
            seq,
            &at,
            &who,
            action,
            model,
            target,
            before.as_deref(),
            after.as_deref(),
        );
        self.conn.execute(
            "INSERT INTO audit_log (seq, at, actor, action, model, target, before, after, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![seq, at, who, action, model, target, before, after, prev_hash, hash],
        )?;
        self.conn.execute(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            params![seq, hash],
        )?;
        Ok(())
    }

    /// The number and hash of the newest audit entry about a registered model (`None` before
    /// the first): every governed change to the registry (a model or version created, an alias,
    /// stage, tag, policy or approval changed) moves it; jobs and tokens do not.
    pub fn registry_head(&self) -> Result<Option<(i64, String)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT seq, hash FROM audit_log WHERE model IS NOT NULL ORDER BY seq DESC LIMIT 1",
                (),
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    /// Audit entries, oldest first; only those about `model` when given.
    pub fn list_audit(&self, model: Option<&str>, limit: usize) -> Result<Vec<AuditEntry>> {
        self.search_audit(
            &AuditFilter {
                model: model.map(str::to_owned),
                ..AuditFilter::default()
            },
            limit,
        )
    }

    /// The newest `limit` audit entries that `filter` keeps, oldest first.
    pub fn search_audit(&self, filter: &AuditFilter, limit: usize) -> Result<Vec<AuditEntry>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare(&format!(
            "SELECT * FROM ({} WHERE (CAST(?1 AS TEXT) IS NULL OR model = ?1)
                AND (CAST(?3 AS TEXT) IS NULL OR actor = ?3 OR substr(actor, 1, length(?3) + 8) = ?3 || ' (token ')
                AND (CAST(?4 AS TEXT) IS NULL OR action = ?4 OR substr(action, 1, length(?4) + 1) = ?4 || '.')
                AND (CAST(?5 AS TEXT) IS NULL OR at >= ?5)
                AND (CAST(?6 AS TEXT) IS NULL OR at < ?6)
                AND (CAST(?7 AS BIGINT) IS NULL OR seq < ?7)
             ORDER BY seq DESC LIMIT ?2) AS recent ORDER BY seq",
            Raw::SELECT
        ))?;
        let rows = stmt.query_map(
            params![
                filter.model,
                limit,
                filter.actor,
                filter.action,
                filter.since,
                filter.until,
                filter.before_seq
            ],
            Raw::from_row,
        )?;
        rows.map(|r| Ok(r?.entry())).collect()
    }

    /// Recomputes the chain and compares it with the recorded head.
    pub fn verify_audit(&self) -> Result<AuditReport> {
        let mut problems = Vec::new();
        let mut stmt = self
            .conn
            .prepare(&format!("{} ORDER BY seq", Raw::SELECT))?;
        let mut expected_seq = 1;
        let mut prev_hash = GENESIS.to_owned();
        let mut entries = 0;
        for row in stmt.query_map((), Raw::from_row)? {
            let row = row?;
            entries += 1;
            if row.seq != expected_seq {
                problems.push(format!(
                    "entries {expected_seq} to {} are missing (deleted)",
                    row.seq - 1
                ));
            }
            if row.prev_hash != prev_hash {
                problems.push(format!(
                    "entry {} does not link to the entry before it (an entry before it was deleted or edited)",
                    row.seq
                ));
            }
            if row.computed_hash() != row.hash {
                problems.push(format!(
                    "entry {} was modified: its content does not match its hash",
                    row.seq
                ));
            }
            expected_seq = row.seq + 1;
            prev_hash = row.hash;
        }
        let head: Option<(i64, String)> = self
            .conn
            .query_row("SELECT seq, hash FROM audit_head WHERE id = 1", (), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let last = expected_seq - 1;
        match &head {
            None if entries > 0 => {
                problems.push("the audit head (last sequence number and hash) is missing".into());
            }
            Some((seq, hash)) if *seq != last || *hash != prev_hash => {
                if *seq > last {
                    problems.push(format!(
                        "the log ends at entry {last} but {seq} entries were written: the newest entries were deleted"
                    ));
                } else {
                    problems.push(format!(
                        "the audit head (entry {seq}) does not match the last entry ({last})"
                    ));
                }
            }
            _ => {}
        }
        Ok(AuditReport {
            ok: problems.is_empty(),
            entries,
            head_seq: head.map(|h| h.0),
            problems,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::Role;

    fn store_with_entries(n: usize) -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::testing::fresh_store(dir.path()).unwrap();
        let actor = Actor::new("alice", Role::Owner);
        for i in 0..n {
            store
                .atomically(|s| {
                    s.append_audit(
                        &actor,
                        "test",
                        Some("m"),
                        &format!("t{i}"),
                        None,
                        Some(&json!({"i": i})),
                    )
                })
                .unwrap();
        }
        (dir, store)
    }

    #[test]
    fn an_intact_chain_verifies() {
        let (_d, store) = store_with_entries(4);
        let r = store.verify_audit().unwrap();
        assert!(r.ok, "{r:?}");
        assert_eq!(r.entries, 4);
        assert_eq!(store.list_audit(Some("m"), 2).unwrap()[0].seq, 3);
        assert!(store.list_audit(Some("other"), 10).unwrap().is_empty());
    }

    #[test]
    fn entries_are_found_by_actor_action_time_and_page() {
        let (_d, mut store) = store_with_entries(4);
        // Bob with a token, and without one; Bobby is someone else.
        let bob = Actor {
            name: "bob".into(),
            role: Role::Owner,
            token: Some("t1".into()),
        };
        let plain_bob = Actor {
            token: None,
            ..bob.clone()
        };
        let bobby = Actor {
            name: "bobby".into(),
            ..plain_bob.clone()
        };
        for (who, action) in [
            (&bob, "infra.compute.create"),
            (&plain_bob, "infra"),
            (&bobby, "infrastructure.x"),
        ] {
            store
                .atomically(|s| s.append_audit(who, action, None, "x", None, None))
                .unwrap();
        }
        let seqs = |f: AuditFilter, limit: usize| -> Vec<i64> {
            store
                .search_audit(&f, limit)
                .unwrap()
                .iter()
                .map(|e| e.seq)
                .collect()
        };
        let all = AuditFilter::default();
        assert_eq!(seqs(all.clone(), 100), [1, 2, 3, 4, 5, 6, 7]);
        let by = |actor: &str| AuditFilter {
            actor: Some(actor.into()),
            ..AuditFilter::default()
        };
        assert_eq!(seqs(by("bob"), 100), [5, 6]);
        assert_eq!(seqs(by("bobby"), 100), [7]);
        assert!(seqs(by("nobody"), 100).is_empty());
        // An action and those under it, not others that merely start alike.
        let doing = |action: &str| AuditFilter {
            action: Some(action.into()),
            ..AuditFilter::default()
        };
        assert_eq!(seqs(doing("infra"), 100), [5, 6]);
        assert_eq!(seqs(doing("infra.compute.create"), 100), [5]);
        assert_eq!(seqs(doing("test"), 100), [1, 2, 3, 4]);
        // Times: since inclusive, until exclusive.
        let at = store.search_audit(&all, 100).unwrap()[4].at.clone();
        let since = AuditFilter {
            since: Some(at.clone()),
            ..AuditFilter::default()
        };
        let kept = store.search_audit(&since, 100).unwrap();
        assert!(kept.iter().any(|e| e.seq == 5) && kept.iter().all(|e| e.at >= at));
        let until = AuditFilter {
            until: Some(at.clone()),
            ..AuditFilter::default()
        };
        let kept = store.search_audit(&until, 100).unwrap();
        assert!(kept.iter().all(|e| e.seq != 5 && e.at < at));
        // Pages back: the newest two, then the two before them.
        assert_eq!(seqs(all.clone(), 2), [6, 7]);
        let back = AuditFilter {
            before_seq: Some(6),
            ..AuditFilter::default()
        };
        assert_eq!(seqs(back, 2), [4, 5]);
    }

    #[test]
    fn edits_and_deletions_are_detected() {
        let (_d, store) = store_with_entries(4);
        store
            .conn
            .execute("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2", ())
            .unwrap();
        let r = store.verify_audit().unwrap();
        assert!(!r.ok);
        assert!(r.problems[0].contains("entry 2 was modified"), "{r:?}");

        let (_d, store) = store_with_entries(4);
        store
            .conn
            .execute("DELETE FROM audit_log WHERE seq = 2", ())
            .unwrap();
        let r = store.verify_audit().unwrap();
        assert!(!r.ok);
        assert!(
            r.problems
                .iter()
                .any(|p| p.contains("entries 2 to 2 are missing")),
            "{r:?}"
        );

        let (_d, store) = store_with_entries(4);
        store
            .conn
            .execute("DELETE FROM audit_log WHERE seq = 4", ())
            .unwrap();
        let r = store.verify_audit().unwrap();
        assert!(!r.ok);
        assert!(
            r.problems[0].contains("newest entries were deleted"),
            "{r:?}"
        );
    }
}
