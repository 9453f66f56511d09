//! MLflow's model registry webhooks (`/api/2.0/mlflow/webhooks`, MLflow 3.3+): owners register
//! a URL for registry events, and the server POSTs each event there as it happens, signed with
//! the webhook's secret the way MLflow signs (`X-MLflow-Signature: v1,<base64 HMAC-SHA256 of
//! "<delivery id>.<timestamp>.<body>">`).
//!
//! As in MLflow, a URL's scheme must be among `MLFLOW_WEBHOOK_ALLOWED_SCHEMES` (default
//! `https`) and its host must resolve only to public addresses unless
//! `MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS` is true, checked when a webhook is created or changed and
//! again at each delivery; deliveries time out after `MLFLOW_WEBHOOK_REQUEST_TIMEOUT` seconds
//! (30) and are retried `MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES` times (3) on 429 and 5xx answers
//! (backing off 1, 2, 4 ... s, or as `Retry-After` says). Deliveries run off the request's
//! path: a slow or failing receiver never slows or fails the registry change, only the log says.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::Json;
use axum::extract::{Path as UrlPath, State};
use axum::http::Method;
use axum::routing::{delete, get, patch, post};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use sluice_store::governance::{Actor, Delivery, NewWebhook, Role, Webhook, WebhookUpdate, uuid4};
use sluice_store::tracking::KeyValue;

use crate::ServerState;
use crate::auth::Route;
use crate::error::{ApiError, ApiResult};
use crate::params::{Params, page_token};

type S = State<Arc<ServerState>>;
type Reply = ApiResult<Json<Value>>;
type Who = Extension<Actor>;

/// The entities of MLflow's `WebhookEntity` enum, by number.
const ENTITIES: [&str; 11] = [
    "ENTITY_UNSPECIFIED",
    "REGISTERED_MODEL",
    "MODEL_VERSION",
    "MODEL_VERSION_TAG",
    "MODEL_VERSION_ALIAS",
    "PROMPT",
    "PROMPT_VERSION",
    "PROMPT_TAG",
    "PROMPT_VERSION_TAG",
    "PROMPT_ALIAS",
    "BUDGET_POLICY",
];
/// The actions of MLflow's `WebhookAction` enum, by number.
const ACTIONS: [&str; 6] = [
    "ACTION_UNSPECIFIED",
    "CREATED",
    "UPDATED",
    "DELETED",
    "SET",
    "EXCEEDED",
];

/// Routes under `/api/2.0/mlflow`: webhooks are an owner's to see and change.
pub(crate) fn routes() -> Vec<Route> {
    use Role::Owner as O;
    vec![
        Route::new(Method::POST, "/webhooks", O, post(create)),
        Route::new(Method::GET, "/webhooks", O, get(list)),
        Route::new(Method::GET, "/webhooks/{webhook_id}", O, get(get_one)),
        Route::new(Method::PATCH, "/webhooks/{webhook_id}", O, patch(update)),
        Route::new(
            Method::DELETE,
            "/webhooks/{webhook_id}",
            O,
            delete(delete_one),
        ),
        Route::new(Method::POST, "/webhooks/{webhook_id}/test", O, post(test)),
    ]
}

/// How deliveries go, from MLflow's environment variables.
struct Settings {
    schemes: Vec<String>,
    allow_private: bool,
    timeout: Duration,
    retries: u32,
    workers: usize,
}

impl Settings {
    /// Read once: the variables are the server's, set when it starts.
    fn get() -> &'static Settings {
        static SETTINGS: std::sync::OnceLock<Settings> = std::sync::OnceLock::new();
        SETTINGS.get_or_init(Settings::from_env)
    }

    fn from_env() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Self {
            schemes: var("MLFLOW_WEBHOOK_ALLOWED_SCHEMES").map_or_else(
                || vec!["https".to_owned()],
                |v| {
                    v.split(',')
                        .map(|s| s.trim().to_ascii_lowercase())
                        .filter(|s| !s.is_empty())
                        .collect()
                },
            ),
            allow_private: var("MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS")
                .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1")),
            timeout: Duration::from_secs(
                var("MLFLOW_WEBHOOK_REQUEST_TIMEOUT")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(30),
            ),
            retries: var("MLFLOW_WEBHOOK_REQUEST_MAX_RETRIES")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(3),
            workers: var("MLFLOW_WEBHOOK_DELIVERY_MAX_WORKERS")
                .and_then(|v| v.trim().parse().ok())
                .filter(|&n: &usize| n > 0)
                .unwrap_or(10),
        }
    }
}

