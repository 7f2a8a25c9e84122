//! Every line comes back reversed. A line that is valid UTF-8 is reversed by
//! characters (so `café` becomes `éfac`); any other line by bytes.

use yell_plugin::{Config, LinePlugin, Reply};

struct Reverse {
    /// The reversed line being built, kept between lines so that reversing
    /// allocates nothing once it is as long as the longest line.
    reversed: String,
}

impl LinePlugin for Reverse {
    fn new(config: &Config) -> Result<Self, String> {
        config.allow_only(&[])?;
        Ok(Reverse {
            reversed: String::new(),
        })
    }

    fn transform(&mut self, line: &[u8], reply: &mut Reply) -> Result<(), String> {
        if line.is_ascii() {
            // One byte per character: reversed straight into the reply.
            reply.push_bytes(line.iter().rev().copied());
            return Ok(());
        }
        match std::str::from_utf8(line) {
            Ok(text) => {
                self.reversed.clear();
                self.reversed.extend(text.chars().rev());
                reply.push(&self.reversed);
            }
            Err(_) => reply.push_bytes(line.iter().rev().copied()),
        }
        Ok(())
    }
}

yell_plugin::export_plugin!(Reverse);
