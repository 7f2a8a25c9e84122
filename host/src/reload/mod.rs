//! Live swap: the plugin chain serving connections is replaced while the
//! server runs, without dropping a connection or a line.
//!
//! The chain in use is one `Pipeline` behind an `ArcSwap`. A reload —
//! on a file change ([`watch`]), `SIGHUP`, or `POST /reload` on the admin
//! endpoint, all asked for through one [`queue`] that coalesces them —
//! reads and compiles the plugin files and makes and initializes an
//! instance of each, all on a blocking thread, away from connections.
//! Only if every plugin loads is the new pipeline published, in one atomic
//! store; otherwise the old one keeps serving and the reason is logged.
//!
//! Connections load the current pipeline once per batch, so each switches
//! at its next batch boundary; a batch already handed to the old pipeline
//! finishes on it. The old pipeline, its instances and their memory are
//! dropped when the last batch using it ends.
//!
//! Owns nothing itself: [`live`] holds the serving chain and reloads it,
//! [`queue`] coalesces requests for reloads, [`watch`] turns file changes
//! into requests, [`registry_poll`] turns moved registry tags into them.

pub mod live;
pub mod queue;
pub mod registry_poll;
pub mod watch;

pub use live::{LivePipeline, ReloadCause, Reloaded};
pub use queue::{ReloadFailed, Reloads};