/// The webhook as MLflow's API shows it (never its secret).
fn webhook_json(w: &Webhook) -> Value {
    let mut o = Map::new();
    o.insert("webhook_id".into(), json!(w.webhook_id));
    o.insert("name".into(), json!(w.name));
    if let Some(d) = w.description.as_deref().filter(|d| !d.is_empty()) {
        o.insert("description".into(), json!(d));
    }
    o.insert("url".into(), json!(w.url));
    let events: Vec<Value> = w
        .events
        .iter()
        .filter_map(|e| e.split_once('.'))
        .map(|(entity, action)| {
            json!({"entity": entity.to_ascii_uppercase(), "action": action.to_ascii_uppercase()})
        })
        .collect();
    o.insert("events".into(), Value::Array(events));
    o.insert("status".into(), json!(w.status));
    o.insert("creation_timestamp".into(), json!(w.creation_timestamp));
    o.insert(
        "last_updated_timestamp".into(),
        json!(w.last_updated_timestamp),
    );
    Value::Object(o)
}

/// One of MLflow's enums, by name (any case) or number.
fn enum_name(v: &Value, names: &[&str], what: &str) -> ApiResult<String> {
    let name = match v {
        Value::String(s) => Some(s.to_ascii_uppercase()),
        Value::Number(n) => n
            .as_u64()
            .and_then(|i| names.get(usize::try_from(i).ok()?))
            .map(|s| (*s).to_owned()),
        _ => None,
    };
    match name {
        Some(n) if names.contains(&n.as_str()) && !n.ends_with("_UNSPECIFIED") => Ok(n),
        _ => Err(ApiError::invalid(format!(
            "Invalid webhook event {what} {v}: use one of {}",
            names[1..].join(", ")
        ))),
    }
}

/// A webhook event (`{"entity": "MODEL_VERSION", "action": "CREATED"}`) as `model_version.created`.
fn event_name(v: &Value) -> ApiResult<String> {
    let entity = enum_name(&v["entity"], &ENTITIES, "entity")?;
    let action = enum_name(&v["action"], &ACTIONS, "action")?;
    let name = format!(
        "{}.{}",
        entity.to_ascii_lowercase(),
        action.to_ascii_lowercase()
    );
    sluice_store::governance::check_event(&name)?;
    Ok(name)
}

fn events(p: &Params) -> ApiResult<Option<Vec<String>>> {
    match p.0.get("events") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(event_name)
            .collect::<ApiResult<_>>()
            .map(Some),
        Some(other) => Err(ApiError::invalid(format!(
            "Invalid value {other} for parameter 'events': a list of {{\"entity\": ..., \"action\": ...}}"
        ))),
    }
}

fn status(p: &Params) -> ApiResult<Option<String>> {
    match p.0.get("status") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(1) => Ok(Some("ACTIVE".into())),
            Some(2) => Ok(Some("DISABLED".into())),
            _ => Err(ApiError::invalid(format!("Invalid webhook status {n}"))),
        },
        Some(Value::String(s)) => Ok(Some(s.to_ascii_uppercase())),
        Some(other) => Err(ApiError::invalid(format!("Invalid webhook status {other}"))),
    }
}

/// The URL as MLflow accepts it: its scheme allowed, and its host resolving only to public
/// addresses unless private ones are allowed.
fn check_url(url: &str, settings: &Settings) -> Result<(), String> {
    sluice_store::governance::check_url(url, &settings.schemes).map_err(|e| e.to_string())?;
    if settings.allow_private {
        return Ok(());
    }
    check_public_host(url)
}

/// That every address the URL's host resolves to is public.
fn check_public_host(url: &str) -> Result<(), String> {
    let (_, host, port) = sluice_store::governance::url_parts(url)
        .ok_or_else(|| format!("Invalid webhook URL '{url}'"))?;
    let addrs: Vec<IpAddr> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|e| format!("Cannot resolve Webhook URL hostname '{host}': {e}"))?
        .map(|a| a.ip())
        .collect();
    if addrs.is_empty() {
        return Err(format!("Cannot resolve Webhook URL hostname '{host}'"));
    }
    match addrs.iter().find(|ip| !is_public(**ip)) {
        Some(ip) => Err(format!(
            "Webhook URL must not resolve to a non-public IP address. '{host}' resolves to {ip}. (Set MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS=true on the server to allow it.)"
        )),
        None => Ok(()),
    }
}

