//! The integration suite, one test binary: each module is one topic of
//! the product, tested from outside, with real components and bytes over
//! TCP on 127.0.0.1; [`harness`] is what they share. Run by `just test`
//! under cargo-nextest (one process per test; `.config/nextest.toml` holds
//! the timing-sensitive tests to one at a time).

mod harness;

mod admin;
mod chains;
mod client;
mod contract;
mod deploy;
mod example_plugins;
mod hostile_clients;
mod hostile_plugins;
mod isolation;
mod isolation_modes;
mod languages;
mod live_swap;
mod malformed_replies;
mod observability;
mod pipe;
mod plugin_loading;
mod plugin_logging;
mod plugin_metrics;
mod plugin_test;
mod polyglot;
mod projects;
mod provenance;
mod registry;
mod scale_out;
mod serve;
mod standalone;
mod state;
mod ten_thousand;
mod wasi_sandbox;
