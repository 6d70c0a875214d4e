//! Who may talk to a server. A page in the operator's browser can POST to a loopback port
//! without a preflight (a `text/plain` body), and a page whose name is rebound to 127.0.0.1 can
//! read its answers. So every server refuses, with 403, a request that carries an `Origin` other
//! than its own or an allowed one, and — when it listens on loopback only — a request whose
//! `Host` is not a loopback name or an allowed one. Clients that are not browsers (the runner,
//! Locust, curl, Prometheus) send no `Origin` and name the address they connect to, so they
//! keep working unchanged.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use clap::Args;

use crate::control::{ControlOpts, ControlToken, is_control};

#[derive(Debug, Clone, Default, Args)]
pub struct AccessOpts {
    /// Browser origins allowed besides the server's own (`scheme://host:port`), comma-separated.
    #[arg(
        long = "allowed-origins",
        env = "BB_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,
    /// Host names a loopback-only server answers to besides loopback names (e.g. a proxy's),
    /// comma-separated. Servers listening beyond loopback check `Origin` only.
    #[arg(
        long = "allowed-hosts",
        env = "BB_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,
}

/// The rule of one server.
#[derive(Debug, Clone)]
pub struct Access {
    origins: Arc<[String]>,
    hosts: Arc<[String]>,
    /// Listening on loopback only: `Host` must name loopback (or an allowed host).
    check_host: bool,
    /// Who may use the control endpoints ([`crate::control`]); `None` for a server that has
    /// none.
    control: Option<ControlRule>,
}

#[derive(Debug, Clone)]
enum ControlRule {
    Token(ControlToken),
    /// Beyond loopback without a token: refused.
    Closed,
    /// On loopback without a token: guarded by the `Host` and `Origin` checks alone.
    Loopback,
}

impl Access {
    /// The rule of a server listening on `bound`.
    pub fn new(opts: &AccessOpts, bound: Option<SocketAddr>) -> Self {
        let lower = |v: &[String]| v.iter().map(|s| s.trim().to_ascii_lowercase()).collect();
        Self {
            origins: lower(&opts.allowed_origins),
            hosts: lower(&opts.allowed_hosts),
            check_host: bound.is_some_and(|a| a.ip().is_loopback()),
            control: None,
        }
    }

    /// This rule for a server with control endpoints, given its `--control-token`.
    pub fn with_control(self, opts: &ControlOpts) -> Self {
        let control = match &opts.control_token {
            Some(token) => ControlRule::Token(token.clone()),
            None if self.check_host => ControlRule::Loopback,
            None => ControlRule::Closed,
        };
        Self {
            control: Some(control),
            ..self
        }
    }

    /// `router` behind this rule.
    pub fn guard(self, router: Router) -> Router {
        router.layer(from_fn_with_state(self, refuse_foreign))
    }

    /// Why a request with `headers` is refused, if it is.
    fn refusal(&self, headers: &HeaderMap) -> Option<String> {
        let text = |name: header::HeaderName| {
            headers
                .get(name)
                .map(|v| v.to_str().unwrap_or("").trim().to_ascii_lowercase())
        };
        let host = text(header::HOST).unwrap_or_default();
        if self.check_host && !self.host_allowed(&host) {
            return Some(format!("Host {host:?} is not this loopback server's"));
        }
        let origin = text(header::ORIGIN)?;
        let authority = origin.split_once("://").map(|(_, a)| a);
        let same_origin = authority.is_some_and(|a| !host.is_empty() && a == host);
        if same_origin || self.origins.contains(&origin) {
            return None;
        }
        Some(format!(
            "Origin {origin:?} is not allowed (--allowed-origins)"
        ))
    }

    fn host_allowed(&self, host: &str) -> bool {
        let name = strip_port(host);
        let loopback = name == "localhost"
            || name.ends_with(".localhost")
            || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        loopback || self.hosts.iter().any(|h| h == name)
    }

    /// Why a request for a control endpoint with `headers` is refused, if it is.
    fn control_refusal(&self, headers: &HeaderMap) -> Option<Response> {
        match self.control.as_ref()? {
            ControlRule::Loopback => None,
            ControlRule::Token(token) if token.admits(headers) => None,
            ControlRule::Token(_) => Some(
                (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Bearer")],
                    "this endpoint needs Authorization: Bearer <the --control-token>\n",
                )
                    .into_response(),
            ),
            ControlRule::Closed => Some(
                (
                    StatusCode::FORBIDDEN,
                    "this server listens beyond loopback: its control endpoints (/phases, \
                     /diag/*, /stats) need --control-token (BB_CONTROL_TOKEN); /healthz and \
                     /metrics are open\n",
                )
                    .into_response(),
            ),
        }
    }
}