/// Whether an address is reachable on the public internet (not loopback, private, link-local,
/// shared, documentation, multicast or reserved; an IPv4 address inside IPv6 as itself).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (b == 18 || b == 19)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            // 6to4 (2002::/16) and NAT64 (64:ff9b::/96) carry an IPv4 address.
            let v4 = |hi: u16, lo: u16| {
                IpAddr::V4(std::net::Ipv4Addr::from(
                    (u32::from(hi) << 16) | u32::from(lo),
                ))
            };
            if s[0] == 0x2002 {
                return is_public(v4(s[1], s[2]));
            }
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                return is_public(v4(s[6], s[7]));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                // IETF protocol assignments (Teredo, benchmarking, ORCHID...) and documentation.
                || (s[0] == 0x2001 && s[1] < 0x0200)
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                // Discard-only, and local-use NAT64.
                || s[..4] == [0x100, 0, 0, 0]
                || (s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1))
        }
    }
}

// ---- routes ---------------------------------------------------------------------------------

/// Resolves and checks a URL's host off the async workers, within 5 seconds (as MLflow bounds
/// its lookups); no store connection is held meanwhile.
async fn check_url_async(url: &str, settings: &Settings) -> ApiResult<()> {
    sluice_store::governance::check_url(url, &settings.schemes)?;
    if settings.allow_private {
        return Ok(());
    }
    let url = url.to_owned();
    let lookup = tokio::task::spawn_blocking(move || check_public_host(&url));
    match tokio::time::timeout(Duration::from_secs(5), lookup).await {
        Ok(Ok(checked)) => checked.map_err(ApiError::invalid),
        Ok(Err(e)) => Err(ApiError::invalid(format!(
            "cannot check the webhook URL: {e}"
        ))),
        Err(_) => Err(ApiError::invalid(
            "Timed out resolving Webhook URL hostname (5 s)",
        )),
    }
}

/// The caller may manage webhooks (owners): checked before anything else is.
fn may_manage(s: &ServerState, who: &Actor) -> ApiResult<()> {
    s.store()?.governed(who).may_manage_webhooks()?;
    Ok(())
}

async fn create(State(s): S, Extension(who): Who, p: Params) -> Reply {
    // MLflow's order: the role, the name, the URL, the events.
    may_manage(&s, &who)?;
    let name = p.str("name")?;
    let url = p.str("url")?;
    let events = events(&p)?.ok_or_else(|| {
        ApiError::invalid(
            "Missing value for required parameter 'events'. See the API docs for more information about request parameters.",
        )
    })?;
    let description = p.opt_str("description")?;
    let secret = p.opt_str("secret")?;
    let status = status(&p)?;
    let settings = Settings::get();
    sluice_store::governance::check_name(&name)?;
    check_url_async(&url, settings).await?;
    let new = NewWebhook {
        name: &name,
        url: &url,
        events: &events,
        description: description.as_deref(),
        secret: secret.as_deref(),
        status: status.as_deref(),
    };
    let w = s
        .store()?
        .governed(&who)
        .create_webhook(&new, &settings.schemes)?;
    Ok(Json(json!({"webhook": webhook_json(&w)})))
}

async fn list(State(s): S, p: Params) -> Reply {
    let max = match p.opt_i64("max_results")? {
        None | Some(0) => 100,
        Some(n) if (1..=1000).contains(&n) => usize::try_from(n).unwrap_or(100),
        Some(_) => {
            return Err(ApiError::invalid("max_results must be between 1 and 1000."));
        }
    };
    let offset = p.offset()?;
    let (items, next) = s.store()?.list_webhooks(max, offset)?;
    let mut out = Map::new();
    out.insert(
        "webhooks".into(),
        Value::Array(items.iter().map(webhook_json).collect()),
    );
    if let Some(t) = page_token(next) {
        out.insert("next_page_token".into(), Value::String(t));
    }
    Ok(Json(Value::Object(out)))
}

async fn get_one(State(s): S, UrlPath(id): UrlPath<String>) -> Reply {
    let w = s.store()?.get_webhook(&id)?;
    Ok(Json(json!({"webhook": webhook_json(&w)})))
}

