//! `yell-host pipe`: stdin through a plugin to stdout with no server, byte
//! for byte what a client of the server would receive; failures on stderr
//! with their line numbers and a non-zero exit.

use std::io::Write;

use crate::harness::{pipe, read_to_end, testing_plugin, tricky_lines, ServerProcess};

/// What the server answers a client that sends `input` and closes.
fn served(args: &[&str], input: &[u8]) -> Vec<u8> {
    let server = ServerProcess::start(args);
    let mut stream = server.connect();
    stream.write_all(input).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    read_to_end(&mut stream)
}

#[test]
fn pipe_answers_byte_for_byte_what_the_server_answers() {
    let input = tricky_lines();
    let output = pipe(&[], &input);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, served(&[], &input));
    assert!(output
        .stdout
        .starts_with(b"PLAIN\nWINDOWS\r\n\n\r\n  SPACES  \t\n"));
    assert!(output.stdout.ends_with(b"UNTERMINATED LAST"));

    // With greetings, last words, several replies per line, a chain.
    let probe = testing_plugin("probe");
    let args = ["--plugin", probe.as_str(), "--plugin", "uppercase"];
    let input = b"split a b\ndrop this\nhello\r\n";
    let output = pipe(&args, input);
    assert!(output.status.success());
    assert_eq!(output.stdout, served(&args, input));
    assert_eq!(
        output.stdout,
        b"welcome 1\nA\nB\nHELLO\r\nbye 1 after 3 lines\n"
    );
}

#[test]
fn failures_name_their_lines_and_fail_the_exit_code() {
    let probe = testing_plugin("probe");
    let output = pipe(
        &["--plugin", &probe],
        b"ok\nfail bad input\nok\nfail worse\n",
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 2: bad input"), "{stderr}");
    assert!(stderr.contains("line 4: worse"), "{stderr}");
    assert!(stderr.contains("2 failures"), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "welcome 1\nok\nERR plugin: bad input\nok\nERR plugin: worse\nbye 1 after 4 lines\n"
    );

    // A trap fails its batch, named by its lines; a plugin that does not
    // load fails before reading anything.
    let hostile = testing_plugin("hostile");
    let output = pipe(&["--plugin", &hostile], b"panic\n");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 1: plugin: panicked"), "{stderr}");
    assert_eq!(output.stdout, b"ERR plugin: panicked\n");
    let output = pipe(&["--plugin", "no-such-plugin"], b"x\n");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no-such-plugin"));

    // A line past the limit ends the input there, as the server closes.
    let output = pipe(
        &["--max-line-length", "8"],
        b"short\nmuch too long\nnever\n",
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("line 2:"));
    assert!(output.stdout.starts_with(b"SHORT\nERR "));
    assert!(!String::from_utf8_lossy(&output.stdout).contains("NEVER"));
}
