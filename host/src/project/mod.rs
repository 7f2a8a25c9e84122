//! Plugin projects outside this source tree: `yell-host new` makes one
//! from the templates and SDKs this binary carries ([`scaffold`]), its
//! `yell-plugin.toml` says what it is ([`manifest`]), and `yell-host
//! build` turns it into a component ([`compile`]).
//!
//! Owns: the project folder and what is in it. Uses: the embedded
//! contract, and its three parts.

pub mod compile;
pub mod manifest;
pub mod scaffold;

pub use compile::{build, BuildOptions};
pub use manifest::{Language, Manifest, MANIFEST_FILE};
pub use scaffold::{create, update_sdk};