async fn update(
    State(s): S,
    Extension(who): Who,
    UrlPath(id): UrlPath<String>,
    p: Params,
) -> Reply {
    may_manage(&s, &who)?;
    // As MLflow: an empty name, URL or event list changes nothing; a description, secret or
    // status given (even empty) is set.
    let name = p.opt_str("name")?.filter(|n| !n.is_empty());
    let url = p.opt_str("url")?.filter(|u| !u.is_empty());
    let events = events(&p)?.filter(|e| !e.is_empty());
    let description = p.opt_str("description")?;
    let secret = p.opt_str("secret")?;
    let status = status(&p)?;
    let settings = Settings::get();
    s.store()?.get_webhook(&id)?;
    if let Some(name) = &name {
        sluice_store::governance::check_name(name)?;
    }
    if let Some(url) = &url {
        check_url_async(url, settings).await?;
    }
    let change = WebhookUpdate {
        name: name.as_deref(),
        url: url.as_deref(),
        events: events.as_deref(),
        description: description.as_deref(),
        secret: secret.as_deref(),
        status: status.as_deref(),
    };
    let w = s
        .store()?
        .governed(&who)
        .update_webhook(&id, &change, &settings.schemes)?;
    Ok(Json(json!({"webhook": webhook_json(&w)})))
}

async fn delete_one(State(s): S, Extension(who): Who, UrlPath(id): UrlPath<String>) -> Reply {
    s.store()?.governed(&who).delete_webhook(&id)?;
    Ok(Json(json!({})))
}

/// Sends the example payload of an event (the one asked, else the webhook's first) and says
/// how the receiver answered.
async fn test(State(s): S, Extension(who): Who, UrlPath(id): UrlPath<String>, p: Params) -> Reply {
    let d = {
        let mut store = s.store()?;
        store.governed(&who).may_manage_webhooks()?;
        store.webhook_delivery(&id)?
    };
    let event = match p.0.get("event").filter(|e| !e.is_null()) {
        Some(e) => event_name(e)?,
        None => d.webhook.events.first().cloned().unwrap_or_default(),
    };
    let payload = example_payload(&event);
    let settings = Settings::get();
    let sent = tokio::task::spawn_blocking(move || {
        send(
            &d.webhook.url,
            d.secret.as_deref(),
            &event,
            &payload,
            settings,
        )
    })
    .await
    .map_err(|e| {
        ApiError::new(
            crate::error::ErrorCode::InternalError,
            format!("the test delivery failed: {e}"),
        )
    })?;
    let mut result = Map::new();
    match sent {
        Ok((status, body)) => {
            // Redirects are not followed (see `send`): only a 2xx answer delivered it.
            result.insert("success".into(), json!((200..300).contains(&status)));
            result.insert("response_status".into(), json!(status));
            result.insert("response_body".into(), json!(body));
        }
        Err(e) => {
            result.insert("success".into(), json!(false));
            result.insert(
                "error_message".into(),
                json!(format!("Failed to test webhook: {e}")),
            );
        }
    }
    Ok(Json(json!({"result": result})))
}

/// The example payload MLflow's test sends for an event.
fn example_payload(event: &str) -> Value {
    let tags = json!({"example_key": "example_value"});
    match event {
        "registered_model.created" => {
            json!({"name": "example_model", "tags": tags, "description": "An example registered model"})
        }
        "model_version.created" => json!({"name": "example_model", "version": "1",
            "source": "models:/123", "run_id": "abcd1234abcd5678", "tags": tags,
            "description": "An example model version"}),
        "model_version_tag.set" => json!({"name": "example_model", "version": "1",
            "key": "example_key", "value": "example_value"}),
        "model_version_tag.deleted" => {
            json!({"name": "example_model", "version": "1", "key": "example_key"})
        }
        "model_version_alias.created" => {
            json!({"name": "example_model", "alias": "example_alias", "version": "1"})
        }
        "model_version_alias.deleted" => json!({"name": "example_model", "alias": "example_alias"}),
        "prompt.created" => {
            json!({"name": "example_prompt", "tags": tags, "description": "An example prompt"})
        }
        "prompt_version.created" => json!({"name": "example_prompt", "version": "1",
            "template": "Hello {{name}}!", "tags": tags, "description": "An example prompt version"}),
        "prompt_tag.set" => {
            json!({"name": "example_prompt", "key": "example_key", "value": "example_value"})
        }
        "prompt_tag.deleted" => json!({"name": "example_prompt", "key": "example_key"}),
        "prompt_version_tag.set" => json!({"name": "example_prompt", "version": "1",
            "key": "example_key", "value": "example_value"}),
        "prompt_version_tag.deleted" => {
            json!({"name": "example_prompt", "version": "1", "key": "example_key"})
        }
        "prompt_alias.created" => {
            json!({"name": "example_prompt", "alias": "example_alias", "version": "1"})
        }
        "prompt_alias.deleted" => json!({"name": "example_prompt", "alias": "example_alias"}),
        _ => json!({}),
    }
}

