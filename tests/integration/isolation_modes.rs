//! `--isolation pooled|connection|call`: whether a plugin's state can carry
//! one client's lines into another's replies. Uses the real `probe` test
//! component (its `previous` line answers the line its instance saw before)
//! and the `counter` example plugin.

use std::io::Write;
use std::net::Shutdown;

use crate::harness;
use crate::harness::{read_line, read_to_end, ServerProcess};

fn counter() -> String {
    harness::plugin_dir()
        .join("counter.wasm")
        .to_string_lossy()
        .into_owned()
}

/// Connects, reads the probe's greeting, sends `lines`, returns the replies.
fn session(server: &ServerProcess, lines: &[&str]) -> Vec<String> {
    let mut stream = server.connect();
    assert!(read_line(&mut stream).starts_with("welcome "));
    let replies = lines
        .iter()
        .map(|line| {
            stream.write_all(format!("{line}\n").as_bytes()).unwrap();
            read_line(&mut stream)
        })
        .collect();
    stream.shutdown(Shutdown::Write).unwrap();
    read_to_end(&mut stream);
    replies
}

#[test]
fn pooled_instances_can_carry_a_line_between_clients() {
    // What the other modes rule out: under the default, one client alone
    // on the server is served by the same instance as the next one.
    let plugin = harness::testing_plugin("probe");
    let server = ServerProcess::start(&["--plugin", &plugin]);
    session(&server, &["secret of the first client"]);
    assert_eq!(
        session(&server, &["previous"]),
        ["secret of the first client\n"]
    );
}

#[test]
fn connection_isolation_keeps_each_clients_state_its_own() {
    let plugin = harness::testing_plugin("probe");
    let server =
        ServerProcess::start_logging(&["--plugin", &plugin, "--isolation", "connection"], "info");
    // Never the synchronous way, whose cut calls run again on another
    // instance: a connection's instance keeps its state.
    server.wait_for_log(&["called asynchronously (--isolation connection)"]);
    session(&server, &["secret of the first client"]);
    // A new connection starts on a fresh instance...
    assert_eq!(session(&server, &["previous"]), ["none\n"]);
    // ...and keeps its own for its life.
    assert_eq!(
        session(&server, &["mine", "previous"]),
        ["mine\n", "mine\n"]
    );
    // Two connections at once never share an instance.
    let mut first = server.connect();
    let mut second = server.connect();
    read_line(&mut first);
    read_line(&mut second);
    for round in 0..20 {
        first
            .write_all(format!("first {round}\n").as_bytes())
            .unwrap();
        read_line(&mut first);
        second.write_all(b"previous\n").unwrap();
        let seen = read_line(&mut second);
        assert!(!seen.starts_with("first"), "round {round}: {seen:?}");
    }
}

#[test]
fn call_isolation_keeps_no_state_at_all() {
    let plugin = harness::testing_plugin("probe");
    let server = ServerProcess::start(&["--plugin", &plugin, "--isolation", "call"]);
    assert_eq!(
        session(&server, &["secret", "previous"]),
        ["secret\n", "none\n"]
    );
    assert_eq!(session(&server, &["previous"]), ["none\n"]);
}

#[test]
fn connection_isolation_counts_exactly_per_connection() {
    let plugin = counter();
    let server = ServerProcess::start(&["--plugin", &plugin, "--isolation", "connection"]);
    let mut streams: Vec<_> = (0..3).map(|_| server.connect()).collect();
    // Interleaved, several connections at once: each counts from 1 by one.
    for n in 1..=30 {
        for stream in &mut streams {
            stream.write_all(b"line\n").unwrap();
            assert_eq!(read_line(stream), format!("{n} line\n"));
        }
    }
}

#[test]
fn connection_isolation_holds_one_instance_per_connection_within_the_limit() {
    let plugin = harness::testing_plugin("probe");
    let server = ServerProcess::start(&[
        "--plugin",
        &plugin,
        "--isolation",
        "connection",
        "--max-instances",
        "2",
    ]);
    let mut first = server.connect();
    let mut second = server.connect();
    assert!(read_line(&mut first).starts_with("welcome "));
    assert!(read_line(&mut second).starts_with("welcome "));
    // Both connections hold their instance: a third gets none (its
    // greeting is left out) and its lines are refused, cleanly.
    let mut third = server.connect();
    third.write_all(b"hello\n").unwrap();
    assert!(read_line(&mut third).starts_with("ERR plugin: overloaded: 2 instances of probe"));
    // Once one connection ends, its instance goes with it.
    first.shutdown(Shutdown::Write).unwrap();
    read_to_end(&mut first);
    third.write_all(b"again\n").unwrap();
    assert_eq!(read_line(&mut third), "again\n");
}
