//! Every line comes back reversed. A line that is valid UTF-8 is reversed by
//! characters (so `café` becomes `éfac`); any other line by bytes.

use yell_plugin::{Config, LinePlugin, Reply};

struct Reverse;

impl LinePlugin for Reverse {
    fn new(config: &Config) -> Result<Self, String> {
        config.allow_only(&[])?;
        Ok(Reverse)
    }

    fn transform(&mut self, line: &[u8], reply: &mut Reply) -> Result<(), String> {
        match std::str::from_utf8(line) {
            Ok(text) => reply.push(text.chars().rev().collect::<String>()),
            Err(_) => reply.push_bytes(line.iter().rev().copied()),
        }
        Ok(())
    }
}

yell_plugin::export_plugin!(Reverse);
