//! A test plugin whose `init` never finishes: loading it (at start or as a
//! live swap) must fail with one line saying `init` ran into the deadline,
//! and a swap to it must leave the plugin already serving in place.

use yell_plugin::{Config, LinePlugin, Reply};

struct InitLoop;

impl LinePlugin for InitLoop {
    fn new(_config: &Config) -> Result<Self, String> {
        let mut n: u64 = 0;
        loop {
            n = std::hint::black_box(n.wrapping_add(1));
        }
    }

    fn transform(&mut self, line: &[u8], reply: &mut Reply) -> Result<(), String> {
        reply.push(line);
        Ok(())
    }
}

yell_plugin::export_plugin!(InitLoop);
