//! Who may use the admin endpoint.
//!
//! - Without a token, which only a loopback address may go without, every
//!   request's `Host` must name the loopback (`localhost`, `127.x.y.z`,
//!   `[::1]`, with or without a port): a web page that rebinds its own DNS
//!   name to 127.0.0.1 still sends its name, so it can neither read the
//!   metrics and plugin list nor reload (DNS rebinding).
//! - Reading (metrics, health, the plugin list) is otherwise open to
//!   whoever reaches the address. `POST /reload` changes what every client
//!   gets, so a request from a web page is refused (it carries `Origin` or
//!   `Sec-Fetch-*`, which browsers add and scripts do not): a page open in
//!   a browser on the same machine cannot reload the server (CSRF); and
//!   with a token (`--admin-token-file`), `Authorization: Bearer TOKEN` is
//!   required, compared in constant time.
//!
//! Owns: who may reach the admin endpoint (exposure, tokens, browsers). Uses: nothing else of
//! this crate.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use anyhow::{bail, Context, Result};
use hyper::header::{HeaderMap, AUTHORIZATION, HOST, ORIGIN};
use hyper::StatusCode;
use subtle::ConstantTimeEq;

/// The secret `POST /reload` needs when one is set.
#[derive(Clone)]
pub struct AdminToken(String);

impl AdminToken {
    /// Reads a token file: its content, without surrounding whitespace.
    pub fn read(path: &Path) -> Result<AdminToken> {
        let shown = path.display();
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("admin token file {shown}: cannot read it"))?;
        let token = text.trim();
        if token.is_empty() {
            bail!("admin token file {shown}: is empty");
        }
        if token.chars().any(|c| c.is_control() || c == ' ') {
            bail!("admin token file {shown}: a token is one word of printable characters");
        }
        warn_if_others_can_read(path);
        Ok(AdminToken(token.to_string()))
    }

    /// Whether `presented` is this token, in time that does not depend on
    /// where they first differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.as_bytes().ct_eq(presented).into()
    }

    /// The `Authorization` header value that presents this token.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(..)")
    }
}

fn warn_if_others_can_read(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(metadata) = std::fs::metadata(path) {
        if metadata.permissions().mode() & 0o077 != 0 {
            tracing::warn!(
                "admin token file {}: others may read it (chmod 600 keeps it yours)",
                path.display()
            );
        }
    }
}

/// Refuses to serve the admin endpoint on an address others can reach
/// without a token.
pub fn check_exposure(addr: SocketAddr, token: Option<&AdminToken>) -> Result<()> {
    if token.is_none() && !addr.ip().is_loopback() {
        bail!(
            "--metrics-addr {addr} is not a loopback address: anyone who can reach it could reload the plugins. \
             Give --admin-token-file FILE (POST /reload then needs `Authorization: Bearer TOKEN`), \
             or listen on 127.0.0.1 or [::1]"
        );
    }
    Ok(())
}

/// Why a request may not change the server.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub status: StatusCode,
    pub why: String,
}

/// Checks any request: without a token, it must be addressed to the
/// loopback by name (`authority` is the request target's, for a request in
/// absolute form).
pub fn check_host(
    headers: &HeaderMap,
    authority: Option<&str>,
    token: Option<&AdminToken>,
) -> Result<(), Refused> {
    if token.is_some() {
        return Ok(());
    }
    let hosts: Vec<&[u8]> = headers
        .get_all(HOST)
        .iter()
        .map(|host| host.as_bytes())
        .chain(authority.map(str::as_bytes))
        .collect();
    // Browsers always send one Host; a request without one is a script's.
    let refused = |why: String| Refused {
        status: StatusCode::FORBIDDEN,
        why,
    };
    if headers.get_all(HOST).iter().count() > 1 {
        return Err(refused("refused: more than one Host header".into()));
    }
    for host in hosts {
        let name = std::str::from_utf8(host).unwrap_or("(not text)");
        if !names_loopback(name) {
            return Err(refused(format!(
                "refused: Host {name:?} does not name this machine's loopback (a web page's own name, rebound to 127.0.0.1?)"
            )));
        }
    }
    Ok(())
}

