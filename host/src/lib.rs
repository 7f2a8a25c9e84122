//! yell-host: a TCP line server whose line transform is a sandboxed
//! WebAssembly component.
//!
//! [`server::run`] is the application: the binary parses its command line
//! ([`cli`]) into a [`server::ServerConfig`] and calls it. The plugins run
//! in the `yell_runtime` crate (loading, checks, pools, limits, framing,
//! the reply contract); this crate serves them. The data path, one module
//! per step: [`listener`] accepts → [`proxy_protocol`] reads the
//! balancer's header saying whom a connection is for (when one is
//! expected) → [`connection`] reads, has the runtime frame the bytes and
//! run each batch through the plugin chain, and writes the replies, with
//! [`error_policy`] saying what a failure does to the connection;
//! [`reload`] swaps the chain live; [`stats`] counts along the way,
//! [`metrics`] renders the counts for Prometheus and [`admin`] serves them
//! over HTTP (and takes reload requests). [`client`] is the bundled load
//! tester, [`pipe`] runs a plugin on stdin, [`plugin_test`] checks one as
//! the server will run it, [`project`] makes and builds plugin projects
//! and [`dev`] serves one while it is edited, [`locate`] finds a plugin file
//! from a bare name (in a folder, or among the plugins [`embedded`] in the
//! binary with the contract), and [`logging`] is where log lines go.

pub mod admin;
pub mod cli;
pub mod client;
pub mod connection;
pub mod dev;
pub mod embedded;
pub mod error_policy;
pub mod keyvalue;
pub mod listener;
pub mod locate;
pub mod logging;
pub mod metrics;
pub mod oci;
pub mod pipe;
pub mod plugin_imports;
pub mod plugin_metrics;
pub mod plugin_test;
pub mod project;
pub mod proxy_protocol;
pub mod reload;
pub mod server;
pub mod stats;
