//! State that plugins keep outside their instances, which a swap, another
//! instance and a restart see: the standard `wasi:keyvalue` interfaces
//! ([`imports`]) over one backend interface ([`backend`]) with three
//! backends, in memory ([`memory`]), an embedded file ([`embedded`]) and
//! Redis for a fleet ([`redis_store`]);
//! the limits and timeout every call is held to ([`store`]), which plugin
//! may open which bucket ([`grants`]), and choosing and opening the
//! backend ([`config`]).
//!
//! Owns: plugin state. Uses: the runtime's host-import extension point.

pub mod backend;
pub mod config;
pub mod embedded;
pub mod grants;
pub mod imports;
pub mod memory;
pub mod redis_store;
pub mod store;
pub mod transfer;

pub use backend::{KeyValueBackend, Quota, StoreError};
pub use config::{KeyValueSpec, StateConfig};
pub use grants::BucketGrants;
pub use imports::KeyValueImport;
pub use store::{KeyValueLimits, StateStore};
