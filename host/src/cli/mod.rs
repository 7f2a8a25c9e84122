//! The command line: `yell-host [serve options]`, `yell-host serve ...`,
//! `yell-host client ...`, `yell-host reload ADDR`, `yell-host pipe`,
//! `yell-host sign`, `yell-host keygen`, `yell-host new`, `build`, `dev`,
//! `test`, `wit`, `kv`, `push` and `pull`. Options are checked and turned
//! into the plain config types the rest of the program takes (the server's
//! [`ServerConfig`](crate::server::ServerConfig), the client's, `pipe`'s,
//! the runtime's plugin specs and limits) before anything binds, so a
//! mistake fails fast with a message and exit code 1.
//!
//! Owns: every clap type of the program. Uses: the config types and
//! checks of the modules it configures.

mod client;
mod kv;
mod pipe;
mod plugin_options;
mod project;
mod registry;
mod registry_options;
mod reload;
mod serve;
mod sign;
mod state_options;
mod test;
mod values;
mod wit;

use clap::{Parser, Subcommand};

pub use client::ClientArgs;
pub use kv::KvArgs;
pub use pipe::PipeArgs;
pub use project::{BuildArgs, DevArgs, NewArgs};
pub use registry::{PullArgs, PushArgs};
pub use registry_options::RegistryArgs;
pub use reload::ReloadArgs;
pub use serve::ServeArgs;
pub use sign::{KeygenArgs, SignArgs};
pub use test::TestArgs;
pub use values::LogFormatArg;
pub use wit::WitArgs;

/// A TCP line server whose line transform is a sandboxed WebAssembly plugin.
///
/// Without a subcommand it serves: `yell-host --plugin uppercase.wasm`.
#[derive(Debug, Parser)]
#[command(name = "yell-host", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Log level (error, warn, info, debug, trace) or a full filter such as
    /// `info,yell_host::connection=debug`; overrides RUST_LOG [default:
    /// info; for `pipe`, warn and the plugins' own log lines].
    #[arg(long, global = true)]
    pub log_level: Option<String>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormatArg::Text)]
    pub log_format: LogFormatArg,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve lines through a plugin (what `yell-host` does by default).
    Serve(Box<ServeArgs>),
    /// Load-test a line server: N connections, every reply checked.
    Client(ClientArgs),
    /// Ask a running server to reload its plugins from disk, through its
    /// admin endpoint (`--metrics-addr`); waits for the outcome.
    Reload(ReloadArgs),
    /// Lines from stdin through a plugin (or a chain) to stdout, no server:
    /// what a client sending stdin would get back; failures on stderr with
    /// their line numbers, exit code 1 if any.
    Pipe(PipeArgs),
    /// Sign plugin files for servers started with `--trusted-key`: writes
    /// each X.wasm's signature to X.wasm.sig.
    Sign(SignArgs),
    /// Make a key pair to sign plugins with: FILE (private, PEM) and
    /// FILE.pub (public, what `--trusted-key` takes).
    Keygen(KeygenArgs),
    /// Make a plugin project in a new folder: a starter plugin, the SDK and
    /// contract it builds with, fixtures and a unit test.
    New(NewArgs),
    /// Build the plugin project in DIR into a component; its path is the
    /// last line printed.
    Build(BuildArgs),
    /// Build the plugin project in DIR, serve it (with the server's
    /// options), and rebuild and swap it live at each change of its
    /// sources; a failed build leaves the last good plugin serving.
    Dev(Box<DevArgs>),
    /// Check a plugin as the server will run it: it loads, keeps the
    /// contract on input every plugin must take, and gives each fixture's
    /// expected output (--fixtures DIR); exit code 1 if anything fails.
    Test(TestArgs),
    /// Print the plugin contract (WIT) this binary serves, or write it into
    /// a folder: what a plugin is built against.
    Wit(WitArgs),
    /// Push a plugin (a component, or a project folder, built first) to an
    /// OCI registry: prints the manifest digest and the reference that
    /// pins it.
    Push(PushArgs),
    /// Pull plugins from OCI registries into the cache, so a server starts
    /// from it without a registry in reach.
    Pull(PullArgs),
    /// Look inside the plugins' state store: list, get, set, delete, and
    /// export or import it as JSON lines.
    Kv(KvArgs),
}
