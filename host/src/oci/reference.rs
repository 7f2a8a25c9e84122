//! What `--plugin oci://HOST[:PORT]/REPO:TAG` (or `...@sha256:DIGEST`)
//! means: a registry, a repository in it, and a tag, which may move, or a
//! manifest digest, which never does.
//!
//! Owns: [`OciReference`]. Uses: oci-client's reference grammar.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// How a registry reference is told from a file path.
pub const SCHEME: &str = "oci://";

/// Whether `path` (as `--plugin` took it) is a registry reference.
pub fn is_reference(path: &Path) -> bool {
    path.to_str().is_some_and(|text| text.starts_with(SCHEME))
}

/// A plugin in a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciReference {
    /// As given (with `oci://`): how messages name it.
    shown: String,
    inner: oci_client::Reference,
}

impl OciReference {
    /// Parses `oci://HOST[:PORT]/REPO[:TAG|@sha256:DIGEST]` (the tag is
    /// `latest` when neither is given). The host is required: a bare
    /// `oci://team/plugin` would otherwise mean Docker Hub, which is
    /// rarely what a plugin author meant.
    pub fn parse(raw: &str) -> Result<OciReference> {
        let Some(rest) = raw.strip_prefix(SCHEME) else {
            bail!("{raw}: a registry reference starts with {SCHEME}");
        };
        let (first, path) = rest.split_once('/').unwrap_or((rest, ""));
        let looks_like_host = first.contains('.') || first.contains(':') || first == "localhost";
        if !looks_like_host || path.is_empty() {
            bail!("{raw}: give the registry's host and a repository, as in oci://registry.example.com/team/plugin:1.0 or oci://127.0.0.1:5000/plugin@sha256:...");
        }
        let inner: oci_client::Reference = rest
            .parse()
            .with_context(|| format!("{raw}: not a registry reference"))?;
        if let Some(digest) = inner.digest() {
            let hex = digest.strip_prefix("sha256:").unwrap_or("");
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                bail!("{raw}: a digest is sha256: and 64 hex digits");
            }
        }
        Ok(OciReference {
            shown: raw.to_string(),
            inner,
        })
    }

    /// The reference as given.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// oci-client's form, for its calls.
    pub fn inner(&self) -> &oci_client::Reference {
        &self.inner
    }

    /// `HOST[:PORT]`.
    pub fn registry(&self) -> &str {
        self.inner.resolve_registry()
    }

    /// The registry's host, without the port.
    pub fn host(&self) -> &str {
        host_of(self.registry())
    }

    /// The manifest digest it pins (`sha256:...`), if it pins one.
    pub fn digest(&self) -> Option<&str> {
        self.inner.digest()
    }

    /// The same repository at the manifest `digest` (what a tag resolved to).
    pub fn at_digest(&self, digest: &str) -> oci_client::Reference {
        oci_client::Reference::with_digest(
            self.inner.registry().to_string(),
            self.inner.repository().to_string(),
            digest.to_string(),
        )
    }

    /// The same repository at `tag`.
    pub fn at_tag(&self, tag: &str) -> oci_client::Reference {
        oci_client::Reference::with_tag(
            self.inner.registry().to_string(),
            self.inner.repository().to_string(),
            tag.to_string(),
        )
    }

    /// What the cache keys its last resolution under: registry, repository
    /// and tag.
    pub fn tag_key(&self) -> String {
        format!(
            "{}/{}:{}",
            self.registry(),
            self.inner.repository(),
            self.inner.tag().unwrap_or("latest")
        )
    }
}

/// `HOST` of `HOST[:PORT]` (`[::1]:5000` is `::1`).
pub fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    registry.split(':').next().unwrap_or(registry)
}

/// Whether `host` is this machine (where plain HTTP is allowed).
pub fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_digests_parse_and_a_host_is_required() {
        let tagged = OciReference::parse("oci://127.0.0.1:5000/team/uppercase:v2").unwrap();
        assert_eq!(tagged.registry(), "127.0.0.1:5000");
        assert_eq!(tagged.host(), "127.0.0.1");
        assert_eq!(tagged.digest(), None);
        assert_eq!(tagged.tag_key(), "127.0.0.1:5000/team/uppercase:v2");
        let untagged = OciReference::parse("oci://registry.example.com/uppercase").unwrap();
        assert_eq!(untagged.tag_key(), "registry.example.com/uppercase:latest");
        let digest = format!("sha256:{}", "ab".repeat(32));
        let pinned =
            OciReference::parse(&format!("oci://localhost:5000/uppercase@{digest}")).unwrap();
        assert_eq!(pinned.digest(), Some(digest.as_str()));
        for bad in [
            "uppercase.wasm",
            "oci://team/uppercase:v1",
            "oci://registry.example.com",
            "oci://registry.example.com/Upper:case",
            "oci://registry.example.com/uppercase@sha256:abc",
        ] {
            assert!(OciReference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_hosts_are_known() {
        for host in ["127.0.0.1", "127.1.2.3", "::1", "localhost"] {
            assert!(is_loopback(host), "{host}");
        }
        assert!(!is_loopback("registry.example.com"));
        assert_eq!(host_of("[::1]:5000"), "::1");
    }
}
