//! MLflow's model registry webhooks: a URL, the registry events it is sent (`entity.action`
//! names such as `model_version.created`), an optional secret that signs each delivery, and
//! whether it is active. Creating, changing and deleting one is an owner's change, audited like
//! the registry's; the secret is stored for signing and never shown.

use crate::db::{OptionalExtension, params};
use serde::Serialize;
use serde_json::{Value, json};

use super::{Governed, Role, uuid4};
use crate::{Result, Store, StoreError};

/// Each entity's events, as MLflow defines them (`WebhookEntity` and its valid actions).
const EVENTS: &[(&str, &[&str])] = &[
    ("registered_model", &["created"]),
    ("model_version", &["created"]),
    ("model_version_tag", &["set", "deleted"]),
    ("model_version_alias", &["created", "deleted"]),
    ("prompt", &["created"]),
    ("prompt_version", &["created"]),
    ("prompt_tag", &["set", "deleted"]),
    ("prompt_version_tag", &["set", "deleted"]),
    ("prompt_alias", &["created", "deleted"]),
    // Accepted as MLflow 3.17 accepts it; fired by MLflow's AI gateway, which Sluice has not.
    ("budget_policy", &["exceeded"]),
];

/// A webhook as the API shows it (never its secret).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Webhook {
    pub webhook_id: String,
    pub name: String,
    pub description: Option<String>,
    pub url: String,
    /// `entity.action` names, in the order given.
    pub events: Vec<String>,
    /// `ACTIVE` or `DISABLED`.
    pub status: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
}

/// A webhook to deliver an event to: where, and the secret to sign with.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub webhook: Webhook,
    pub secret: Option<String>,
}

/// What creating a webhook takes.
#[derive(Debug, Clone, Default)]
pub struct NewWebhook<'a> {
    pub name: &'a str,
    pub url: &'a str,
    pub events: &'a [String],
    pub description: Option<&'a str>,
    pub secret: Option<&'a str>,
    pub status: Option<&'a str>,
}

/// What an update changes (`None`: left as it is).
#[derive(Debug, Clone, Default)]
pub struct WebhookUpdate<'a> {
    pub name: Option<&'a str>,
    pub url: Option<&'a str>,
    pub events: Option<&'a [String]>,
    pub description: Option<&'a str>,
    pub secret: Option<&'a str>,
    pub status: Option<&'a str>,
}

/// Checks an `entity.action` event name against MLflow's.
pub fn check_event(event: &str) -> Result<()> {
    let Some((entity, action)) = event.split_once('.') else {
        return Err(StoreError::Invalid(format!(
            "Invalid event string format: {event}. Expected format: 'entity.action' (e.g., 'registered_model.created')"
        )));
    };
    let Some((_, actions)) = EVENTS.iter().find(|(e, _)| *e == entity) else {
        return Err(StoreError::Invalid(format!(
            "Invalid entity '{entity}' in event {event}: use one of {}",
            EVENTS
                .iter()
                .map(|(e, _)| *e)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    };
    if actions.contains(&action) {
        Ok(())
    } else {
        let mut valid: Vec<&str> = actions.to_vec();
        valid.sort_unstable();
        Err(StoreError::Invalid(format!(
            "Invalid action '{action}' for entity '{entity}'. Valid actions are: {valid:?}"
        )))
    }
}

/// MLflow's rule for a webhook's name: 1 to 63 letters, digits, `.`, `_` and `-`, starting and
/// ending with a letter or digit.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "Webhook name '{name}' is invalid. It must start and end with a letter or digit, be less than 63 characters long, and contain only letters, digits, dots (.), underscores (_), and hyphens (-)."
        )))
    }
}

fn check_events(events: &[String]) -> Result<()> {
    if events.is_empty() {
        return Err(StoreError::Invalid(
            "Webhook events must be a non-empty list of WebhookEvent objects: [].".into(),
        ));
    }
    events.iter().try_for_each(|e| check_event(e))
}

fn check_status(status: &str) -> Result<()> {
    if matches!(status, "ACTIVE" | "DISABLED") {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "Invalid webhook status '{status}': use ACTIVE or DISABLED"
        )))
    }
}

/// A URL's scheme (lower case), host (without brackets) and port (the scheme's default when
/// none is written); `None` without `scheme://`.
#[must_use]
pub fn url_parts(url: &str) -> Option<(String, String, u16)> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (h, rest) = v6.split_once(']').unwrap_or((v6, ""));
            (h, rest.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        },
    };
    let default = if scheme == "http" { 80 } else { 443 };
    let port = port.and_then(|p| p.parse().ok()).unwrap_or(default);
    Some((scheme, host.to_owned(), port))
}

