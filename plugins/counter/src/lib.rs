//! Prefixes each line with a sequence number: `1 hello`, `2 world`, ...
//!
//! Configuration: `start` (the first number, default 1), `width` (pad the
//! number with zeros to this many digits, default 0: no padding) and
//! `separator` (between number and line, default one space).
//!
//! The count is **per instance**, not per connection. The host pools
//! instances: a connection's batches may be served by different instances,
//! and several connections share one instance, so no instance sees all the
//! lines of a connection, and the contract gives instances no shared state.
//! The one count a plugin can keep exactly is the lines its own instance
//! numbered: within an instance the numbers go up by one and never repeat.
//! A client that is alone on the server sees 1, 2, 3, ... (one instance
//! serves it); a new instance (more calls at once, a trap, a plugin swap)
//! starts again from `start`.

use yell_plugin::{Config, LinePlugin, Reply};

struct Counter {
    next: u64,
    width: usize,
    separator: String,
}

impl LinePlugin for Counter {
    fn new(config: &Config) -> Result<Self, String> {
        config.allow_only(&["start", "width", "separator"])?;
        let width: usize = config.parse_or("width", 0)?;
        if width > 20 {
            return Err(format!("config `width`: {width} is more than 20 digits"));
        }
        let separator = config.get("separator").unwrap_or(" ");
        if separator.contains('\n') {
            return Err("config `separator`: a line break would split the line".into());
        }
        Ok(Counter {
            next: config.parse_or("start", 1)?,
            width,
            separator: separator.to_string(),
        })
    }

    fn transform(&mut self, line: &[u8], reply: &mut Reply) -> Result<(), String> {
        // The number by hand, right-aligned in a buffer as wide as the
        // widest (20 digits): `write!` would go through the formatting
        // machinery, which costs more than the rest of the line.
        let mut number = [b'0'; 20];
        let mut at = number.len();
        let mut n = self.next;
        loop {
            at -= 1;
            number[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        // Zero-padded to `width` (at most 20, checked in `new`).
        let at = at.min(number.len() - self.width);
        self.next = self.next.wrapping_add(1);
        reply.push_parts(&[&number[at..], self.separator.as_bytes(), line]);
        Ok(())
    }
}

yell_plugin::export_plugin!(Counter);
