//! The host's imports, as a plugin calls them: in a component, the real
//! host; in a native build (a plugin's `cargo test`), the fake host of
//! [`crate::testing`], so that logging or asking for the connection works
//! in a unit test instead of reaching an import that is not there.

pub(crate) use crate::bindings::yell::plugin::log::Level;
use crate::ConnectionInfo;

#[cfg(target_arch = "wasm32")]
pub(crate) fn log(level: Level, message: &str) {
    crate::bindings::yell::plugin::log::log(level, message);
}

#[cfg(target_arch = "wasm32")]
pub(crate) fn connection_info(conn: u64) -> Option<ConnectionInfo> {
    crate::bindings::yell::plugin::connection::info(conn).map(|info| ConnectionInfo {
        peer: info.peer,
        local: info.local,
    })
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn log(level: Level, message: &str) {
    crate::testing::record_log(level, message);
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn connection_info(conn: u64) -> Option<ConnectionInfo> {
    crate::testing::connection(conn)
}
