//! Rotates ASCII letters through the alphabet: ROT13 by default, any other
//! shift with the configuration `shift=N` (0 to 25; 13 undoes itself).
//! Every other byte passes through unchanged.

use yell_plugin::{Config, LinePlugin, Reply};

struct Rot {
    shift: u8,
}

impl LinePlugin for Rot {
    fn new(config: &Config) -> Result<Self, String> {
        config.allow_only(&["shift"])?;
        let shift: u8 = config.parse_or("shift", 13)?;
        if shift > 25 {
            return Err(format!("config `shift`: {shift} is not between 0 and 25"));
        }
        Ok(Rot { shift })
    }

    fn transform(&mut self, line: &[u8], reply: &mut Reply) -> Result<(), String> {
        let shift = self.shift;
        reply.push_map(line, |byte| match byte {
            b'a'..=b'z' => b'a' + (byte - b'a' + shift) % 26,
            b'A'..=b'Z' => b'A' + (byte - b'A' + shift) % 26,
            other => other,
        });
        Ok(())
    }
}

yell_plugin::export_plugin!(Rot);
