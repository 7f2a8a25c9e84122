//! Logging into the host's log, where each message is tagged with the
//! plugin's name. Cheap enough for occasional use, not for every line: each
//! message is a call into the host. In a unit test the messages are kept by
//! [`crate::testing::TestHost`], for the test to look at.

use crate::host::{log, Level};

/// Logs at trace level.
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Logs at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}
