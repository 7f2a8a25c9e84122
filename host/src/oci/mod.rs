//! Plugins from OCI registries: `--plugin oci://HOST[:PORT]/REPO:TAG` or
//! `...@sha256:DIGEST` wherever a plugin file is taken, `yell-host push`
//! and `yell-host pull`.
//!
//! [`reference`] says what a reference names, [`credentials`] where its
//! registry's credentials are, [`registry`] pulls (checked against every
//! digest, bounded) and pushes, [`cache`] keeps what was pulled by
//! content, and [`sources`] hands pulled plugins to the runtime (a tag that
//! moves is followed by `crate::reload::registry_poll`).

pub mod cache;
pub mod credentials;
pub mod reference;
pub mod registry;
pub mod sources;

pub use cache::OciCache;
pub use reference::{is_reference, OciReference};
pub use registry::{Registry, RegistryConfig};
pub use sources::PluginSources;
