//! yell-host: a TCP line server whose line transform is a sandboxed
//! WebAssembly component.
//!
//! The data path, one module per step:
//! [`server`] accepts → [`connection`] reads and writes → [`framing`] cuts
//! bytes into batches of lines and puts replies back → [`plugin`] runs the
//! batch through a pooled component instance under [`limits`]; [`stats`]
//! counts along the way, and [`metrics`] serves the counts to Prometheus. [`client`] is the bundled load tester and [`cli`]
//! the command line.

pub mod cli;
pub mod client;
pub mod connection;
pub mod framing;
pub mod limits;
pub mod metrics;
pub mod plugin;
pub mod server;
pub mod stats;