/// A URL deliveries can go to, as MLflow checks it (before resolving its host): an `http` or
/// `https` URL with a host, its scheme among `schemes`.
pub fn check_url(url: &str, schemes: &[String]) -> Result<()> {
    if url.trim().is_empty() {
        return Err(StoreError::Invalid(format!(
            "Webhook URL cannot be empty or just whitespace: '{url}'"
        )));
    }
    let Some((scheme, host, _)) = url_parts(url) else {
        return Err(StoreError::Invalid(format!(
            "Invalid webhook URL '{url}': it needs a scheme and a host, e.g. https://ci.example.com/hook"
        )));
    };
    if !schemes.contains(&scheme) || !matches!(scheme.as_str(), "http" | "https") {
        return Err(StoreError::Invalid(format!(
            "Invalid webhook URL scheme: '{scheme}'. Allowed schemes are: {}.",
            schemes.join(", ")
        )));
    }
    if host.is_empty() {
        return Err(StoreError::Invalid(format!(
            "Webhook URL must include a hostname: '{url}'"
        )));
    }
    Ok(())
}

const COLUMNS: &str = "webhook_id, name, description, url, events, status, creation_timestamp, last_updated_timestamp, secret";

fn from_row(r: &crate::db::Row<'_>) -> crate::db::Result<(Webhook, Option<String>, String)> {
    let events: String = r.get(4)?;
    Ok((
        Webhook {
            webhook_id: r.get(0)?,
            name: r.get(1)?,
            description: r.get(2)?,
            url: r.get(3)?,
            events: Vec::new(),
            status: r.get(5)?,
            creation_timestamp: r.get(6)?,
            last_updated_timestamp: r.get(7)?,
        },
        r.get(8)?,
        events,
    ))
}

fn with_events((mut w, secret, events): (Webhook, Option<String>, String)) -> Result<Delivery> {
    w.events = serde_json::from_str(&events)
        .map_err(|e| StoreError::Corrupt(format!("webhook {}: events: {e}", w.webhook_id)))?;
    Ok(Delivery { webhook: w, secret })
}

/// A URL's scheme and host only: its path and query may hold a receiver's own secret (a chat
/// hook's token), which the audit log (readable by readers) and the log do not show.
#[must_use]
pub fn url_origin(url: &str) -> String {
    url_parts(url).map_or_else(String::new, |(scheme, host, _)| {
        format!("{scheme}://{host}")
    })
}

fn audit_json(w: &Webhook, has_secret: bool) -> Value {
    json!({"name": w.name, "url": url_origin(&w.url), "events": w.events, "status": w.status,
           "description": w.description, "secret": has_secret})
}

impl Store {
    fn webhook_row(&self, id: &str) -> Result<Delivery> {
        let row = self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM webhooks WHERE webhook_id = ?1"),
                [id],
                from_row,
            )
            .optional()?;
        match row {
            Some(row) => with_events(row),
            None => Err(StoreError::NotFound {
                what: crate::Entity::Webhook,
                name: id.to_owned(),
            }),
        }
    }

    /// The webhook `id`.
    pub fn get_webhook(&self, id: &str) -> Result<Webhook> {
        Ok(self.webhook_row(id)?.webhook)
    }

    /// The webhook `id` with its secret, to deliver to.
    pub fn webhook_delivery(&self, id: &str) -> Result<Delivery> {
        self.webhook_row(id)
    }

    /// Webhooks newest first (as MLflow lists them), `max` from `offset`, and the offset of the
    /// next page if any.
    pub fn list_webhooks(
        &self,
        max: usize,
        offset: usize,
    ) -> Result<(Vec<Webhook>, Option<usize>)> {
        let rows = self.conn.query_map(
            &format!(
                "SELECT {COLUMNS} FROM webhooks ORDER BY creation_timestamp DESC, webhook_id LIMIT ?1 OFFSET ?2"
            ),
            params![i64::try_from(max + 1).unwrap_or(i64::MAX), i64::try_from(offset).unwrap_or(i64::MAX)],
            from_row,
        )?;
        let rows = rows
            .into_iter()
            .map(|r| with_events(r).map(|d| d.webhook))
            .collect::<Result<Vec<_>>>()?;
        Ok(crate::page(rows, max, offset))
    }

    /// The active webhooks, with their secrets (a row whose events do not read is skipped: it
    /// cannot be subscribed to anything known).
    pub fn active_webhooks(&self) -> Result<Vec<Delivery>> {
        let rows = self.conn.query_map(
            &format!(
                "SELECT {COLUMNS} FROM webhooks WHERE status = 'ACTIVE' ORDER BY creation_timestamp, webhook_id"
            ),
            (),
            from_row,
        )?;
        Ok(rows
            .into_iter()
            .filter_map(|row| with_events(row).ok())
            .collect())
    }
}

