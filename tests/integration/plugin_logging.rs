//! What a plugin logs cannot flood or forge the host's log: a per-plugin
//! rate limit drops and counts what is past it (exactly), and control
//! characters are escaped, so a message cannot start a line of its own.
//! Uses the real `hostile` test component.

use std::io::Write;
use std::time::Duration;

use crate::harness;
use crate::harness::{read_line, ServerProcess};

#[test]
fn a_plugin_cannot_forge_host_log_lines() {
    let plugin = harness::testing_plugin("hostile");
    let server = ServerProcess::start_logging(&["--plugin", &plugin], "info");
    let mut stream = server.connect();
    stream.write_all(b"log-forge\n").unwrap();
    assert_eq!(read_line(&mut stream), "FORGED\n".to_lowercase());
    let logged = server.wait_for_log(&["plugin=\"hostile\"", "forged"]);
    assert!(
        logged.contains(
            "ok\\n2026-11-26T00:00:00.000000Z  INFO yell_host::reload: forged\\r\\u{1b}[31m"
        ),
        "{logged}"
    );
    stream.write_all(b"still here\n").unwrap();
    assert_eq!(read_line(&mut stream), "STILL HERE\n");
    let forged = server
        .drain_log()
        .into_iter()
        .filter(|line| line.starts_with("2026-11-26T00:00:00"))
        .collect::<Vec<_>>();
    assert!(forged.is_empty(), "forged lines: {forged:?}");
}

#[test]
fn without_a_rate_limit_every_line_of_a_long_call_is_written_once() {
    let plugin = harness::testing_plugin("hostile");
    let server =
        ServerProcess::start_logging(&["--plugin", &plugin, "--plugin-log-rate", "0"], "info");
    let mut stream = server.connect();
    stream.write_all(b"log-flood 1000\n").unwrap();
    assert_eq!(read_line(&mut stream), "flooded\n");
    let mut written = vec![0u32; 1000];
    let deadline = std::time::Instant::now() + harness::STEP_TIMEOUT;
    while written[999] == 0 && std::time::Instant::now() < deadline {
        for line in server.drain_log() {
            let n = line
                .split("flood ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<usize>().ok());
            if let Some(n) = n {
                written[n] += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    for line in server.drain_log() {
        assert!(!line.contains("flood "), "a line written twice: {line}");
    }
    let wrong: Vec<_> = (0..1000).filter(|&n| written[n] != 1).collect();
    assert!(
        wrong.is_empty(),
        "{} lines not written exactly once, from line {:?}",
        wrong.len(),
        wrong.first()
    );
}

#[test]
fn a_flooding_plugin_is_rate_limited_and_the_drops_counted_exactly() {
    let plugin = harness::testing_plugin("hostile");
    let server = ServerProcess::start_logging(
        &[
            "--plugin",
            &plugin,
            "--plugin-log-rate",
            "50",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        "info",
    );
    let metrics = server.metrics_addr();
    let mut stream = server.connect();
    stream.write_all(b"log-flood 10000\n").unwrap();
    assert_eq!(read_line(&mut stream), "flooded\n");
    // A burst of 50 passes (the call took far less than a second).
    let (_, body) = harness::http_get(metrics, "/metrics");
    let dropped: u64 = body
        .lines()
        .find_map(|line| {
            line.strip_prefix("yell_plugin_log_lines_dropped_total{plugin=\"hostile\"} ")
        })
        .and_then(|count| count.parse().ok())
        .unwrap_or_else(|| panic!("no dropped count in {body}"));
    assert!((9_900..=9_950).contains(&dropped), "{dropped} dropped");
    // Every one of the 10,000 lines was either written or counted; the
    // drops were reported in the log. A logged marker, once the rate allows
    // again, shows everything before it was written out.
    std::thread::sleep(Duration::from_millis(100));
    stream.write_all(b"log-forge\n").unwrap();
    assert_eq!(read_line(&mut stream), "forged\n");
    let deadline = std::time::Instant::now() + harness::STEP_TIMEOUT;
    let (mut written, mut reports) = (0, 0);
    'marker: loop {
        for line in server.drain_log() {
            if line.contains("yell_host::reload: forged") {
                break 'marker;
            }
            if line.contains("log lines of this plugin dropped") {
                reports += 1;
            } else if line.contains("flood ") {
                written += 1;
            }
        }
        assert!(std::time::Instant::now() < deadline, "no marker in the log");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        written + dropped,
        10_000,
        "{written} written, {dropped} dropped"
    );
    // One report at once, then none for a while: a flood adds a line now and
    // then, not one per line that passes.
    assert_eq!(reports, 1);
}
