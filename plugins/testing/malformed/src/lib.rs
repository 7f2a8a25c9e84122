//! A test plugin that breaks the batch contract on command, to prove the
//! host checks every field of every reply. Written against the raw
//! bindings: the SDK cannot produce these replies. A batch whose first line
//! is one of these words gets that broken reply; any other batch is
//! answered correctly, upper-cased:
//!
//! - `no-newline`: the last reply line has no '\n';
//! - `mid-line` (and a second line): the first line's reply range ends in
//!   the middle of a line;
//! - `few-ends` / `many-ends`: one line end too few / too many;
//! - `backwards` (and two more lines): line ends out of order;
//! - `past-end`: a line end past the output;
//! - `bad-error`: an error for a line the batch does not have;
//! - `unsorted-errors`: errors not in ascending order.
//!
//! Configuration `broken=greeting` or `broken=farewell`: the greeting, or
//! the last words, is a line without its '\n'.

wit_bindgen::generate!({
    path: "../../../wit",
    world: "plugin",
});

use exports::yell::plugin::transform::Guest;
use yell::plugin::types::{BatchReply, LineError};

struct Malformed;

/// What the configuration broke: `greeting` or `farewell`.
static BROKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn broken(what: &str) -> bool {
    BROKEN.get().is_some_and(|broken| broken == what)
}

fn upper(lines: &[u8]) -> BatchReply {
    let output = lines.to_ascii_uppercase();
    let ends = output
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .map(|(i, _)| i as u32 + 1)
        .collect();
    BatchReply {
        output,
        ends,
        errors: Vec::new(),
    }
}

fn error(line: u32) -> LineError {
    LineError {
        line,
        message: "broken".into(),
    }
}

impl Guest for Malformed {
    fn init(config: Vec<(String, String)>) -> Result<(), String> {
        for (key, value) in config {
            match (key.as_str(), value.as_str()) {
                ("broken", "greeting" | "farewell") => {
                    let _ = BROKEN.set(value);
                }
                _ => return Err(format!("unknown configuration {key}={value}")),
            }
        }
        Ok(())
    }

    fn transform_batch(_conn: u64, lines: Vec<u8>) -> BatchReply {
        let first = lines.split(|&b| b == b'\n').next().unwrap_or_default();
        let mut reply = upper(&lines);
        match first {
            b"no-newline" => {
                reply.output.pop();
                *reply.ends.last_mut().unwrap() -= 1;
            }
            b"mid-line" => reply.ends[0] -= 2,
            b"few-ends" => {
                reply.ends.pop();
            }
            b"many-ends" => reply.ends.push(reply.output.len() as u32),
            // Three lines or more: the first two ends swapped.
            b"backwards" => reply.ends.swap(0, 1),
            b"past-end" => *reply.ends.last_mut().unwrap() += 10,
            b"bad-error" => reply.errors.push(error(reply.ends.len() as u32 + 5)),
            b"unsorted-errors" => {
                reply.errors.push(error(1));
                reply.errors.push(error(0));
            }
            _ => {}
        }
        reply
    }

    fn transform_raw(_conn: u64, chunk: Vec<u8>) -> Result<Vec<u8>, String> {
        Ok(chunk.to_ascii_uppercase())
    }

    fn connection_opened(_conn: u64) -> Vec<u8> {
        if broken("greeting") {
            b"hello without a line end".to_vec()
        } else {
            Vec::new()
        }
    }

    fn connection_closed(_conn: u64) -> Vec<u8> {
        if broken("farewell") {
            b"bye without a line end".to_vec()
        } else {
            Vec::new()
        }
    }
}

export!(Malformed);
