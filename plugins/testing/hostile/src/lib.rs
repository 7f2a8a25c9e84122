//! A test plugin that misbehaves on command, to prove the host survives each
//! kind of misbehaviour. Every other line is upper-cased, so a test can show
//! the next line is served well again.
//!
//! - `spin`: loops forever (the call deadline must end it);
//! - `grow`: allocates without end (the memory cap must end it);
//! - `panic`: panics, which traps (`panic = "abort"`);
//! - `recurse`: recurses without end (stack overflow);
//! - `huge N`: answers with one line of N MiB (the reply cap must refuse it);
//! - `huge-error N`: refuses the line with an error message of N MiB (which
//!   counts against the reply cap too);
//! - `log-flood N`: writes N log lines in one call (the rate limit must
//!   drop and count what is past it);
//! - `log-forge`: logs a message with a line break and a fake host log line
//!   after it (which must stay one escaped log line).
//!
//! Configuration: `greeting_mib` / `farewell_mib` make the greeting / the
//! last words that many MiB (the reply cap must refuse them).

use yell_plugin::{log, Config, LinePlugin, Reply};

struct Hostile {
    greeting_mib: usize,
    farewell_mib: usize,
}

impl LinePlugin for Hostile {
    fn new(config: &Config) -> Result<Self, String> {
        config.allow_only(&["greeting_mib", "farewell_mib"])?;
        Ok(Hostile {
            greeting_mib: config.parse_or("greeting_mib", 0)?,
            farewell_mib: config.parse_or("farewell_mib", 0)?,
        })
    }

    fn connection_opened(&mut self, _conn: yell_plugin::ConnectionId, reply: &mut Reply) {
        if self.greeting_mib > 0 {
            reply.push(vec![b'G'; self.greeting_mib << 20]);
        }
    }

    fn connection_closed(&mut self, _conn: yell_plugin::ConnectionId, reply: &mut Reply) {
        if self.farewell_mib > 0 {
            reply.push(vec![b'F'; self.farewell_mib << 20]);
        }
    }

    fn transform(&mut self, line: &[u8], reply: &mut Reply) -> Result<(), String> {
        match line {
            b"spin" => spin(),
            b"grow" => grow(),
            b"panic" => panic!("asked to panic"),
            b"recurse" => {
                let depth = recurse(std::hint::black_box(1));
                reply.push(depth.to_string());
            }
            b"log-forge" => {
                log::info(
                    "ok\n2026-11-26T00:00:00.000000Z  INFO yell_host::reload: forged\r\x1b[31m",
                );
                reply.push("forged");
            }
            _ if line.starts_with(b"log-flood ") => {
                let count: usize = std::str::from_utf8(&line[b"log-flood ".len()..])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or("log-flood takes a number of lines")?;
                for n in 0..count {
                    log::info(&format!("flood {n}"));
                }
                reply.push("flooded");
            }
            _ if line.starts_with(b"huge-error ") => {
                let mib: usize = std::str::from_utf8(&line[b"huge-error ".len()..])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or("huge-error takes a number of MiB")?;
                return Err("E".repeat(mib << 20));
            }
            _ => match line.strip_prefix(b"huge ") {
                Some(mib) => {
                    let mib: usize = std::str::from_utf8(mib)
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .ok_or("huge takes a number of MiB")?;
                    reply.push(vec![b'H'; mib << 20]);
                }
                None => reply.push_map(line, |b| b.to_ascii_uppercase()),
            },
        }
        Ok(())
    }
}

fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

fn grow() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Touch every page so the memory is really used.
        hoard.push(vec![1; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}

// Unbounded on purpose: the point is to overflow the stack.
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 64]);
    recurse(frame[3] + 1) + frame[7]
}

yell_plugin::export_plugin!(Hostile);