/// Checks a request that changes the server (its Host passed
/// [`check_host`]).
pub fn check_change(headers: &HeaderMap, token: Option<&AdminToken>) -> Result<(), Refused> {
    let from_browser = headers.contains_key(ORIGIN)
        || headers
            .keys()
            .any(|name| name.as_str().starts_with("sec-fetch-"));
    if from_browser {
        return Err(Refused {
            status: StatusCode::FORBIDDEN,
            why: "refused: a request from a web page may not change the server (use `yell-host reload` or curl)".into(),
        });
    }
    let Some(token) = token else {
        return Ok(());
    };
    // `Authorization: Bearer TOKEN`, the scheme in any case.
    let presented = headers.get(AUTHORIZATION).and_then(|value| {
        let value = value.as_bytes();
        let space = value.iter().position(|&b| b == b' ')?;
        let (scheme, rest) = value.split_at(space);
        scheme
            .eq_ignore_ascii_case(b"bearer")
            .then(|| rest.trim_ascii())
    });
    match presented {
        None => Err(Refused {
            status: StatusCode::UNAUTHORIZED,
            why: "refused: a token is needed (Authorization: Bearer TOKEN, the content of the server's --admin-token-file; `yell-host reload --token-file FILE` sends it)".into(),
        }),
        Some(presented) if token.matches(presented) => Ok(()),
        Some(_) => Err(Refused {
            status: StatusCode::FORBIDDEN,
            why: "refused: wrong token".into(),
        }),
    }
}

/// Whether a `Host` names the loopback: `localhost` or a loopback IP, with
/// or without a port (digits only).
fn names_loopback(host: &str) -> bool {
    let valid_port = |port: &str| {
        !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
    };
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [::1] or [::1]:port
        let Some((name, after)) = rest.split_once(']') else {
            return false;
        };
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(valid_port)) {
            return false;
        }
        return name
            .parse::<std::net::Ipv6Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    } else {
        match host.split_once(':') {
            Some((name, port)) if valid_port(port) => name,
            Some(_) => return false,
            None => host,
        }
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "localhost:9090",
            "LOCALHOST",
            "127.0.0.1",
            "127.0.0.1:1",
            "127.8.9.1:80",
            "[::1]:9090",
            "[::1]",
        ] {
            assert!(names_loopback(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:9090",
            "10.0.0.1:9090",
            "[::2]:1",
            "localhost.evil.example",
            "127.0.0.1.evil.example",
        ] {
            assert!(!names_loopback(host), "{host}");
        }
    }

    #[test]
    fn without_a_token_only_loopback_names_are_served() {
        assert!(check_host(&headers(&[("host", "127.0.0.1:9090")]), None, None).is_ok());
        assert!(check_host(&headers(&[]), None, None).is_ok());
        let rebound = check_host(&headers(&[("host", "attacker.example:9090")]), None, None);
        assert_eq!(rebound.unwrap_err().status, StatusCode::FORBIDDEN);
        let absolute = check_host(
            &headers(&[("host", "localhost")]),
            Some("evil.example"),
            None,
        );
        assert!(absolute.is_err());
        let mut two = headers(&[("host", "localhost")]);
        two.append(HOST, HeaderValue::from_static("evil.example"));
        assert!(check_host(&two, None, None).is_err());
        // With a token, any name will do.
        let token = AdminToken("t".into());
        assert!(check_host(&headers(&[("host", "admin.example")]), None, Some(&token)).is_ok());
    }

    #[test]
    fn web_pages_may_not_reload() {
        assert!(check_change(&headers(&[("host", "127.0.0.1:9090")]), None).is_ok());
        let page = headers(&[
            ("host", "127.0.0.1:9090"),
            ("origin", "http://attacker.example"),
        ]);
        assert_eq!(
            check_change(&page, None).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
        let fetch = headers(&[("host", "localhost"), ("sec-fetch-site", "cross-site")]);
        assert_eq!(
            check_change(&fetch, None).unwrap_err().status,
            StatusCode::FORBIDDEN
        );
    }

    #[test]
    fn with_a_token_it_must_be_presented() {
        let token = AdminToken("s3cret".into());
        let with = |auth: &str| headers(&[("host", "admin.example"), ("authorization", auth)]);
        assert!(check_change(&with("Bearer s3cret"), Some(&token)).is_ok());
        assert!(check_change(&with("bearer s3cret"), Some(&token)).is_ok());
        assert_eq!(
            check_change(&with("Bearer s3cre"), Some(&token))
                .unwrap_err()
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            check_change(&with("Basic s3cret"), Some(&token))
                .unwrap_err()
                .status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            check_change(&headers(&[("host", "localhost")]), Some(&token))
                .unwrap_err()
                .status,
            StatusCode::UNAUTHORIZED
        );
        // A browser is refused even with the token.
        let page = headers(&[("authorization", "Bearer s3cret"), ("origin", "null")]);
        assert!(check_change(&page, Some(&token)).is_err());
    }

    #[test]
    fn exposure_needs_a_token() {
        let token = AdminToken("t".into());
        assert!(check_exposure("127.0.0.1:9090".parse().unwrap(), None).is_ok());
        assert!(check_exposure("[::1]:9090".parse().unwrap(), None).is_ok());
        assert!(check_exposure("0.0.0.0:9090".parse().unwrap(), None).is_err());
        assert!(check_exposure("0.0.0.0:9090".parse().unwrap(), Some(&token)).is_ok());
    }
}
