//! Plugin projects outside this source tree: `yell-host new` makes one
//! from the templates and SDKs this binary carries ([`scaffold`],
//! [`templates`]), its `yell-plugin.toml` says what it is ([`manifest`]),
//! and `yell-host build` turns it into a component ([`compile`], one
//! builder per language, the pinned tools they need in [`tools`]).
//!
//! Owns: the project folder and what is in it. Uses: the embedded
//! contract, and its parts.

pub mod build_c;
pub mod build_js;
pub mod build_python;
pub mod build_rust;
pub mod compile;
pub mod component;
pub mod manifest;
pub mod scaffold;
pub mod templates;
pub mod tools;

pub use compile::build;
pub use component::BuildOptions;
pub use manifest::{Language, Manifest, MANIFEST_FILE};
pub use scaffold::{create, update_sdk};