// ---- delivery -------------------------------------------------------------------------------

/// A delivery waiting for a worker.
type Job = Box<dyn FnOnce() + Send>;

/// The delivery workers: `MLFLOW_WEBHOOK_DELIVERY_MAX_WORKERS` threads (10) of their own, fed
/// by a queue of at most [`QUEUE`] deliveries. They are apart from the async runtime and its
/// blocking pool, so slow receivers never hold up requests, and a stopping server does not wait
/// for them.
fn workers() -> &'static std::sync::mpsc::SyncSender<Job> {
    static POOL: std::sync::OnceLock<std::sync::mpsc::SyncSender<Job>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(QUEUE);
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for k in 0..Settings::get().workers {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("webhook-{k}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start a webhook delivery thread");
            }
        }
        tx
    })
}

/// Deliveries that may wait for a worker; more are dropped (and logged).
const QUEUE: usize = 1000;

/// Sends `event` with `data` to `targets` on the delivery workers: the request that made the
/// change does not wait, and a failed delivery is logged.
fn enqueue(targets: Vec<Delivery>, event: &str, data: Value) {
    let data = Arc::new(data);
    for d in targets {
        let (data, event) = (Arc::clone(&data), event.to_owned());
        let webhook_id = d.webhook.webhook_id.clone();
        let job: Job = Box::new(move || {
            let to = sluice_store::governance::url_origin(&d.webhook.url);
            let id = &d.webhook.webhook_id;
            match send(
                &d.webhook.url,
                d.secret.as_deref(),
                &event,
                &data,
                Settings::get(),
            ) {
                Ok((status, _)) if (200..300).contains(&status) => {
                    tracing::info!(webhook = %id, to, event, status, "webhook delivered");
                }
                Ok((status, _)) if (300..400).contains(&status) => tracing::warn!(
                    webhook = %id, to, event, status,
                    "the webhook's receiver answered with a redirect, which is not followed: give the webhook its final URL"
                ),
                Ok((status, body)) => tracing::warn!(
                    webhook = %id, to, event, status,
                    body = %body.chars().take(200).collect::<String>(),
                    "the webhook's receiver refused the delivery"
                ),
                Err(e) => tracing::warn!(
                    webhook = %id, to, event, error = %e, "cannot deliver to the webhook"
                ),
            }
        });
        if workers().try_send(job).is_err() {
            tracing::warn!(
                webhook = %webhook_id,
                "dropped a webhook delivery: {QUEUE} deliveries are already waiting"
            );
        }
    }
}

