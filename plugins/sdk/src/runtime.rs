//! What [`export_plugin!`](crate::export_plugin) expands to call: the glue
//! between the batch contract of `wit/plugin.wit` and a [`LinePlugin`].

use std::cell::RefCell;
use std::thread::LocalKey;

use crate::bindings::yell::plugin::types::{BatchReply, LineError};
use crate::{Config, ConnectionId, LinePlugin, Reply};

/// Holds the instance's plugin value once `init` built it.
pub struct Slot<P>(RefCell<Option<P>>);

impl<P> Slot<P> {
    pub const fn empty() -> Self {
        Slot(RefCell::new(None))
    }
}

type Key<P> = LocalKey<Slot<P>>;

fn with_plugin<P: LinePlugin, R>(slot: &'static Key<P>, f: impl FnOnce(&mut P) -> R) -> R {
    slot.with(|slot| {
        let mut plugin = slot.0.borrow_mut();
        // The host always calls `init` first; reaching here without it is a
        // host bug, and a trap is the clearest way to say so.
        let plugin = plugin.as_mut().expect("yell-plugin: called before init");
        f(plugin)
    })
}

pub fn init<P: LinePlugin>(
    slot: &'static Key<P>,
    config: Vec<(String, String)>,
) -> Result<(), String> {
    tell_the_host_of_panics();
    let plugin = P::new(&Config::new(config))?;
    slot.with(|slot| *slot.0.borrow_mut() = Some(plugin));
    Ok(())
}

pub fn transform_batch<P: LinePlugin>(
    slot: &'static Key<P>,
    conn: ConnectionId,
    lines: &[u8],
) -> BatchReply {
    with_plugin(slot, |plugin| {
        // Replies are usually about as long as their input.
        let mut reply = Reply::with_buffer(Vec::with_capacity(lines.len()));
        let mut ends = Vec::with_capacity(lines.len() / 8 + 1);
        let mut errors = Vec::new();
        // Every line, the last included, is ended by '\n' (the contract).
        let body = lines.strip_suffix(b"\n").unwrap_or(lines);
        let mut line_start = 0;
        let newlines = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
        for (index, line_end) in newlines.enumerate() {
            let line = &body[line_start..line_end];
            line_start = line_end + 1;
            let start = reply.len();
            if let Err(message) = plugin.transform_for(conn, line, &mut reply) {
                reply.truncate(start);
                errors.push(LineError {
                    line: index as u32,
                    message,
                });
            }
            ends.push(reply.len() as u32);
        }
        BatchReply {
            output: reply.into_bytes(),
            ends,
            errors,
        }
    })
}

pub fn transform_raw<P: LinePlugin>(
    slot: &'static Key<P>,
    conn: ConnectionId,
    chunk: &[u8],
) -> Result<Vec<u8>, String> {
    with_plugin(slot, |plugin| plugin.transform_raw(conn, chunk))
}

pub fn connection_opened<P: LinePlugin>(slot: &'static Key<P>, conn: ConnectionId) -> Vec<u8> {
    with_plugin(slot, |plugin| {
        let mut reply = Reply::default();
        plugin.connection_opened(conn, &mut reply);
        reply.into_bytes()
    })
}

pub fn connection_closed<P: LinePlugin>(slot: &'static Key<P>, conn: ConnectionId) -> Vec<u8> {
    with_plugin(slot, |plugin| {
        let mut reply = Reply::default();
        plugin.connection_closed(conn, &mut reply);
        reply.into_bytes()
    })
}

/// Installs a panic hook that tells the host the panic's message and
/// location before the panic traps (`panic = "abort"`): without it the host
/// sees only `unreachable` executed, and the reason is lost.
fn tell_the_host_of_panics() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = match info.location() {
                Some(location) => format!(
                    "panicked at {location}: {}",
                    info.payload_as_str().unwrap_or("(no message)")
                ),
                None => format!(
                    "panicked: {}",
                    info.payload_as_str().unwrap_or("(no message)")
                ),
            };
            crate::bindings::yell::plugin::log::panicked(&message);
        }));
    });
}