impl Governed<'_> {
    /// Creates a webhook (owners only), its URL's scheme among `schemes`.
    pub fn create_webhook(&mut self, new: &NewWebhook<'_>, schemes: &[String]) -> Result<Webhook> {
        check_name(new.name)?;
        check_url(new.url, schemes)?;
        check_events(new.events)?;
        let status = new.status.unwrap_or("ACTIVE");
        check_status(status)?;
        self.actor.require(Role::Owner, "creating a webhook")?;
        let actor = self.actor;
        let id = uuid4()?;
        let at = crate::tracking::now_ms();
        let secret = new.secret.filter(|s| !s.is_empty());
        let w = Webhook {
            webhook_id: id,
            name: new.name.to_owned(),
            description: new.description.filter(|d| !d.is_empty()).map(str::to_owned),
            url: new.url.to_owned(),
            events: new.events.to_vec(),
            status: status.to_owned(),
            creation_timestamp: at,
            last_updated_timestamp: at,
        };
        self.store.atomically(|s| {
            s.conn.execute(
                "INSERT INTO webhooks (webhook_id, name, description, url, events, status, creation_timestamp, last_updated_timestamp, secret)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    w.webhook_id,
                    w.name,
                    w.description,
                    w.url,
                    serde_json::to_string(&w.events)?,
                    w.status,
                    w.creation_timestamp,
                    w.last_updated_timestamp,
                    secret
                ],
            )?;
            s.append_audit(
                actor,
                "webhook.create",
                None,
                &format!("webhook/{}", w.webhook_id),
                None,
                Some(&audit_json(&w, secret.is_some())),
            )
        })?;
        Ok(w)
    }

    /// Changes what `update` gives of webhook `id` (owners only).
    pub fn update_webhook(
        &mut self,
        id: &str,
        update: &WebhookUpdate<'_>,
        schemes: &[String],
    ) -> Result<Webhook> {
        if let Some(name) = update.name {
            check_name(name)?;
        }
        if let Some(url) = update.url {
            check_url(url, schemes)?;
        }
        if let Some(events) = update.events {
            check_events(events)?;
        }
        if let Some(status) = update.status {
            check_status(status)?;
        }
        self.actor.require(Role::Owner, "changing a webhook")?;
        let actor = self.actor;
        self.store.atomically(|s| {
            let before = s.webhook_row(id)?;
            let mut w = before.webhook.clone();
            if let Some(name) = update.name {
                name.clone_into(&mut w.name);
            }
            if let Some(url) = update.url {
                url.clone_into(&mut w.url);
            }
            if let Some(events) = update.events {
                w.events = events.to_vec();
            }
            if let Some(d) = update.description {
                w.description = (!d.is_empty()).then(|| d.to_owned());
            }
            if let Some(status) = update.status {
                status.clone_into(&mut w.status);
            }
            let secret = match update.secret {
                Some(s) => (!s.is_empty()).then(|| s.to_owned()),
                None => before.secret.clone(),
            };
            w.last_updated_timestamp = crate::tracking::now_ms().max(w.last_updated_timestamp);
            s.conn.execute(
                "UPDATE webhooks SET name = ?2, description = ?3, url = ?4, events = ?5, status = ?6,
                        last_updated_timestamp = ?7, secret = ?8
                 WHERE webhook_id = ?1",
                params![
                    w.webhook_id,
                    w.name,
                    w.description,
                    w.url,
                    serde_json::to_string(&w.events)?,
                    w.status,
                    w.last_updated_timestamp,
                    secret
                ],
            )?;
            s.append_audit(
                actor,
                "webhook.update",
                None,
                &format!("webhook/{id}"),
                Some(&audit_json(&before.webhook, before.secret.is_some())),
                Some(&audit_json(&w, secret.is_some())),
            )?;
            Ok(w)
        })
    }

    /// Deletes webhook `id` (owners only).
    pub fn delete_webhook(&mut self, id: &str) -> Result<()> {
        self.actor.require(Role::Owner, "deleting a webhook")?;
        let actor = self.actor;
        self.store.atomically(|s| {
            let before = s.webhook_row(id)?;
            s.conn
                .execute("DELETE FROM webhooks WHERE webhook_id = ?1", [id])?;
            s.append_audit(
                actor,
                "webhook.delete",
                None,
                &format!("webhook/{id}"),
                Some(&audit_json(&before.webhook, before.secret.is_some())),
                None,
            )
        })
    }

    /// Checks that the actor may manage webhooks (owners only), before anything else is.
    pub fn may_manage_webhooks(&self) -> Result<()> {
        self.actor.require(Role::Owner, "managing webhooks")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::Actor;

    #[test]
    fn names_events_and_urls_are_checked_as_mlflow_checks_them() {
        assert!(check_event("model_version.created").is_ok());
        assert!(check_event("prompt_alias.deleted").is_ok());
        let e = check_event("model_version.deleted")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Invalid action 'deleted' for entity 'model_version'. Valid actions are: [\"created\"]"),
            "{e}"
        );
        assert!(check_event("model.created").is_err());
        assert!(check_event("created").is_err());
        assert!(check_name("ci-hook_1.v2").is_ok());
        for bad in ["", "-x", "x-", "a b", &"x".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        let https = vec!["https".to_owned()];
        assert!(check_url("https://ci.example.com/hook", &https).is_ok());
        let e = check_url("http://ci.example.com/hook", &https)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "Invalid webhook URL scheme: 'http'. Allowed schemes are: https."
        );
        assert!(check_url("ftp://x/y", &["ftp".into()]).is_err());
        assert!(check_url("https:///path", &https).is_err());
        assert!(check_url("  ", &https).is_err());
    }

    /// Create, list (newest first, by pages), update only what is given, the secret kept and
    /// never shown, only owners, delete; on whichever store the tests run against.
    #[test]
    fn webhooks_are_kept_changed_and_deleted_by_owners() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = crate::testing::fresh_store(dir.path()).unwrap();
        let (owner, contributor) = (
            Actor::new("olga", Role::Owner),
            Actor::new("cody", Role::Contributor),
        );
        let https = vec!["https".to_owned()];
        let events = vec!["model_version.created".to_owned()];
        let new = NewWebhook {
            name: "ci",
            url: "https://ci.example.com/hook",
            events: &events,
            secret: Some("s3cret"),
            ..NewWebhook::default()
        };
        let e = store
            .governed(&contributor)
            .create_webhook(&new, &https)
            .unwrap_err();
        assert!(matches!(e, StoreError::Denied(_)), "{e}");
        let first = store.governed(&owner).create_webhook(&new, &https).unwrap();
        assert_eq!(first.webhook_id.len(), 36);
        assert_eq!(first.status, "ACTIVE");
        let second = store
            .governed(&owner)
            .create_webhook(
                &NewWebhook {
                    name: "audit",
                    ..new.clone()
                },
                &https,
            )
            .unwrap();
        let (page, next) = store.list_webhooks(1, 0).unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(next, Some(1));
        let (rest, next) = store.list_webhooks(1, 1).unwrap();
        assert_eq!(next, None);
        let mut ids = vec![page[0].webhook_id.clone(), rest[0].webhook_id.clone()];
        ids.sort();
        let mut want = vec![first.webhook_id.clone(), second.webhook_id.clone()];
        want.sort();
        assert_eq!(ids, want);
        // Only what is given changes; the events are replaced; the secret stays.
        let tags = vec![
            "model_version_tag.set".to_owned(),
            "model_version_tag.deleted".to_owned(),
        ];
        let changed = store
            .governed(&owner)
            .update_webhook(
                &first.webhook_id,
                &WebhookUpdate {
                    events: Some(&tags),
                    status: Some("DISABLED"),
                    ..WebhookUpdate::default()
                },
                &https,
            )
            .unwrap();
        assert_eq!(changed.name, "ci");
        assert_eq!(changed.events, tags);
        assert_eq!(changed.status, "DISABLED");
        let d = store.webhook_delivery(&first.webhook_id).unwrap();
        assert_eq!(d.secret.as_deref(), Some("s3cret"));
        // Disabled: not delivered to; the other one is.
        let to = store.active_webhooks().unwrap();
        assert_eq!(to.len(), 1);
        assert_eq!(to[0].webhook.webhook_id, second.webhook_id);
        assert_eq!(to[0].webhook.events, ["model_version.created"]);
        let bad = vec!["model_version.deleted".to_owned()];
        assert!(
            store
                .governed(&owner)
                .update_webhook(
                    &first.webhook_id,
                    &WebhookUpdate {
                        events: Some(&bad),
                        ..WebhookUpdate::default()
                    },
                    &https
                )
                .is_err()
        );
        store
            .governed(&owner)
            .delete_webhook(&first.webhook_id)
            .unwrap();
        let e = store.get_webhook(&first.webhook_id).unwrap_err();
        assert!(
            matches!(
                e,
                StoreError::NotFound {
                    what: crate::Entity::Webhook,
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            store
                .governed(&owner)
                .delete_webhook(&first.webhook_id)
                .is_err()
        );
    }
}
