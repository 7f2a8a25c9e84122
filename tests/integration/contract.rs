//! Every part of the plugin contract, through the host, with the real
//! `probe` test component (plugins/testing/probe): greetings and last words,
//! dropped and expanded lines, per-line errors under each error policy,
//! configuration, and the log import.

use std::io::Write;
use std::net::{Shutdown, TcpStream};

use yell_host::error_policy::ErrorPolicy;

use crate::harness;
use crate::harness::{read_exact, read_to_end, InProcessServer, ServerBuilder, ServerProcess};

/// The probe served in the test's process, with `extra` options.
fn start(extra: &[&str]) -> InProcessServer {
    let plugin = harness::testing_plugin("probe");
    let mut args = vec!["--plugin", plugin.as_str()];
    args.extend_from_slice(extra);
    ServerBuilder::from_args(&args).start()
}

/// Reads the greeting line and returns the connection id it names.
fn greeted(stream: &mut TcpStream) -> u64 {
    let mut line = Vec::new();
    while !line.ends_with(b"\n") {
        line.extend(read_exact(stream, 1));
    }
    let text = String::from_utf8(line).unwrap();
    text.trim_end()
        .strip_prefix("welcome ")
        .unwrap_or_else(|| panic!("not a greeting: {text:?}"))
        .parse()
        .unwrap()
}

#[test]
fn greeting_first_and_last_words_after_the_last_reply() {
    let server = start(&[]);
    let mut stream = server.connect();
    let id = greeted(&mut stream);
    stream.write_all(b"one\ntwo\n").unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let rest = String::from_utf8(read_to_end(&mut stream)).unwrap();
    assert_eq!(rest, format!("one\ntwo\nbye {id} after 2 lines\n"));
}

#[test]
fn lines_may_be_dropped_expanded_or_refused_and_keep_their_line_ending() {
    let server = start(&[]);
    let mut stream = server.connect();
    let id = greeted(&mut stream);
    stream
        .write_all(b"a\r\ndrop this\r\nsplit p q\nfail no good\r\nconn\nb")
        .unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    let rest = String::from_utf8(read_to_end(&mut stream)).unwrap();
    assert_eq!(
        rest,
        format!("a\r\np\nq\nERR plugin: no good\r\n{id}\nbbye {id} after 6 lines\n")
    );
}

#[test]
fn refused_lines_can_close_the_connection() {
    let server = ServerBuilder::new()
        .plugin(harness::testing_plugin("probe"))
        .on_plugin_error(ErrorPolicy::Close)
        .start();
    let mut stream = server.connect();
    greeted(&mut stream);
    stream.write_all(b"ok\nfail stop here\n").unwrap();
    stream.write_all(b"never\n").unwrap();
    assert_eq!(read_to_end(&mut stream), b"ok\nERR plugin: stop here\n");
}

#[test]
fn refused_lines_can_pass_through_unchanged() {
    let server = ServerBuilder::new()
        .plugin(harness::testing_plugin("probe"))
        .on_plugin_error(ErrorPolicy::Pass)
        .start();
    let mut stream = server.connect();
    greeted(&mut stream);
    stream.write_all(b"fail as is\r\nok\n").unwrap();
    assert_eq!(read_exact(&mut stream, 15), b"fail as is\r\nok\n");
}

#[test]
fn configuration_reaches_the_plugin() {
    let server = start(&["--plugin-config", "prefix=>> "]);
    let mut stream = server.connect();
    greeted(&mut stream);
    stream.write_all(b"x\n").unwrap();
    assert_eq!(read_exact(&mut stream, 5), b">> x\n");
}

#[test]
fn a_plugin_rejecting_its_configuration_stops_the_start_with_its_message() {
    let output = crate::harness::yell_host()
        .args([
            "--listen",
            "127.0.0.1:0",
            "--plugin",
            &harness::testing_plugin("probe"),
        ])
        .args(["--plugin-config", "refuse=the moon is full"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("probe.wasm"), "{stderr}");
    assert!(stderr.contains("the moon is full"), "{stderr}");
}

#[test]
fn plugin_logs_land_in_the_host_log_with_the_plugin_name() {
    let plugin = harness::testing_plugin("probe");
    let server = ServerProcess::start_logging(&["--plugin", &plugin], "info");
    let mut stream = server.connect();
    greeted(&mut stream);
    stream.write_all(b"log hello from inside\n").unwrap();
    assert_eq!(read_exact(&mut stream, 7), b"logged\n");
    let line = server.wait_for_log(&["hello from inside"]);
    assert!(
        line.contains("plugin=\"probe\"") || line.contains("plugin=probe"),
        "{line}"
    );
}
