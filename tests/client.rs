//! `yell-host client` against the real server, a deliberately wrong server,
//! and no server at all.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};

use common::ServerProcess;

fn run_client(args: &[&str]) -> Output {
    Command::new(common::binary())
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
    // A line server that gets every third line wrong (lower case).
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
                        if count.is_multiple_of(3) {
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
    let output = run_client(&["-n", "1", "-d", "300ms", "--depth", "3", "--addr", &addr]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    let lines = figure(&stdout, "lines");
    assert!(lines >= 3);
    assert_eq!(figure(&stdout, "mismatched replies"), lines / 3, "{stdout}");
    assert!(stdout.contains("first: \"hello world\""), "{stdout}");
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
        stderr.contains(&format!("cannot connect to {addr}")),
        "{stderr}"
    );
}
