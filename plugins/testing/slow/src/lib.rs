//! A test plugin that is slow on command, for the execution model's tests:
//! plugin time must never stall other connections, and the deadline must
//! measure the plugin's running time.
//!
//! Lines:
//! - `SLOW N`: logs `spinning N` at info level, spins N loop iterations,
//!   then answers the line upper-cased (a test calibrates N to the CPU time
//!   it wants);
//! - `FOREVER`: spins until the deadline stops it;
//! - anything else: upper-cased at once.
//!
//! Configuration (iterations, or `forever`): with `greeting_spin` each
//! connection is greeted with `hello` after that
//! many iterations, and with `farewell_spin` it hears `bye` at end of file
//! after that many.

use yell_plugin::{Config, ConnectionId, LinePlugin, Reply};

struct Slow {
    greeting_spin: Option<Spin>,
    farewell_spin: Option<Spin>,
}

#[derive(Clone, Copy)]
enum Spin {
    Iterations(u64),
    Forever,
}

impl Spin {
    fn parse(config: &Config, key: &str) -> Result<Option<Spin>, String> {
        match config.get(key) {
            None => Ok(None),
            Some("forever") => Ok(Some(Spin::Forever)),
            Some(count) => count
                .parse()
                .map(|count| Some(Spin::Iterations(count)))
                .map_err(|_| format!("{key} takes a number of iterations or `forever`")),
        }
    }

    fn run(self) {
        match self {
            Spin::Iterations(count) => spin(count),
            Spin::Forever => loop {
                spin(u64::MAX)
            },
        }
    }
}

impl LinePlugin for Slow {
    fn new(config: &Config) -> Result<Self, String> {
        config.allow_only(&["greeting_spin", "farewell_spin"])?;
        Ok(Slow {
            greeting_spin: Spin::parse(config, "greeting_spin")?,
            farewell_spin: Spin::parse(config, "farewell_spin")?,
        })
    }

    fn transform(&mut self, line: &[u8], reply: &mut Reply) -> Result<(), String> {
        if line == b"FOREVER" {
            Spin::Forever.run();
        }
        if let Some(count) = line.strip_prefix(b"SLOW ") {
            let count: u64 = std::str::from_utf8(count)
                .ok()
                .and_then(|count| count.parse().ok())
                .ok_or("SLOW takes a number of iterations")?;
            yell_plugin::log::info(&format!("spinning {count}"));
            spin(count);
        }
        reply.push_map(line, |byte| byte.to_ascii_uppercase());
        Ok(())
    }

    fn connection_opened(&mut self, _conn: ConnectionId, reply: &mut Reply) {
        if let Some(spin) = self.greeting_spin {
            spin.run();
            reply.push("hello");
        }
    }

    fn connection_closed(&mut self, _conn: ConnectionId, reply: &mut Reply) {
        if let Some(spin) = self.farewell_spin {
            spin.run();
            reply.push("bye");
        }
    }
}

/// Burns CPU: `count` iterations the optimizer cannot remove.
fn spin(count: u64) {
    let mut n: u64 = 0;
    while n < count {
        n = std::hint::black_box(n + 1);
    }
}

yell_plugin::export_plugin!(Slow);
