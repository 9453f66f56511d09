//! What MLflow's server (3.5+) calls its security middleware, held to the same settings:
//!
//! - **Host validation** (against DNS rebinding: a page of another site, its name re-pointed at
//!   this machine, reading an unauthenticated server through the browser): a request whose
//!   `Host` is not allowed is refused 403. Allowed by default: loopback names and addresses,
//!   private (RFC 1918, `fc00::/7`) addresses and the address the server listens on, as
//!   MLflow's defaults do (matched as addresses, so `10.evil.example` is not a private address);
//!   `--allowed-hosts` / `MLFLOW_SERVER_ALLOWED_HOSTS` replaces them (patterns with `*`, or `*`
//!   for any). `/health` and `/version` are never checked. A request with no `Host` (not a
//!   browser's) passes. Sluice checks hosts when the server runs without authentication, where
//!   rebinding can reach data, and when hosts are given explicitly: with authentication on, a
//!   rebound name carries none of the server's cookies or tokens, and a team server reached by
//!   its DNS name needs no list.
//! - **Cross-origin writes refused**: a `POST`, `PUT`, `DELETE` or `PATCH` whose `Origin` is
//!   neither this server's own (the same host and port as `Host`), a loopback page's, nor one of
//!   `--cors-allowed-origins` / `MLFLOW_SERVER_CORS_ALLOWED_ORIGINS` is refused 403 before it is
//!   acted on (its body is read and dropped, up to 64 MiB, else the connection closes): another site's form or
//!   script cannot delete runs of a server on `127.0.0.1`. A page counts as the server's own
//!   only when its host is one the server vouches for (a checked host, or authentication on).
//! - **CORS answers** for the origins allowed to call the API from a page: loopback pages
//!   (without credentials: they may send a token they hold, not the server's cookie) and the
//!   listed origins (with credentials; `*`: any origin, without them).
//! - **Headers**: `X-Content-Type-Options: nosniff` on every answer, and `X-Frame-Options`
//!   (`SAMEORIGIN` unless `--x-frame-options` / `MLFLOW_SERVER_X_FRAME_OPTIONS` says `DENY` or
//!   `NONE`).
//!
//! `--disable-security-middleware` (`MLFLOW_SERVER_DISABLE_SECURITY_MIDDLEWARE=true`) turns all
//! of it off, as MLflow's does.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::ServerState;

/// MLflow's answer to a request with a host it does not serve.
pub const INVALID_HOST: &str = "Invalid Host header - possible DNS rebinding attack detected";
/// MLflow's answer to a write from another site.
pub const CROSS_ORIGIN_BLOCKED: &str = "Cross-origin request blocked";

/// The security settings of one server.
#[derive(Debug, Clone)]
pub struct Security {
    enabled: bool,
    /// Hosts the operator listed (patterns): they replace the defaults and are checked even
    /// with authentication on.
    listed_hosts: Option<Vec<String>>,
    /// Names the server itself is reached by besides those (a job's tracking host), any port.
    extra_hosts: Vec<String>,
    allowed_origins: Vec<String>,
    /// `None`: no `X-Frame-Options`.
    frame_options: Option<HeaderValue>,
    /// The address the server listens on (allowed as a host by default).
    listen: Option<IpAddr>,
}

impl Default for Security {
    fn default() -> Self {
        Self {
            enabled: true,
            listed_hosts: None,
            extra_hosts: Vec::new(),
            allowed_origins: Vec::new(),
            frame_options: Some(HeaderValue::from_static("SAMEORIGIN")),
            listen: None,
        }
    }
}

