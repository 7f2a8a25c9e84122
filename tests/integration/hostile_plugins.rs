//! Misbehaving plugins (the real `hostile` test component) end only their
//! own call: the client gets one error line, the instance is replaced, every
//! other connection goes on, and the memory comes back.

use std::io::Write;

use crate::harness;
use crate::harness::{read_line, read_to_end, ServerProcess, SteadyClient};

/// Starts the server with the hostile plugin. The deadline is generous
/// (unless `extra` sets one): the tests share two cores, and a call that
/// legitimately copies megabytes must not be mistaken for a loop.
fn start(extra: &[&str]) -> ServerProcess {
    let plugin = harness::testing_plugin("hostile");
    let timeout_given = extra.contains(&"--plugin-timeout");
    let mut args = vec!["--plugin", plugin.as_str(), "--max-reply", "1MiB"];
    if !timeout_given {
        args.extend_from_slice(&["--plugin-timeout", "1s"]);
    }
    // The deadline under test is running time; slow calls run at the lowest
    // priority, so on a CI machine busy with the other tests their wall
    // time may be many times that: a generous ceiling keeps it out of play.
    args.extend_from_slice(&["--plugin-wall-timeout", "60s"]);
    args.extend_from_slice(extra);
    ServerProcess::start(&args)
}

#[test]
fn each_misbehaviour_ends_only_its_own_call() {
    let server = start(&[]);
    let steady = SteadyClient::start(server.addr);
    let cases = [
        (
            "spin",
            "ERR plugin: deadline exceeded: ran longer than 1s\n",
        ),
        ("grow", "ERR plugin: trapped: memory limit exceeded"),
        // Where and why go to the host's log (see below), not to the client.
        ("panic", "ERR plugin: panicked\n"),
        ("recurse", "ERR plugin: trapped: "),
        ("huge 4", "ERR plugin: reply too large: "),
        ("huge-error 4", "ERR plugin: reply too large: "),
        ("huge 1000", "ERR plugin: trapped: memory limit exceeded"),
    ];
    for (line, expected) in cases {
        let mut stream = server.connect();
        stream.write_all(format!("{line}\n").as_bytes()).unwrap();
        let reply = read_line(&mut stream);
        assert!(reply.starts_with(expected), "{line}: {reply:?}");
        assert!(reply.ends_with('\n') && reply.matches('\n').count() == 1);
        // The same connection is served by a fresh instance afterwards.
        stream.write_all(b"still here\n").unwrap();
        assert_eq!(read_line(&mut stream), "STILL HERE\n", "after {line}");
    }
    let answered = steady.finish();
    eprintln!("steady client: {answered} lines answered right meanwhile");
}

#[test]
fn memory_comes_back_after_memory_bombs_and_huge_replies() {
    let server = start(&[]);
    let mut stream = server.connect();
    stream.write_all(b"warm up\n").unwrap();
    assert_eq!(read_line(&mut stream), "WARM UP\n");
    let before = server.rss_kib();
    for _ in 0..5 {
        for line in ["grow", "huge 8", "huge 900"] {
            stream.write_all(format!("{line}\n").as_bytes()).unwrap();
            assert!(read_line(&mut stream).starts_with("ERR plugin: "), "{line}");
        }
    }
    stream.write_all(b"done\n").unwrap();
    assert_eq!(read_line(&mut stream), "DONE\n");
    let peak = server.peak_rss_kib();
    let after = server.rss_kib();
    eprintln!("server RSS: before {before} KiB, peak {peak} KiB, after {after} KiB");
    assert!(
        peak > before,
        "the bombs should have cost memory while they ran"
    );
    assert!(
        after < before + 32 * 1024,
        "memory did not come back: before {before} KiB, after {after} KiB"
    );
}

#[test]
fn the_close_policy_closes_after_the_error_line() {
    let server = start(&["--on-plugin-error", "close"]);
    let mut stream = server.connect();
    stream.write_all(b"spin\n").unwrap();
    assert_eq!(
        String::from_utf8(read_to_end(&mut stream)).unwrap(),
        "ERR plugin: deadline exceeded: ran longer than 1s\n"
    );
}

#[test]
fn the_pass_policy_fails_open() {
    let server = start(&["--on-plugin-error", "pass"]);
    let mut stream = server.connect();
    stream.write_all(b"panic\r\n").unwrap();
    assert_eq!(read_line(&mut stream), "panic\r\n");
    stream.write_all(b"fine\n").unwrap();
    assert_eq!(read_line(&mut stream), "FINE\n");
}

#[test]
fn a_short_deadline_is_honoured() {
    let server = start(&["--plugin-timeout", "30ms"]);
    let mut stream = server.connect();
    let started = std::time::Instant::now();
    stream.write_all(b"spin\n").unwrap();
    assert_eq!(
        read_line(&mut stream),
        "ERR plugin: deadline exceeded: ran longer than 30ms\n"
    );
    let took = started.elapsed();
    assert!(took >= std::time::Duration::from_millis(30), "{took:?}");
    assert!(took < std::time::Duration::from_secs(2), "{took:?}");
}

#[test]
fn oversized_greetings_and_last_words_are_refused() {
    let server = start(&[
        "--plugin-config",
        "greeting_mib=2",
        "--plugin-config",
        "farewell_mib=2",
    ]);
    let mut stream = server.connect();
    let greeting = read_line(&mut stream);
    assert!(
        greeting.starts_with("ERR plugin: reply too large: "),
        "{greeting:?}"
    );
    stream.write_all(b"served\n").unwrap();
    assert_eq!(read_line(&mut stream), "SERVED\n");
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let last_words = String::from_utf8(read_to_end(&mut stream)).unwrap();
    assert!(
        last_words.starts_with("ERR plugin: reply too large: ") && last_words.len() < 200,
        "{last_words:?}"
    );
}

#[test]
fn a_panic_is_named_and_its_message_logged_for_the_operator() {
    let plugin = harness::testing_plugin("hostile");
    let server =
        ServerProcess::start_logging(&["--plugin", &plugin, "--plugin-log-rate", "1"], "warn");
    let mut stream = server.connect();
    // A plugin at its log rate still gets its panic logged.
    stream.write_all(b"log-flood 5\n").unwrap();
    assert_eq!(read_line(&mut stream), "flooded\n");
    stream.write_all(b"panic\n").unwrap();
    assert_eq!(read_line(&mut stream), "ERR plugin: panicked\n");
    let logged = server.wait_for_log(&["panicked at", "asked to panic"]);
    assert!(logged.contains("src/lib.rs:"), "{logged}");
    stream.write_all(b"after\n").unwrap();
    assert_eq!(read_line(&mut stream), "AFTER\n");
}
