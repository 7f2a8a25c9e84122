//! The default plugin: every line comes back in upper case. Only ASCII letters
//! change; every other byte, UTF-8 or not, is passed through as it is.

use yell_plugin::{Config, LinePlugin, Reply};

struct Uppercase;

impl LinePlugin for Uppercase {
    // The SDK upper-cases whole batches in one pass.
    const BYTE_MAP: Option<fn(u8) -> u8> = Some(|byte| byte.to_ascii_uppercase());

    fn new(config: &Config) -> Result<Self, String> {
        config.allow_only(&[])?;
        Ok(Uppercase)
    }

    fn transform(&mut self, line: &[u8], reply: &mut Reply) -> Result<(), String> {
        reply.push_map(line, |byte| byte.to_ascii_uppercase());
        Ok(())
    }
}

yell_plugin::export_plugin!(Uppercase);