/// The host of a `Host` value: `[::1]:8080` → `::1`, `localhost:80` → `localhost`.
fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

async fn refuse_foreign(State(access): State<Access>, request: Request, next: Next) -> Response {
    if let Some(why) = access.refusal(request.headers()) {
        return (StatusCode::FORBIDDEN, format!("{why}\n")).into_response();
    }
    if is_control(request.uri().path())
        && let Some(refused) = access.control_refusal(request.headers())
    {
        return refused;
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(name.clone(), value.parse().expect("a header value"));
        }
        h
    }

    fn loopback(opts: &AccessOpts) -> Access {
        Access::new(opts, Some("127.0.0.1:8080".parse().expect("an address")))
    }

    #[test]
    fn clients_without_an_origin_that_name_loopback_are_served() {
        let access = loopback(&AccessOpts::default());
        for host in [
            "127.0.0.1:8080",
            "localhost:8080",
            "[::1]:8080",
            "localhost",
        ] {
            let h = headers(&[(header::HOST, host)]);
            assert_eq!(access.refusal(&h), None, "{host}");
        }
    }

    #[test]
    fn a_foreign_origin_or_a_rebound_host_is_refused() {
        let access = loopback(&AccessOpts::default());
        let foreign = headers(&[
            (header::HOST, "127.0.0.1:8080"),
            (header::ORIGIN, "http://evil.example"),
        ]);
        assert!(
            access
                .refusal(&foreign)
                .is_some_and(|w| w.contains("Origin"))
        );
        let rebound = headers(&[(header::HOST, "evil.example:8080")]);
        assert!(access.refusal(&rebound).is_some_and(|w| w.contains("Host")));
        let opaque = headers(&[(header::HOST, "127.0.0.1:8080"), (header::ORIGIN, "null")]);
        assert!(access.refusal(&opaque).is_some());
    }

    #[test]
    fn the_own_origin_and_allowed_ones_are_served() {
        let opts = AccessOpts {
            allowed_origins: vec!["https://grafana.example".into()],
            allowed_hosts: vec!["bench.internal".into()],
        };
        let access = loopback(&opts);
        let own = headers(&[
            (header::HOST, "127.0.0.1:8080"),
            (header::ORIGIN, "http://127.0.0.1:8080"),
        ]);
        assert_eq!(access.refusal(&own), None);
        let allowed = headers(&[
            (header::HOST, "bench.internal:8080"),
            (header::ORIGIN, "https://grafana.example"),
        ]);
        assert_eq!(access.refusal(&allowed), None);
    }

    #[test]
    fn beyond_loopback_only_the_origin_is_checked() {
        let all = Access::new(
            &AccessOpts::default(),
            Some("0.0.0.0:8080".parse().expect("an address")),
        );
        let compose = headers(&[(header::HOST, "ingress:8080")]);
        assert_eq!(all.refusal(&compose), None);
        let foreign = headers(&[
            (header::HOST, "ingress:8080"),
            (header::ORIGIN, "http://evil.example"),
        ]);
        assert!(all.refusal(&foreign).is_some());
    }

    #[test]
    fn control_endpoints_need_the_token_or_loopback() {
        let token = "correct-horse-battery-staple";
        let with_token = ControlOpts {
            control_token: Some(token.parse().expect("a valid token")),
        };
        let all: SocketAddr = "0.0.0.0:8080".parse().expect("an address");
        let status = |access: &Access, h: &HeaderMap| access.control_refusal(h).map(|r| r.status());
        let none = HeaderMap::new();
        let authorization = format!("Bearer {token}");
        let bearer = headers(&[(header::AUTHORIZATION, authorization.as_str())]);

        let open_network = Access::new(&AccessOpts::default(), Some(all));
        let closed = open_network.clone().with_control(&ControlOpts::default());
        assert_eq!(status(&closed, &bearer), Some(StatusCode::FORBIDDEN));
        let guarded = open_network.with_control(&with_token);
        assert_eq!(status(&guarded, &none), Some(StatusCode::UNAUTHORIZED));
        assert_eq!(status(&guarded, &bearer), None);

        let local = loopback(&AccessOpts::default());
        assert_eq!(
            status(&local.clone().with_control(&ControlOpts::default()), &none),
            None
        );
        let local_with_token = local.with_control(&with_token);
        assert_eq!(
            status(&local_with_token, &none),
            Some(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(status(&local_with_token, &bearer), None);
    }
}
