//! yell-host: a TCP line server whose line transform is a sandboxed
//! WebAssembly component.
//!
//! [`server::run`] is the application: the binary parses its command line
//! ([`cli`]) into a [`server::ServerConfig`] and calls it. The data path,
//! one module per step: [`listener`] accepts → [`proxy_protocol`] reads
//! the balancer's header saying whom a connection is for (when one is
//! expected) → [`connection`] reads and writes → [`framing`] cuts bytes
//! into batches of lines and puts replies back → [`plugin`] runs the batch
//! through a chain of pooled component instances under [`limits`] (calls
//! that outlive their first slice finish in the [`slow_lane`]), which
//! [`reload`] swaps live; [`stats`] counts along the way, [`metrics`]
//! renders the counts for Prometheus and [`admin`] serves them over HTTP
//! (and takes reload requests). [`client`] is the bundled load tester,
//! [`pipe`] runs a plugin on stdin, and [`logging`] is where log lines go.

pub mod admin;
pub mod cli;
pub mod client;
pub mod connection;
pub mod framing;
pub mod limits;
pub mod listener;
pub mod logging;
pub mod metrics;
pub mod pipe;
pub mod plugin;
pub mod proxy_protocol;
pub mod reload;
pub mod server;
pub mod slow_lane;
pub mod stats;
