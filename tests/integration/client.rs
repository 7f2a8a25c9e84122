//! `yell-host client` against the real server, a deliberately wrong server,
//! and no server at all.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};

use crate::harness;
use crate::harness::ServerProcess;

fn run_client(args: &[&str]) -> Output {
    harness::yell_host()
        .arg("client")
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run yell-host client")
}

/// The number after `name: ` on a line of `text`.
fn figure(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no {name:?} in:\n{text}"))
        .parse()
        .unwrap()
}

#[test]
fn every_line_the_client_counts_was_answered_by_the_server() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    let output = run_client(&["-n", "3", "-d", "1s", "--depth", "8", "--addr", &addr]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines = figure(&stdout, "lines");
    assert!(lines > 0);
    assert!(lines.is_multiple_of(8), "whole bursts of 8 only");
    assert_eq!(figure(&stdout, "mismatched replies"), 0);
    assert_eq!(figure(&stdout, "connection errors"), 0);

    let (_, summary) = server.terminate();
    assert_eq!(figure(&summary, "Lines"), lines, "{summary}");
    assert_eq!(figure(&summary, "Connections"), 3);
}

#[test]
fn wrong_replies_are_counted_and_fail_the_run() {
    // A line server that gets one line in a hundred wrong (lower case).
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            std::thread::spawn(move || {
                let mut count = 0u64;
                let mut pending = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = stream.read(&mut buf) {
                    pending.extend_from_slice(&buf[..n]);
                    let mut out = Vec::new();
                    while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=end).collect();
                        count += 1;
                        if count.is_multiple_of(100) {
                            out.extend(line.to_ascii_lowercase());
                        } else {
                            out.extend(line.to_ascii_uppercase());
                        }
                    }
                    if stream.write_all(&out).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let output = run_client(&[
        "-n", "1", "--lines", "5000", "--depth", "10", "--addr", &addr,
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    let lines = figure(&stdout, "lines");
    assert_eq!(lines, 5000);
    assert_eq!(figure(&stdout, "mismatched replies"), 50, "{stdout}");
    assert!(
        stdout.contains(
            "sent \"hello world\\n\", got \"hello world\\n\", expected \"HELLO WORLD\\n\""
        ),
        "{stdout}"
    );
}

#[test]
fn no_server_is_a_clear_error() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let output = run_client(&["-n", "1", "-d", "1s", "--addr", &addr]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot connect to {addr} (refused)")),
        "{stderr}"
    );
}

#[test]
fn json_report_holds_every_figure() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    let output = run_client(&[
        "-n", "2", "-d", "500ms", "--depth", "4", "--addr", &addr, "--json",
    ]);
    assert!(output.status.success());
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON object");
    let lines = report["lines"].as_u64().unwrap();
    assert!(lines > 0);
    assert_eq!(report["connections"], 2);
    assert_eq!(report["depth"], 4);
    assert_eq!(report["verified"], true);
    assert!(report["lines_per_second"].as_f64().unwrap() > 0.0);
    assert!(report["bytes_per_second"].as_f64().unwrap() > 0.0);
    for quantile in ["p50_us", "p90_us", "p99_us", "p99.9_us", "max_us"] {
        assert!(
            report["latency"][quantile].as_f64().unwrap() > 0.0,
            "{quantile}"
        );
    }
    assert!(report["latency"]["p50_us"].as_f64() <= report["latency"]["max_us"].as_f64());
    for kind in ["refused", "reset", "timeout", "closed", "mismatch"] {
        assert_eq!(report["errors"][kind], 0, "{kind}");
    }
    let slowest = report["connection_lines"]["slowest"].as_u64().unwrap();
    let fastest = report["connection_lines"]["fastest"].as_u64().unwrap();
    assert!(slowest <= fastest && slowest + fastest <= lines);
}

#[test]
fn a_line_budget_sends_exactly_that_many_lines_taken_in_turn_from_a_file() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    let file = std::env::temp_dir().join(format!("yell-client-messages-{}", std::process::id()));
    std::fs::write(&file, "first line\nsecond, with more\n\ncaf\u{e9}\n").unwrap();
    let output = run_client(&[
        "-n",
        "3",
        "--lines",
        "1000",
        "--depth",
        "7",
        "--addr",
        &addr,
        "--message-file",
        file.to_str().unwrap(),
    ]);
    std::fs::remove_file(&file).unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(figure(&stdout, "lines"), 1000);
    assert_eq!(figure(&stdout, "mismatched replies"), 0);
    let (_, summary) = server.terminate();
    assert_eq!(figure(&summary, "Lines"), 1000, "{summary}");
}