/// A comma-separated list as MLflow reads its settings (blank entries dropped).
fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Security {
    /// The settings: `allowed_hosts` and `allowed_origins` as comma-separated lists (`None`: the
    /// defaults), `frame_options` one of `SAMEORIGIN`, `DENY`, `NONE` (any case).
    ///
    /// # Errors
    /// An `X-Frame-Options` value MLflow does not know, in words for the command line.
    pub fn new(
        allowed_hosts: Option<&str>,
        allowed_origins: Option<&str>,
        frame_options: Option<&str>,
    ) -> Result<Self, String> {
        let frame_options = match frame_options.map(|f| f.trim().to_ascii_uppercase()) {
            None => Some(HeaderValue::from_static("SAMEORIGIN")),
            Some(f) if f == "NONE" => None,
            Some(f) if f == "SAMEORIGIN" => Some(HeaderValue::from_static("SAMEORIGIN")),
            Some(f) if f == "DENY" => Some(HeaderValue::from_static("DENY")),
            Some(f) => {
                return Err(format!(
                    "`{f}` is not an X-Frame-Options value: use SAMEORIGIN, DENY or NONE"
                ));
            }
        };
        Ok(Self {
            listed_hosts: allowed_hosts
                .map(|h| {
                    list(h)
                        .into_iter()
                        .map(|p| p.to_ascii_lowercase())
                        .collect()
                })
                .filter(|l: &Vec<String>| !l.is_empty()),
            allowed_origins: allowed_origins.map(list).unwrap_or_default(),
            frame_options,
            ..Self::default()
        })
    }

    /// No checks and no headers (MLflow's `--disable-security-middleware`).
    #[must_use]
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// The address the server listens on: allowed as a host by default.
    #[must_use]
    pub fn listening_on(mut self, ip: IpAddr) -> Self {
        self.listen = Some(ip);
        self
    }

    /// Also allows `host` (a name or address, without a port; any port): the name steps are
    /// told to reach a job's tracking server by.
    #[must_use]
    pub fn also_allowing(mut self, host: &str) -> Self {
        self.extra_hosts
            .push(host.trim().trim_matches(['[', ']']).to_ascii_lowercase());
        self
    }

    /// Whether a request's `Host` is one this server serves.
    fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        let name = host_name(&host);
        if self.extra_hosts.contains(&name) {
            return true;
        }
        match &self.listed_hosts {
            Some(listed) => listed.iter().any(|p| {
                p == "*"
                    || if p.contains('*') {
                        glob(p, &host)
                    } else {
                        *p == host
                    }
            }),
            None => {
                if name == "localhost" {
                    return true;
                }
                name.parse::<IpAddr>().is_ok_and(|ip| {
                    Some(ip) == self.listen
                        || ip.is_loopback()
                        || ip.is_unspecified()
                        || private(ip)
                })
            }
        }
    }

    /// Whether `origin` is one the operator listed (or `*`).
    fn origin_listed(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|p| {
            p == "*"
                || if p.contains('*') {
                    glob(p, origin)
                } else {
                    p == origin
                }
        })
    }

    /// Whether the operator's list lets any name through (`*`, `*:5000`, `*.*`, ...): a name no
    /// one owns passes it.
    fn any_host(&self) -> bool {
        self.listed_hosts.as_ref().is_some_and(|_| {
            [
                "rebound-check.invalid",
                "rebound-check.invalid:5000",
                "rebound-check.invalid:80",
            ]
            .iter()
            .any(|h| self.host_allowed(h))
        })
    }

    /// Whether `*` is listed: any origin may call, without credentials, and none is refused.
    fn any_origin(&self) -> bool {
        self.allowed_origins.iter().any(|p| p == "*")
    }
}

/// The name or address of a `Host` value, without its port or an IPv6 address' brackets.
fn host_name(host: &str) -> String {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default().to_owned();
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name.to_owned()
        }
        _ => host.to_owned(),
    }
}

/// RFC 1918 IPv4 and `fc00::/7` IPv6 addresses (MLflow's private ranges).
fn private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_private(),
        IpAddr::V6(v6) => v6.segments()[0] & 0xfe00 == 0xfc00,
    }
}

