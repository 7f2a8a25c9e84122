//! What a load test is: plain values, checked by whoever made them (the
//! command line).
//!
//! Owns: [`ClientConfig`]. Uses: the runtime's plugin spec.

use std::time::Duration;

use yell_runtime::PluginSpec;

/// One load test.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Connections opened, each driving its share of the load.
    pub connections: u32,
    /// The server's address, as `TcpStream::connect` takes it.
    pub addr: String,
    /// How long to send, warm-up included (ignored with `lines`).
    pub duration: Duration,
    /// Send this many lines in all instead of running for a duration.
    pub lines: Option<u64>,
    /// Lines in flight per connection: 1 is ping-pong.
    pub depth: u32,
    /// The lines sent, taken in turn, without line endings.
    pub messages: Vec<Vec<u8>>,
    /// Open loop: lines per second in all, whatever the replies do.
    pub rate: Option<f64>,
    /// How long to run first without counting.
    pub warmup: Duration,
    /// The chain whose answers the replies must be (run here on each
    /// message); `None`: replies are counted, not checked.
    pub expect: Option<Vec<PluginSpec>>,
    /// Print the report as one JSON object.
    pub json: bool,
    /// Connect again after a clean close and resend what was not answered.
    pub reconnect: bool,
}
