//! The control plane: the endpoints that change what a component does or reveal its settings and
//! figures (`POST /phases`, `POST /freeze`, `/diag/*`, `GET /stats`), as opposed to `/healthz`
//! and `/metrics`, which load balancers and Prometheus read openly.
//!
//! On loopback the control plane is guarded by who can reach the port (and by the `Host` and
//! `Origin` checks of [`crate::access`]). A component that listens beyond loopback (compose, a
//! cluster, Kubernetes) could be steered or read by anyone on its network, so there its control
//! endpoints answer only requests carrying `Authorization: Bearer <token>` with the token given
//! by `--control-token` / `BB_CONTROL_TOKEN`, compared in constant time; without a token they
//! refuse every request. With a token, the token is required on loopback too.
//!
//! The runner's children inherit `BB_CONTROL_TOKEN` from it, and [`client`] sends the same token,
//! so a run works unchanged with the variable set. The token is never printed, logged or put on
//! a command line.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, header};
use clap::Args;
use subtle::ConstantTimeEq as _;

/// The variable that carries the token to components and to the runner.
pub const TOKEN_ENV: &str = "BB_CONTROL_TOKEN";

/// Shorter tokens are refused: 16 characters from the 94 visible ASCII ones are over 100 bits.
const MIN_TOKEN_CHARS: usize = 16;

#[derive(Debug, Clone, Default, Args)]
pub struct ControlOpts {
    /// Bearer token the control endpoints (`POST /phases`, `POST /freeze`, `/diag/*`,
    /// `GET /stats`) require; at least 16 visible ASCII characters. Without one, a server
    /// listening beyond loopback refuses them all; `/healthz` and `/metrics` stay open. Give it
    /// in the environment rather than on the command line, which other users of the host can
    /// read.
    #[arg(long = "control-token", env = TOKEN_ENV, hide_env_values = true)]
    pub control_token: Option<ControlToken>,
}

/// A bearer token; its `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct ControlToken(Arc<str>);

impl FromStr for ControlToken {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.chars().count() < MIN_TOKEN_CHARS {
            return Err(format!(
                "a control token needs at least {MIN_TOKEN_CHARS} characters"
            ));
        }
        if !text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "a control token is visible ASCII only: no spaces or control characters".into(),
            );
        }
        Ok(Self(text.into()))
    }
}

impl fmt::Debug for ControlToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ControlToken(<hidden>)")
    }
}

impl ControlToken {
    /// Whether `headers` carry this token as `Authorization: Bearer <token>`, compared in
    /// constant time (the length aside).
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return false;
        };
        let Some((scheme, given)) = value.as_bytes().split_at_checked(7) else {
            return false;
        };
        scheme.eq_ignore_ascii_case(b"bearer ") && bool::from(given.ct_eq(self.0.as_bytes()))
    }

    /// The `Authorization` header that carries it, marked sensitive (kept out of HTTP/2's
    /// header compression and of debug output).
    fn authorization(&self) -> Option<HeaderValue> {
        let mut value = HeaderValue::from_str(&format!("Bearer {}", self.0)).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

/// Whether `path` is a control endpoint.
pub fn is_control(path: &str) -> bool {
    matches!(path, "/stats" | "/phases" | "/freeze") || path.starts_with("/diag/")
}

/// The runner's token: `BB_CONTROL_TOKEN`, which the components it starts inherit.
pub fn runner_token() -> anyhow::Result<Option<ControlToken>> {
    match std::env::var(TOKEN_ENV) {
        Ok(text) => text
            .parse()
            .map(Some)
            .map_err(|why: String| anyhow::anyhow!("{TOKEN_ENV}: {why}")),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            anyhow::bail!("{TOKEN_ENV} is not valid UTF-8")
        }
    }
}

/// An HTTP client for the control endpoints of the runner's components: it sends the runner's
/// token, if any, with every request.
pub fn client() -> anyhow::Result<reqwest::Client> {
    let mut headers = HeaderMap::new();
    if let Some(value) = runner_token()?
        .as_ref()
        .and_then(ControlToken::authorization)
    {
        headers.insert(header::AUTHORIZATION, value);
    }
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "correct-horse-battery-staple";

    fn with_authorization(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            value.parse().expect("a header value"),
        );
        h
    }

    #[test]
    fn only_the_exact_bearer_token_is_admitted() {
        let token: ControlToken = TOKEN.parse().expect("a valid token");
        assert!(token.admits(&with_authorization(&format!("Bearer {TOKEN}"))));
        assert!(token.admits(&with_authorization(&format!("bearer {TOKEN}"))));
        for refused in [
            format!("Bearer {TOKEN}x"),
            format!("Bearer {}", &TOKEN[1..]),
            format!("Basic {TOKEN}"),
            format!("Bearer  {TOKEN}"),
            TOKEN.to_string(),
            "Bearer".to_string(),
        ] {
            assert!(!token.admits(&with_authorization(&refused)), "{refused}");
        }
        assert!(!token.admits(&HeaderMap::new()), "no header at all");
    }

    #[test]
    fn short_or_invisible_tokens_are_refused_and_none_is_ever_shown() {
        for bad in [
            "",
            "short",
            "fifteen-chars-x",
            "sixteen chars xx",
            "tab\there-sixteen+",
        ] {
            assert!(bad.parse::<ControlToken>().is_err(), "{bad:?}");
        }
        let token: ControlToken = TOKEN.parse().expect("a valid token");
        assert!(!format!("{token:?}").contains(TOKEN));
        let header = token.authorization().expect("a header value");
        assert!(header.is_sensitive());
    }

    #[test]
    fn the_control_endpoints_are_phases_freeze_diag_and_stats() {
        for control in ["/stats", "/phases", "/freeze", "/diag/hold"] {
            assert!(is_control(control), "{control}");
        }
        for open in [
            "/healthz",
            "/metrics",
            "/cases",
            "/",
            "/statsx",
            "/diagnostics",
        ] {
            assert!(!is_control(open), "{open}");
        }
    }
}
