//! `yell-plugin`: write a yell-host plugin as one per-line function.
//!
//! The host hands a plugin whole batches of lines per call (see `wit/plugin.wit`
//! for why); this crate speaks that batch contract and calls your
//! [`LinePlugin::transform`] once per line, so a plugin is a few lines:
//!
//! ```ignore
//! use yell_plugin::{Config, LinePlugin, Reply};
//!
//! struct Uppercase;
//!
//! impl LinePlugin for Uppercase {
//!     fn new(config: &Config) -> Result<Self, String> {
//!         config.allow_only(&[])?;
//!         Ok(Uppercase)
//!     }
//!
//!     fn transform(&mut self, line: &[u8], reply: &mut Reply) -> Result<(), String> {
//!         reply.push_map(line, |byte| byte.to_ascii_uppercase());
//!         Ok(())
//!     }
//! }
//!
//! yell_plugin::export_plugin!(Uppercase);
//! ```
//!
//! Lines are bytes, not text: they may hold anything but '\n', including
//! invalid UTF-8. One plugin value lives per instance; the host pools
//! instances, so state in `self` is per instance, not per connection.

// The generated bindings name this crate by its path, also from inside it.
extern crate self as yell_plugin;

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit",
        // The plugin world with the state interfaces: a plugin that never
        // calls `state` imports none of them (the component keeps only the
        // imports its module uses), and stays a plain `plugin`.
        world: "stateful-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_world",
        default_bindings_module: "yell_plugin::bindings",
        runtime_path: "yell_plugin::__wit_bindgen_rt",
        generate_all,
    });
}

#[doc(hidden)]
pub use wit_bindgen::rt as __wit_bindgen_rt;

pub mod clock;
mod host;
pub mod log;
pub mod metrics;
mod reply;
#[doc(hidden)]
pub mod runtime;
pub mod state;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use reply::Reply;

/// Identifies one client connection for the life of the host process.
pub type ConnectionId = u64;

/// Where a client connection comes from and goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The client's address (`192.0.2.7:56324`, `[2001:db8::1]:4000`):
    /// behind a load balancer that sends the PROXY protocol, the real
    /// client's.
    pub peer: String,
    /// The address the client connected to.
    pub local: String,
}

/// What the host knows of connection `conn` while it is open (`None` once
/// it closed). A plugin that calls this imports `yell:plugin/connection`,
/// which hosts offer from the release that added it; a plugin that does
/// not call it does not import it.
pub fn connection_info(conn: ConnectionId) -> Option<ConnectionInfo> {
    host::connection_info(conn)
}

/// The key/value configuration the host hands a plugin when it loads it.
#[derive(Debug, Default, Clone)]
pub struct Config {
    entries: Vec<(String, String)>,
}

impl Config {
    /// Wraps the pairs as the host sent them.
    pub fn new(entries: Vec<(String, String)>) -> Self {
        Config { entries }
    }

    /// The value of `key`, if it was given (the last one wins if repeated).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `key` parsed as `T`, or `default` when it is absent; a
    /// value that does not parse is an error naming the key.
    pub fn parse_or<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, String>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|e| format!("config `{key}`: cannot use {raw:?}: {e}")),
        }
    }

    /// Refuses any key not in `known`, so a typo in a configuration is an
    /// error at load time rather than a setting silently ignored.
    pub fn allow_only(&self, known: &[&str]) -> Result<(), String> {
        match self
            .entries
            .iter()
            .find(|(k, _)| !known.contains(&k.as_str()))
        {
            None => Ok(()),
            Some((k, _)) if known.is_empty() => Err(format!(
                "unknown config key `{k}`: this plugin takes no configuration"
            )),
            Some((k, _)) => Err(format!(
                "unknown config key `{k}`: this plugin knows {}",
                known.join(", ")
            )),
        }
    }

    /// All pairs in the order given.
    pub fn entries(&self) -> &[(String, String)] {
        &self.entries
    }
}