/// Shell-style matching as Python's `fnmatch` does it on Linux: `*`, `?`, `[abc]`, `[!abc]`.
fn glob(pattern: &str, text: &str) -> bool {
    fn class(p: &[char], c: char) -> Option<(bool, usize)> {
        // `p` starts after `[`; returns whether `c` is in the class and the pattern's length.
        let (negate, start) = if p.first() == Some(&'!') {
            (true, 1)
        } else {
            (false, 0)
        };
        let mut i = start;
        let mut hit = false;
        while i < p.len() {
            if p[i] == ']' && i > start {
                return Some((hit != negate, i + 1));
            }
            if i + 2 < p.len() && p[i + 1] == '-' && p[i + 2] != ']' {
                hit |= p[i] <= c && c <= p[i + 2];
                i += 3;
            } else {
                hit |= p[i] == c;
                i += 1;
            }
        }
        None
    }
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('*') => (0..=t.len()).any(|k| go(&p[1..], &t[k..])),
            Some('?') => !t.is_empty() && go(&p[1..], &t[1..]),
            Some('[') => match (t.first(), class(&p[1..], *t.first().unwrap_or(&'\0'))) {
                (Some(_), Some((true, len))) => go(&p[1 + len..], &t[1..]),
                (Some(_), Some((false, _))) | (None, _) => false,
                // An unclosed `[` is itself.
                (Some(&c), None) => c == '[' && go(&p[1..], &t[1..]),
            },
            Some(&c) => t.first() == Some(&c) && go(&p[1..], &t[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    go(&p, &t)
}

/// Whether `origin` (`scheme://host[:port]`) is the server's own: the host and port of `Host`.
fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default = match scheme.to_ascii_lowercase().as_str() {
        "http" => "80",
        "https" => "443",
        _ => return false,
    };
    let with_port = |a: &str| -> (String, String) {
        let a = a.trim().to_ascii_lowercase();
        let name = host_name(&a);
        let port = a
            .strip_prefix(&format!("[{name}]"))
            .or_else(|| a.strip_prefix(&name))
            .and_then(|rest| rest.strip_prefix(':'))
            .filter(|p| !p.is_empty())
            .unwrap_or(default)
            .to_owned();
        (name, port)
    };
    with_port(authority) == with_port(host)
}

/// Whether `origin` is a page served from this machine's loopback (MLflow lets those call).
fn loopback_origin(origin: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return false;
    }
    let name = host_name(&authority.to_ascii_lowercase());
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Methods that change what the server holds.
fn writes(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::DELETE | Method::PATCH
    )
}

fn text(status: StatusCode, message: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"))],
        message,
    )
        .into_response()
}

/// The CORS headers of an answer to `origin`, if it may read it.
fn cors_headers(security: &Security, origin: &str, out: &mut HeaderMap) {
    let (allow, credentials) = if security.any_origin() {
        (HeaderValue::from_static("*"), false)
    } else if security.origin_listed(origin) {
        match HeaderValue::from_str(origin) {
            Ok(v) => (v, true),
            Err(_) => return,
        }
    } else if loopback_origin(origin) {
        match HeaderValue::from_str(origin) {
            Ok(v) => (v, false),
            Err(_) => return,
        }
    } else {
        return;
    };
    out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
    if credentials {
        out.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    out.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("*"),
    );
    out.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// The middleware: checks the host and the origin, answers CORS preflights, adds the headers.
pub(crate) async fn guard(
    State(state): State<Arc<ServerState>>,
    req: Request,
    next: Next,
) -> Response {
    let security = &state.security;
    if !security.enabled {
        return next.run(req).await;
    }
    let path = req.uri().path();
    let path = state
        .static_prefix
        .as_deref()
        .and_then(|prefix| path.strip_prefix(prefix))
        .unwrap_or(path);
    let health = matches!(path, "/health" | "/version");
    // HTTP/2 names the host in the URI's authority, HTTP/1.1 in `Host` (one that is not text
    // is served by no name: refused).
    let host = match req.headers().get(header::HOST) {
        Some(h) => Some(
            h.to_str()
                .map_or_else(|_| "\u{fffd}".to_owned(), str::to_owned),
        ),
        None => req.uri().authority().map(|a| a.as_str().to_owned()),
    };
    // With authentication on, only hosts the operator listed (see the module's documentation).
    let check_hosts = security.listed_hosts.is_some() || !state.auth;
    let mut refused = None;
    if check_hosts
        && !health
        && let Some(host) = &host
        && !security.host_allowed(host)
    {
        tracing::warn!(host = %host, "refused a request with a Host this server does not serve (see --allowed-hosts)");
        refused = Some(text(StatusCode::FORBIDDEN, INVALID_HOST));
    }
    // An `Origin` that is not text is no origin this server knows (as `null`).
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .map(|o| o.to_str().map_or_else(|_| "null".to_owned(), str::to_owned));
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if refused.is_none()
        && let Some(origin) = &origin
    {
        // The server's own pages, when their host is one it vouches for: a checked host (not a
        // list any name passes, such as `--allowed-hosts '*'`), or any host with authentication
        // on. Behind such a list without authentication, a page on another address than
        // loopback writes only when its origin is in `--cors-allowed-origins`. A rebound name
        // (`evil.example` pointed at this machine) is its own origin too, so without a host
        // check its pages would pass as this server's.
        let vouched = state.auth || (check_hosts && !security.any_host());
        let own = vouched && host.as_deref().is_some_and(|h| same_origin(origin, h));
        let may_write = own
            || security.any_origin()
            || security.origin_listed(origin)
            || loopback_origin(origin);
        if preflight {
            let mut res = if may_write {
                StatusCode::NO_CONTENT.into_response()
            } else {
                text(StatusCode::FORBIDDEN, CROSS_ORIGIN_BLOCKED)
            };
            let headers = res.headers_mut();
            if may_write {
                cors_headers(security, origin, headers);
                headers.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS, PATCH"),
                );
                if let Some(asked) = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
                }
                headers.insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static("600"),
                );
            }
            return finish(security, crate::auth::drained(req, res).await);
        }
        if writes(req.method()) && !may_write {
            tracing::warn!(origin = %origin, "refused a write from another site's page (list it in --cors-allowed-origins; with --allowed-hosts '*' and no authentication, the server's own pages too)");
            refused = Some(text(StatusCode::FORBIDDEN, CROSS_ORIGIN_BLOCKED));
        }
    }
    if let Some(res) = refused {
        return finish(security, crate::auth::drained(req, res).await);
    }
    let mut res = next.run(req).await;
    if let Some(origin) = &origin
        && !host.as_deref().is_some_and(|h| same_origin(origin, h))
    {
        cors_headers(security, origin, res.headers_mut());
    }
    finish(security, res)
}