/// POSTs one delivery and returns the receiver's last answer (status, body), retrying 429 and
/// 5xx answers; `Err` when it cannot be sent at all.
fn send(
    url: &str,
    secret: Option<&str>,
    event: &str,
    data: &Value,
    settings: &Settings,
) -> Result<(u16, String), String> {
    check_url(url, settings)?;
    let (entity, action) = event.split_once('.').unwrap_or((event, ""));
    let now = jiff::Timestamp::now();
    let timestamp = format!(
        "{}.{:06}+00:00",
        now.strftime("%Y-%m-%dT%H:%M:%S"),
        now.subsec_microsecond()
    );
    let body = json!({"entity": entity, "action": action, "timestamp": timestamp, "data": data})
        .to_string();
    let delivery_id = uuid4().map_err(|e| e.to_string())?;
    let unix = now.as_second().to_string();
    let signature = secret.filter(|s| !s.is_empty()).map(|secret| {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
        let tag = ring::hmac::sign(&key, format!("{delivery_id}.{unix}.{body}").as_bytes());
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(tag.as_ref())
        )
    });
    // No redirects (a redirect could lead past the address check to a private address) and no
    // proxy from the environment (the address checked is the one connected to).
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(settings.timeout))
        .max_redirects(0)
        .proxy(None)
        .build()
        .into();
    let mut attempt = 0;
    loop {
        let mut req = agent
            .post(url)
            .header("Content-Type", "application/json")
            .header("X-MLflow-Delivery-Id", &delivery_id)
            .header("X-MLflow-Timestamp", &unix);
        if let Some(sig) = &signature {
            req = req.header("X-MLflow-Signature", sig);
        }
        let resp = match req.send(body.as_bytes()) {
            Ok(resp) => resp,
            // Refused, reset, timed out: tried again like a 503, within the same budget.
            Err(e) if attempt < settings.retries => {
                tracing::debug!(error = %e, attempt, "webhook delivery failed; trying again");
                std::thread::sleep(Duration::from_secs(1 << attempt.min(6)));
                attempt += 1;
                continue;
            }
            Err(e) => return Err(e.to_string()),
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let mut text = String::new();
        let _ = resp
            .into_body()
            .into_reader()
            .take(1 << 20)
            .read_to_string(&mut text);
        let retryable = matches!(status, 429 | 500 | 502 | 503 | 504);
        if !retryable || attempt >= settings.retries {
            return Ok((status, text));
        }
        let backoff = retry_after.unwrap_or(1 << attempt.min(6)).min(60);
        std::thread::sleep(Duration::from_secs(backoff));
        attempt += 1;
    }
}

// ---- events of the registry -----------------------------------------------------------------

/// The tag that marks a registered model as a prompt (MLflow's prompt registry).
const IS_PROMPT: &str = "mlflow.prompt.is_prompt";

/// Whether tags mark a prompt (the last value of a key given twice counts, as in MLflow).
fn is_prompt_tags(tags: &[KeyValue]) -> bool {
    tags.iter()
        .rfind(|t| t.key == IS_PROMPT)
        .is_some_and(|t| t.value.eq_ignore_ascii_case("true"))
}

/// Whether the change is to a prompt: known from the request, or read from the model.
#[derive(Clone, Copy)]
enum Form<'a> {
    Known(bool),
    Of(&'a str),
}

/// Delivers one registry change: `model` is its event for a registered model, `prompt` for a
/// prompt (`None`: no event in that form), `data(is_prompt)` its payload, built only when an
/// active webhook listens. One store connection: the active webhooks, and the model's tags when
/// the form is not known.
fn fire(
    s: &ServerState,
    form: Form<'_>,
    model: Option<&str>,
    prompt: Option<&str>,
    data: impl FnOnce(bool) -> Value,
) {
    let found = s.store().and_then(|st| {
        let active = st.active_webhooks()?;
        let listens = |event: Option<&str>| {
            event.is_some_and(|e| {
                active
                    .iter()
                    .any(|d| d.webhook.events.iter().any(|x| x == e))
            })
        };
        if !listens(model) && !listens(prompt) {
            return Ok(None);
        }
        let is_prompt = match form {
            Form::Known(p) => p,
            Form::Of(name) => st
                .get_registered_model(name)
                .is_ok_and(|m| is_prompt_tags(&m.tags)),
        };
        Ok(Some((active, is_prompt)))
    });
    let (active, is_prompt) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e.message, "cannot read the webhooks to deliver to");
            return;
        }
    };
    let Some(event) = (if is_prompt { prompt } else { model }) else {
        return;
    };
    let targets: Vec<Delivery> = active
        .into_iter()
        .filter(|d| d.webhook.events.iter().any(|x| x == event))
        .collect();
    if !targets.is_empty() {
        enqueue(targets, event, data(is_prompt));
    }
}

/// Tags as a payload's `tags`, leaving out `hidden` ones.
fn tag_map<'a>(tags: &'a [KeyValue], hidden: &[&str]) -> BTreeMap<&'a str, &'a str> {
    tags.iter()
        .filter(|t| !hidden.contains(&t.key.as_str()))
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect()
}

/// `registered_model.created` (or `prompt.created`) for a model created with `tags`.
pub(crate) fn model_created(
    s: &ServerState,
    name: &str,
    tags: &[KeyValue],
    description: Option<&str>,
) {
    let form = Form::Known(is_prompt_tags(tags));
    fire(
        s,
        form,
        Some("registered_model.created"),
        Some("prompt.created"),
        |prompt| {
            let hidden: &[&str] = if prompt {
                &[IS_PROMPT, "_mlflow_prompt_type"]
            } else {
                &[]
            };
            json!({"name": name, "tags": tag_map(tags, hidden),
                   "description": description.unwrap_or_default()})
        },
    );
}

