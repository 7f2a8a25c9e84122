//! What [`export_plugin!`](crate::export_plugin) expands to call: the glue
//! between the batch contract of `wit/plugin.wit` and a [`LinePlugin`].

use std::cell::{Cell, RefCell};

use crate::bindings::yell::plugin::types::{BatchReply, LineError};
use crate::{Config, ConnectionId, LinePlugin, Reply};

/// Holds the instance's plugin value once `init` built it, and whether its
/// [`LinePlugin::BYTE_MAP`] may map whole batches.
pub struct Slot<P>(RefCell<Option<P>>, Cell<bool>);

impl<P> Slot<P> {
    pub const fn empty() -> Self {
        Slot(RefCell::new(None), Cell::new(false))
    }
}

fn with_plugin<P: LinePlugin, R>(slot: &Slot<P>, f: impl FnOnce(&mut P) -> R) -> R {
    let mut plugin = slot.0.borrow_mut();
    // The host always calls `init` first; reaching here without it is a
    // host bug, and a trap is the clearest way to say so.
    let plugin = plugin.as_mut().expect("yell-plugin: called before init");
    f(plugin)
}

pub fn init<P: LinePlugin>(slot: &Slot<P>, config: Vec<(String, String)>) -> Result<(), String> {
    #[cfg(target_arch = "wasm32")]
    tell_the_host_of_panics();
    let plugin = P::new(&Config::new(config))?;
    let maps_batches = P::BYTE_MAP.is_some_and(keeps_lines);
    *slot.0.borrow_mut() = Some(plugin);
    slot.1.set(maps_batches);
    Ok(())
}

/// Whether `map` keeps the line structure of a batch: '\n' stays '\n' and
/// no other byte becomes one.
fn keeps_lines(map: fn(u8) -> u8) -> bool {
    (0..=u8::MAX).all(|byte| (map(byte) == b'\n') == (byte == b'\n'))
}

/// A whole batch through a byte map: the replies are the input mapped, and
/// each line's replies end where its '\n' ends.
fn map_batch(lines: &[u8], map: fn(u8) -> u8) -> BatchReply {
    // Plain loops over slices, which the compiler turns into SIMD (the map
    // is a constant, inlined).
    let output: Vec<u8> = lines.iter().map(|&byte| map(byte)).collect();
    let ends = memchr::memchr_iter(b'\n', lines)
        .map(|newline| newline as u32 + 1)
        .collect();
    BatchReply {
        output,
        ends,
        errors: Vec::new(),
    }
}

pub fn transform_batch<P: LinePlugin>(
    slot: &Slot<P>,
    conn: ConnectionId,
    lines: &[u8],
) -> BatchReply {
    if let Some(map) = P::BYTE_MAP {
        // Every line ends with '\n' (the contract); a batch that does not
        // goes the general way, which copes.
        if slot.1.get() && lines.last() == Some(&b'\n') {
            return map_batch(lines, map);
        }
    }
    with_plugin(slot, |plugin| {
        // Replies are usually about as long as their input.
        let mut reply = Reply::with_buffer(Vec::with_capacity(lines.len()));
        let mut ends = Vec::with_capacity(lines.len() / 8 + 1);
        let mut errors = Vec::new();
        // Every line, the last included, is ended by '\n' (the contract);
        // a last line without one is taken whole.
        let mut rest = lines;
        let mut index = 0u32;
        while !rest.is_empty() {
            let (line, after) = match memchr::memchr(b'\n', rest) {
                Some(newline) => (&rest[..newline], &rest[newline + 1..]),
                None => (rest, &rest[rest.len()..]),
            };
            rest = after;
            let start = reply.len();
            if let Err(message) = plugin.transform_for(conn, line, &mut reply) {
                reply.truncate(start);
                errors.push(LineError {
                    line: index,
                    message,
                });
            }
            ends.push(reply.len() as u32);
            index += 1;
        }
        BatchReply {
            output: reply.into_bytes(),
            ends,
            errors,
        }
    })
}

pub fn transform_raw<P: LinePlugin>(
    slot: &Slot<P>,
    conn: ConnectionId,
    chunk: &[u8],
) -> Result<Vec<u8>, String> {
    with_plugin(slot, |plugin| plugin.transform_raw(conn, chunk))
}

pub fn connection_opened<P: LinePlugin>(slot: &Slot<P>, conn: ConnectionId) -> Vec<u8> {
    with_plugin(slot, |plugin| {
        let mut reply = Reply::default();
        plugin.connection_opened(conn, &mut reply);
        reply.into_bytes()
    })
}

pub fn connection_closed<P: LinePlugin>(slot: &Slot<P>, conn: ConnectionId) -> Vec<u8> {
    with_plugin(slot, |plugin| {
        let mut reply = Reply::default();
        plugin.connection_closed(conn, &mut reply);
        reply.into_bytes()
    })
}

#[cfg(target_arch = "wasm32")]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_map_maps_whole_batches_only_if_it_keeps_the_lines() {
        assert!(keeps_lines(|byte| byte.to_ascii_uppercase()));
        assert!(!keeps_lines(|byte| if byte == b' ' { b'\n' } else { byte }));
        assert!(!keeps_lines(|byte| if byte == b'\n' { b' ' } else { byte }));
        let reply = map_batch(b"ab\n\nc\xff\r\n", |byte| byte.to_ascii_uppercase());
        assert_eq!(reply.output, b"AB\n\nC\xff\r\n");
        assert_eq!(reply.ends, [3, 4, 8]);
        assert!(reply.errors.is_empty());
    }
}
