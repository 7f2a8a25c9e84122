//! Property test of the framer against a plain reference model: any bytes,
//! cut into reads at any points, with any line limit, are answered exactly
//! as the protocol says (the book, `docs/src/protocol.md`). `just fuzz` runs it
//! with many more cases than the default.

use proptest::prelude::*;
use yell_runtime::{encode_replies, BatchReply, CheckedReply, LineFramer};

/// What the protocol says the client receives when the plugin upper-cases,
/// straight from the rules, without any buffering.
fn reference(input: &[u8], max_line: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = input;
    loop {
        match rest.iter().position(|&b| b == b'\n') {
            Some(newline) => {
                let line = &rest[..newline];
                let (content, ending): (&[u8], &[u8]) = match line.strip_suffix(b"\r") {
                    Some(content) => (content, b"\r\n"),
                    None => (line, b"\n"),
                };
                if content.len() > max_line {
                    out.extend_from_slice(too_long(max_line).as_bytes());
                    return out;
                }
                out.extend(content.to_ascii_uppercase());
                out.extend_from_slice(ending);
                rest = &rest[newline + 1..];
            }
            None => {
                if rest.len() > max_line {
                    out.extend_from_slice(too_long(max_line).as_bytes());
                } else {
                    out.extend(rest.to_ascii_uppercase());
                }
                return out;
            }
        }
    }
}

fn too_long(max_line: usize) -> String {
    format!("ERR line too long: longer than {max_line} bytes\n")
}

/// What the framer produces when the bytes arrive in reads of the given
/// sizes, answered by an upper-casing plugin, the way a connection drives it.
fn framed(input: &[u8], reads: &[usize], max_line: usize) -> Vec<u8> {
    let framer = LineFramer::new(max_line);
    let largest_read = reads.iter().copied().max().unwrap_or(0);
    let mut buffer = Vec::new();
    let mut out = Vec::new();
    let mut offset = 0;
    let mut reads = reads.iter().copied().cycle();
    loop {
        let eof = offset == input.len();
        if !eof {
            let size = reads.next().unwrap().min(input.len() - offset);
            buffer.extend_from_slice(&input[offset..offset + size]);
            offset += size;
        }
        loop {
            match framer.next_batch(&buffer, eof) {
                Ok(Some(batch)) => {
                    let plugin_input = batch.plugin_input(&buffer).to_vec();
                    assert_eq!(
                        plugin_input.iter().filter(|&&b| b == b'\n').count(),
                        batch.lines
                    );
                    assert!(plugin_input.ends_with(b"\n"));
                    let output = plugin_input.to_ascii_uppercase();
                    let ends: Vec<u32> = output
                        .iter()
                        .enumerate()
                        .filter(|(_, &b)| b == b'\n')
                        .map(|(i, _)| i as u32 + 1)
                        .collect();
                    let reply = BatchReply {
                        output,
                        ends,
                        errors: Vec::new(),
                    };
                    let reply = CheckedReply::check(reply, batch.lines).unwrap();
                    encode_replies(&batch, &reply, &plugin_input, false, |_, _, _| {}, &mut out);
                    buffer.drain(..batch.consumed);
                }
                Ok(None) => break,
                Err(error) => {
                    out.extend_from_slice(format!("ERR {error}\n").as_bytes());
                    return out;
                }
            }
            // Memory stays bounded: never more than a line and a read.
            assert!(buffer.len() <= max_line + 1 + largest_read);
        }
        if eof {
            return out;
        }
    }
}

proptest! {
    // A short pass by default; `just fuzz` sets PROPTEST_CASES for a long one.
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|cases| cases.parse().ok())
            .unwrap_or(2_000),
        ..ProptestConfig::default()
    })]

    #[test]
    fn framing_matches_the_reference(
        input in proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b'Z'), Just(b'\r'), Just(b'\n'), Just(0u8), Just(0xffu8)],
            0..300,
        ),
        reads in proptest::collection::vec(1usize..64, 1..8),
        max_line in 1usize..24,
    ) {
        prop_assert_eq!(framed(&input, &reads, max_line), reference(&input, max_line));
    }

    /// Without '\r' and with limits above whole reads, the framer counts
    /// lines without looking at each; lines past the limit still cut in.
    #[test]
    fn plain_lines_match_the_reference(
        input in proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b'Z'), Just(b'\n'), Just(b'\n'), Just(0u8)],
            0..600,
        ),
        reads in proptest::collection::vec(1usize..300, 1..8),
        max_line in 1usize..400,
    ) {
        prop_assert_eq!(framed(&input, &reads, max_line), reference(&input, max_line));
    }
}
