//! The input every plugin must take, whatever it does with its lines:
//! sent through the host's own framing and reply check, each on a
//! connection of its own. A plugin passes when every reply keeps the
//! contract and no call fails (no trap, no deadline, no malformed reply);
//! what it answers is its own business, so a filter, a splitter or a
//! plugin that refuses some lines passes too (the lines it refused are
//! noted).
//!
//! Owns: the conformance inputs and their check. Uses: the report's case.

use std::time::Instant;

use yell_runtime::{FailureOf, LineFramer, LineSession, Pipeline};

use super::report::CaseResult;

/// How many lines the many-lines case sends in one batch: about 64 KiB of
/// them, what one read of a connection hands the plugin at most. (More, in
/// one call, would test an interpreted plugin's speed against the
/// deadline rather than its contract.)
const MANY_LINES: usize = 4_000;

/// Connection ids of the conformance cases (fixtures use their own).
const FIRST_CONNECTION: u64 = 1;

/// The inputs, by name.
fn inputs(max_line_length: usize) -> Vec<(&'static str, Vec<u8>)> {
    let mut at_maximum = vec![b'm'; max_line_length];
    at_maximum.push(b'\n');
    let many: Vec<u8> = (0..MANY_LINES)
        .flat_map(|i| format!("line {i} of many\n").into_bytes())
        .collect();
    vec![
        (
            "a last line without a line ending",
            b"first\nsecond\nlast, unterminated".to_vec(),
        ),
        ("CRLF line endings", b"one\r\ntwo\r\n\r\nthree\r\n".to_vec()),
        ("empty lines", b"\n\n\r\n\n".to_vec()),
        (
            "bytes that are not UTF-8",
            b"caf\xc3\xa9 \xff\xfe\xc0 half \xe2\x82 nul \x00 end\n".to_vec(),
        ),
        ("a line at the maximum length", at_maximum),
        ("many lines in one batch", many),
    ]
}

/// Runs every conformance input through `pipeline`.
pub async fn run(pipeline: &Pipeline, max_line_length: usize) -> Vec<CaseResult> {
    let mut results = Vec::new();
    for (index, (name, input)) in inputs(max_line_length).into_iter().enumerate() {
        let started = Instant::now();
        let conversation = LineSession::converse(
            pipeline,
            LineFramer::new(max_line_length),
            FIRST_CONNECTION + index as u64,
            &input,
        )
        .await;
        let (failures, refused): (Vec<_>, Vec<_>) = conversation
            .failures
            .iter()
            .partition(|failure| failure.kind() != FailureOf::Line);
        let mut detail: Vec<String> = failures.iter().map(|failure| failure.to_string()).collect();
        if !refused.is_empty() {
            detail.push(format!(
                "{} lines refused by the plugin (allowed), the first: {}",
                refused.len(),
                refused[0]
            ));
        }
        results.push(CaseResult {
            suite: "conformance",
            name: name.to_string(),
            passed: failures.is_empty(),
            detail: detail.join("\n"),
            time: started.elapsed(),
        });
    }
    results
}