/// `model_version.created` (or `prompt_version.created`, with its template).
pub(crate) fn version_created(
    s: &ServerState,
    name: &str,
    version: &str,
    source: &str,
    run_id: Option<&str>,
    tags: &[KeyValue],
    description: Option<&str>,
) {
    let description = description.filter(|d| !d.is_empty());
    let form = Form::Known(is_prompt_tags(tags));
    fire(
        s,
        form,
        Some("model_version.created"),
        Some("prompt_version.created"),
        |prompt| {
            if prompt {
                let template = tags
                    .iter()
                    .rfind(|t| t.key == "mlflow.prompt.text")
                    .map(|t| t.value.as_str());
                let hidden = ["mlflow.prompt.text", IS_PROMPT, "_mlflow_prompt_type"];
                json!({"name": name, "version": version, "template": template,
                       "tags": tag_map(tags, &hidden), "description": description})
            } else {
                json!({"name": name, "version": version, "source": source,
                       "run_id": run_id.filter(|r| !r.is_empty()), "tags": tag_map(tags, &[]),
                       "description": description})
            }
        },
    );
}

/// A tag set (`value` given) or deleted on a registered model: prompts only, as in MLflow.
pub(crate) fn model_tag(s: &ServerState, name: &str, key: &str, value: Option<&str>) {
    let action = if value.is_some() { "set" } else { "deleted" };
    fire(
        s,
        Form::Of(name),
        None,
        Some(&format!("prompt_tag.{action}")),
        |_| with_value(json!({"name": name, "key": key}), "value", value),
    );
}

/// A tag set (`value` given) or deleted on a model version.
pub(crate) fn version_tag(
    s: &ServerState,
    name: &str,
    version: &str,
    key: &str,
    value: Option<&str>,
) {
    let action = if value.is_some() { "set" } else { "deleted" };
    fire(
        s,
        Form::Of(name),
        Some(&format!("model_version_tag.{action}")),
        Some(&format!("prompt_version_tag.{action}")),
        |_| {
            with_value(
                json!({"name": name, "version": version, "key": key}),
                "value",
                value,
            )
        },
    );
}

/// An alias set (`version` given) or deleted.
pub(crate) fn alias(s: &ServerState, name: &str, alias: &str, version: Option<&str>) {
    let action = if version.is_some() {
        "created"
    } else {
        "deleted"
    };
    fire(
        s,
        Form::Of(name),
        Some(&format!("model_version_alias.{action}")),
        Some(&format!("prompt_alias.{action}")),
        |_| with_value(json!({"name": name, "alias": alias}), "version", version),
    );
}

/// `data` with `key: value` added last when there is a value.
fn with_value(mut data: Value, key: &str, value: Option<&str>) -> Value {
    if let (Some(v), Value::Object(o)) = (value, &mut data) {
        o.insert(key.to_owned(), json!(v));
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_addresses_are_told_from_private_ones() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["1.1.1.1", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        let strict = Settings {
            schemes: vec!["http".into()],
            allow_private: false,
            timeout: Duration::from_secs(1),
            retries: 0,
            workers: 1,
        };
        let e = check_url("http://127.0.0.1:9/hook", &strict).unwrap_err();
        assert!(
            e.contains("must not resolve to a non-public IP address"),
            "{e}"
        );
        let loose = Settings {
            allow_private: true,
            ..strict
        };
        assert!(check_url("http://127.0.0.1:9/hook", &loose).is_ok());
    }

    #[test]
    fn events_read_as_mlflow_writes_them() {
        let e = event_name(&json!({"entity": "MODEL_VERSION", "action": "CREATED"})).unwrap();
        assert_eq!(e, "model_version.created");
        let e = event_name(&json!({"entity": 4, "action": 3})).unwrap();
        assert_eq!(e, "model_version_alias.deleted");
        assert!(event_name(&json!({"entity": "REGISTERED_MODEL", "action": "DELETED"})).is_err());
        assert!(event_name(&json!({"entity": "ENTITY_UNSPECIFIED", "action": "CREATED"})).is_err());
        assert!(event_name(&json!({"entity": "BOGUS", "action": "CREATED"})).is_err());
    }
}
