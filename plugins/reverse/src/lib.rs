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
        if let Some(reversed) = reverse_short_ascii(line) {
            reply.push(&reversed[..line.len()]);
            return Ok(());
        }
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

/// A line of 8 to 16 ASCII bytes reversed, as most lines are: two
/// overlapping 8-byte words hold all of it, so checking it is ASCII and
/// reversing it take a few word operations instead of a loop per byte. The
/// first `line.len()` bytes of the result are the reversed line; `None` for
/// any other line.
fn reverse_short_ascii(line: &[u8]) -> Option<[u8; 16]> {
    let len = line.len();
    if !(8..=16).contains(&len) {
        return None;
    }
    let head = u64::from_le_bytes(line[..8].try_into().ok()?);
    let tail = u64::from_le_bytes(line[len - 8..].try_into().ok()?);
    if (head | tail) & 0x8080_8080_8080_8080 != 0 {
        return None;
    }
    // out[i] = line[len - 1 - i]: the tail word reversed starts the result,
    // the head word reversed ends it (they overlap when len < 16, agreeing).
    let mut reversed = [0u8; 16];
    reversed[..8].copy_from_slice(&tail.swap_bytes().to_le_bytes());
    reversed[len - 8..len].copy_from_slice(&head.swap_bytes().to_le_bytes());
    Some(reversed)
}

yell_plugin::export_plugin!(Reverse);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ascii_lines_reverse_like_any_other() {
        let text = b"abcdefghijklmnopqrstuvwxyz";
        for len in 0..=text.len() {
            let line = &text[..len];
            let expected: Vec<u8> = line.iter().rev().copied().collect();
            match reverse_short_ascii(line) {
                Some(reversed) => assert_eq!(&reversed[..len], &expected[..], "{len}"),
                None => assert!(!(8..=16).contains(&len), "{len}"),
            }
        }
        assert!(reverse_short_ascii("caf\u{e9} au lait".as_bytes()).is_none());
    }
}