#[test]
fn an_open_loop_rate_is_held() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    let output = run_client(&[
        "-n", "2", "--rate", "2000", "-d", "2s", "--depth", "16", "--addr", &addr, "--json",
    ]);
    assert!(output.status.success());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let rate = report["lines_per_second"].as_f64().unwrap();
    assert!(
        (1900.0..=2100.0).contains(&rate),
        "asked 2000 lines/s, got {rate:.0}"
    );
    let lines = report["lines"].as_u64().unwrap();
    assert!(
        (3900..=4100).contains(&lines),
        "{lines} lines in 2 s at 2000/s"
    );
}

#[test]
fn a_server_going_away_mid_run_is_reported_and_fails_the_run() {
    let server = ServerProcess::start(&[]);
    let addr = server.addr.to_string();
    let client = harness::yell_host()
        .args(["client", "-n", "2", "-d", "10s", "--addr", &addr])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    drop(server); // killed
    let output = client.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert_eq!(figure(&stdout, "connection errors"), 2, "{stdout}");
    assert!(figure(&stdout, "lines") > 0, "{stdout}");
}

#[test]
fn replies_of_a_chain_are_verified_against_the_same_chain() {
    let server = ServerProcess::start(&[
        "--plugin",
        "rot13",
        "--plugin",
        "splitter",
        "--plugin-config",
        "rot13:shift=1",
    ]);
    let addr = server.addr.to_string();
    let chain = [
        "--expect-plugin",
        "rot13",
        "--expect-plugin",
        "splitter",
        "--expect-config",
        "rot13:shift=1",
    ];
    let mut args = vec!["-n", "2", "--lines", "400", "--addr", &addr];
    args.extend_from_slice(&chain);
    let output = run_client(&args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(figure(&stdout, "lines"), 400);
    assert_eq!(figure(&stdout, "mismatched replies"), 0);
    // "hello world" becomes two lines: the server wrote 800.
    let (_, summary) = server.terminate();
    assert_eq!(figure(&summary, "Lines out"), 800, "{summary}");

    // Expecting a different configuration: every reply is a mismatch.
    let server = ServerProcess::start(&["--plugin", "rot13", "--plugin", "splitter"]);
    let addr = server.addr.to_string();
    let mut args = vec!["-n", "1", "--lines", "10", "--addr", &addr];
    args.extend_from_slice(&chain);
    let output = run_client(&args);
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(figure(&stdout, "mismatched replies") > 0, "{stdout}");
    let output = run_client(&[
        "--expect-plugin",
        "rot13",
        "--expect-plugin",
        "splitter",
        "--expect-config",
        "shift=1",
    ]);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--expect-config shift=1: which plugin"),
        "{output:?}"
    );
}

/// Runs `shell_command` under `script`, so that the terminal is a pseudo
/// terminal; returns what the terminal showed (None where `script` is
/// missing).
fn on_a_terminal(shell_command: &str) -> Option<String> {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("terminal");
    std::fs::create_dir_all(&dir).unwrap();
    let typescript = dir.join(format!("typescript-{}", std::process::id()));
    let ran = Command::new("script")
        .args(["-q", "-e", "-c", shell_command])
        .arg(&typescript)
        .output()
        .ok()?;
    assert!(ran.status.success(), "{ran:?}");
    Some(String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned())
}

#[test]
fn the_progress_line_is_drawn_only_where_its_stream_is_a_terminal() {
    let server = ServerProcess::start(&[]);
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("terminal");
    std::fs::create_dir_all(&dir).unwrap();
    let client = format!(
        "{} client --addr {} -n 1 -d 2500ms",
        harness::binary(),
        server.addr
    );
    // stdout on the terminal, stderr to a file: no escape codes in the file.
    let log = dir.join("client-stderr.log");
    let Some(_) = on_a_terminal(&format!("{client} 2> {}", log.display())) else {
        eprintln!("no `script` here to make a terminal: skipped");
        return;
    };
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        !logged.contains('\x1b'),
        "escape codes in the log: {logged:?}"
    );
    // stderr on the terminal, the report to a file: the progress is drawn.
    let report = dir.join("client-report.txt");
    let shown = on_a_terminal(&format!("{client} > {}", report.display())).unwrap();
    assert!(
        shown.contains("\x1b[2K") && shown.contains("lines/s"),
        "{shown:?}"
    );
    assert!(std::fs::read_to_string(&report)
        .unwrap()
        .contains("lines/s: "));
}
