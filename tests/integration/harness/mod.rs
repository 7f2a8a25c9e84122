//! What every integration test shares, one concern per module: where
//! things are ([`paths`]), bytes over TCP ([`net`]), the real binary as a
//! process ([`process`]), a server in the test's own process
//! ([`in_process`]), the admin endpoint over HTTP ([`http`]), a client
//! proving other connections go on ([`steady`]), the binary's other
//! commands ([`commands`]), a real Redis ([`redis`]), a real OCI registry
//! ([`registry`]), a test CA ([`tls`]) and a load client checking swaps
//! ([`swap_load`]).

pub mod commands;
pub mod http;
pub mod in_process;
pub mod net;
pub mod paths;
pub mod process;
pub mod redis;
pub mod registry;
pub mod steady;
pub mod swap_load;
pub mod tls;

pub use commands::{compiled_once, pipe};
pub use http::{http_exchange, http_get, promtool_check, sample};
pub use in_process::{InProcessServer, ServerBuilder};
pub use net::{connect, exchange, read_exact, read_line, read_to_end, tricky_lines, STEP_TIMEOUT};
pub use paths::{
    binary, compile_cache, custom_section, deploy_by_rename, plugin_bytes, plugin_dir, scratch,
    testing_plugin, yell_host,
};
pub use process::{
    assert_mentions, refused, refused_with, refused_with_env, wait_with_timeout, ServerProcess,
};
pub use redis::RedisServer;
pub use registry::RegistryServer;
pub use steady::SteadyClient;
pub use swap_load::{reversed, LoadClient};
pub use tls::TestCa;
