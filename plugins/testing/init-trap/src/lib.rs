//! A test plugin that traps in `init`, whatever its configuration: loading
//! it (at start or as a live swap) must fail with the trap, and a swap to it
//! must leave the plugin already serving in place.

use yell_plugin::{Config, LinePlugin, Reply};

struct InitTrap;

impl LinePlugin for InitTrap {
    fn new(_config: &Config) -> Result<Self, String> {
        panic!("this plugin always traps in init")
    }

    fn transform(&mut self, line: &[u8], reply: &mut Reply) -> Result<(), String> {
        reply.push(line);
        Ok(())
    }
}

yell_plugin::export_plugin!(InitTrap);