/// A plugin written line by line. Implement it and name the type in
/// [`export_plugin!`].
pub trait LinePlugin: Sized + 'static {
    /// For a plugin whose reply to every line is that line with each byte
    /// mapped on its own (upper-casing, ROT13...): the map. The SDK then maps
    /// a whole batch in one pass, many bytes at a step, instead of line by
    /// line; `transform` must still give the same replies (it serves raw
    /// mode). Used only if the map keeps every '\n' and makes no new one;
    /// otherwise the batch goes line by line.
    const BYTE_MAP: Option<fn(u8) -> u8> = None;

    /// Builds the plugin from its configuration; an error refuses the
    /// configuration and the host does not load the plugin.
    fn new(config: &Config) -> Result<Self, String>;

    /// Transforms one line (without its line ending) into zero or more reply
    /// lines pushed on `reply`. An error answers this line with an error;
    /// reply lines pushed before the error are discarded.
    fn transform(&mut self, line: &[u8], reply: &mut Reply) -> Result<(), String>;

    /// Like [`LinePlugin::transform`], with the connection the line came from.
    /// Override this instead when the connection matters.
    fn transform_for(
        &mut self,
        conn: ConnectionId,
        line: &[u8],
        reply: &mut Reply,
    ) -> Result<(), String> {
        let _ = conn;
        self.transform(line, reply)
    }

    /// Raw mode: a chunk of bytes as read, no framing. By default the chunk is
    /// transformed as if it were one line and the reply lines are joined by
    /// '\n', so a per-byte transform such as upper-casing works unchanged.
    fn transform_raw(&mut self, conn: ConnectionId, chunk: &[u8]) -> Result<Vec<u8>, String> {
        let mut reply = Reply::default();
        self.transform_for(conn, chunk, &mut reply)?;
        let mut out = reply.into_bytes();
        out.pop(); // the '\n' ending the last reply line was not in the input
        Ok(out)
    }

    /// A client connected: lines pushed on `reply` greet it.
    fn connection_opened(&mut self, conn: ConnectionId, reply: &mut Reply) {
        let _ = (conn, reply);
    }

    /// A client finished sending: lines pushed on `reply` are its last words.
    fn connection_closed(&mut self, conn: ConnectionId, reply: &mut Reply) {
        let _ = (conn, reply);
    }
}

/// Exports a [`LinePlugin`] type as the plugin of this component.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        const _: () = {
            use $crate::bindings::exports::yell::plugin::transform::{BatchReply, Guest};

            ::std::thread_local! {
                static PLUGIN: $crate::runtime::Slot<$plugin> = const { $crate::runtime::Slot::empty() };
            }

            struct YellPluginExport;

            impl Guest for YellPluginExport {
                fn init(config: ::std::vec::Vec<(::std::string::String, ::std::string::String)>)
                    -> ::std::result::Result<(), ::std::string::String> {
                    PLUGIN.with(|slot| $crate::runtime::init(slot, config))
                }
                fn transform_batch(conn: u64, lines: ::std::vec::Vec<u8>) -> BatchReply {
                    PLUGIN.with(|slot| $crate::runtime::transform_batch(slot, conn, &lines))
                }
                fn transform_raw(conn: u64, chunk: ::std::vec::Vec<u8>)
                    -> ::std::result::Result<::std::vec::Vec<u8>, ::std::string::String> {
                    PLUGIN.with(|slot| $crate::runtime::transform_raw(slot, conn, &chunk))
                }
                fn connection_opened(conn: u64) -> ::std::vec::Vec<u8> {
                    PLUGIN.with(|slot| $crate::runtime::connection_opened(slot, conn))
                }
                fn connection_closed(conn: u64) -> ::std::vec::Vec<u8> {
                    PLUGIN.with(|slot| $crate::runtime::connection_closed(slot, conn))
                }
            }

            $crate::bindings::__export_world!(YellPluginExport with_types_in $crate::bindings);
        };
    };
}