/// The headers every answer carries (`X-Frame-Options` unless the answer has its own).
fn finish(security: &Security, mut res: Response) -> Response {
    let headers = res.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // A page that set its own (the web UI's `DENY`) keeps it.
    if let Some(frame) = &security.frame_options {
        headers
            .entry(header::X_FRAME_OPTIONS)
            .or_insert_with(|| frame.clone());
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_as_fnmatch_does() {
        assert!(glob("*.example.com", "a.example.com"));
        assert!(glob("*.example.com:*", "a.example.com:5000"));
        assert!(!glob("*.example.com", "example.com"));
        assert!(glob("host?", "host1"));
        assert!(glob("[[]::1]:*", "[::1]:5000"));
        assert!(glob("h[a-c]st", "hbst"));
        assert!(!glob("h[!a-c]st", "hbst"));
    }

    #[test]
    fn default_hosts_are_loopback_private_and_the_listening_address() {
        let s = Security::default().listening_on("203.0.113.7".parse().expect("ip"));
        for ok in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "[::1]:5000",
            "10.1.2.3:80",
            "172.20.0.1",
            "192.168.1.9:5000",
            "[fd00::1]:5000",
            "203.0.113.7:5000",
            "LOCALHOST:5000",
        ] {
            assert!(s.host_allowed(ok), "{ok}");
        }
        for refused in [
            "evil.example:5000",
            "10.evil.example:5000",
            "198.51.100.1:5000",
            "172.32.0.1",
            "localhost.evil.example",
        ] {
            assert!(!s.host_allowed(refused), "{refused}");
        }
        let named = Security::default().also_allowing("login01");
        assert!(named.host_allowed("login01:41234"));
    }

    #[test]
    fn listed_hosts_replace_the_defaults() {
        let s =
            Security::new(Some("mlflow.example.com, *.internal:*"), None, None).expect("settings");
        assert!(s.host_allowed("mlflow.example.com"));
        assert!(s.host_allowed("a.internal:5000"));
        assert!(!s.host_allowed("localhost:5000"));
        assert!(
            Security::new(Some("*"), None, None)
                .expect("settings")
                .host_allowed("x:1")
        );
    }

    #[test]
    fn origins_compare_by_host_and_port() {
        assert!(same_origin(
            "http://sluice.example:5000",
            "sluice.example:5000"
        ));
        assert!(same_origin("https://sluice.example", "sluice.example"));
        assert!(same_origin("https://sluice.example", "sluice.example:443"));
        assert!(same_origin("http://[::1]:5000", "[::1]:5000"));
        assert!(!same_origin(
            "http://sluice.example:5001",
            "sluice.example:5000"
        ));
        assert!(!same_origin("null", "sluice.example:5000"));
        assert!(loopback_origin("http://localhost:3000"));
        assert!(loopback_origin("http://127.0.0.1:8888"));
        assert!(!loopback_origin("http://localhost.evil.example"));
        assert!(!loopback_origin("null"));
    }

    #[test]
    fn frame_options_are_mlflows() {
        assert!(Security::new(None, None, Some("deny")).is_ok());
        assert!(
            Security::new(None, None, Some("none"))
                .expect("ok")
                .frame_options
                .is_none()
        );
        assert!(Security::new(None, None, Some("ALLOWALL")).is_err());
    }
}
