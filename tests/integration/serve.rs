//! The server end to end with the real uppercase component, bytes over
//! TCP on 127.0.0.1: what it answers (a server in the test's process), and
//! what the real binary does at a signal and with its open-file limit.

use std::io::Write;
use std::net::Shutdown;
use std::time::Duration;

use crate::harness;
use yell_runtime::Framing;

use crate::harness::{exchange, read_exact, read_to_end, ServerBuilder, ServerProcess};

#[test]
fn one_line_is_answered() {
    let server = ServerBuilder::new().start();
    let mut stream = server.connect();
    stream.write_all(b"hello world\n").unwrap();
    assert_eq!(read_exact(&mut stream, 12), b"HELLO WORLD\n");
    // The connection stays open for more.
    stream.write_all(b"again\n").unwrap();
    assert_eq!(read_exact(&mut stream, 6), b"AGAIN\n");
}

#[test]
fn many_lines_in_one_write_are_all_answered_in_order() {
    let server = ServerBuilder::new().start();
    let input: String = (0..5000).map(|i| format!("line {i} of many\n")).collect();
    let reply = exchange(&server, input.as_bytes());
    assert_eq!(String::from_utf8(reply).unwrap(), input.to_uppercase());
}

#[test]
fn a_line_split_across_writes_is_answered_once_whole() {
    let server = ServerBuilder::new().start();
    let mut stream = server.connect();
    stream.set_nodelay(true).unwrap();
    for part in [&b"hel"[..], b"lo wo", b"rld\nsec", b"ond\n"] {
        stream.write_all(part).unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    stream.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut stream), b"HELLO WORLD\nSECOND\n");
}

#[test]
fn crlf_lines_keep_their_line_ending() {
    let server = ServerBuilder::new().start();
    assert_eq!(
        exchange(&server, b"dos\r\nunix\nmixed\r\n"),
        b"DOS\r\nUNIX\nMIXED\r\n"
    );
}

#[test]
fn empty_lines_are_answered() {
    let server = ServerBuilder::new().start();
    assert_eq!(exchange(&server, b"\n\r\nx\n\n"), b"\n\r\nX\n\n");
}

#[test]
fn a_final_line_without_newline_is_answered_before_close() {
    let server = ServerBuilder::new().start();
    assert_eq!(exchange(&server, b"first\nlast"), b"FIRST\nLAST");
    assert_eq!(exchange(&server, b"only"), b"ONLY");
    assert_eq!(exchange(&server, b""), b"");
}

#[test]
fn any_bytes_but_newline_pass_through() {
    let server = ServerBuilder::new().start();
    assert_eq!(
        exchange(&server, b"nul\0byte \xff\xfe caf\xc3\xa9\n"),
        b"NUL\0BYTE \xff\xfe CAF\xc3\xa9\n"
    );
}

#[test]
fn a_hundred_concurrent_clients_each_get_their_own_replies() {
    let server = ServerBuilder::new().start();
    std::thread::scope(|scope| {
        for client in 0..100 {
            let addr = server.addr;
            scope.spawn(move || {
                let mut stream = harness::connect(addr);
                let mut expected = Vec::new();
                for round in 0..20 {
                    let burst: String = (0..10)
                        .map(|i| format!("client {client} round {round} line {i}\n"))
                        .collect();
                    stream.write_all(burst.as_bytes()).unwrap();
                    expected.extend_from_slice(burst.to_uppercase().as_bytes());
                }
                stream.shutdown(Shutdown::Write).unwrap();
                let reply = read_to_end(&mut stream);
                assert_eq!(
                    String::from_utf8_lossy(&reply),
                    String::from_utf8_lossy(&expected),
                    "client {client}"
                );
            });
        }
    });
}

#[test]
fn a_line_past_the_maximum_gets_an_error_line_and_a_close() {
    let server = ServerBuilder::new().max_line_length(1024).start();
    let mut input = b"fine\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 1025));
    input.extend_from_slice(b"\nnever answered\n");
    let mut stream = server.connect();
    // The server may close before reading everything; what it sent first
    // is what counts.
    let _ = stream.write_all(&input);
    let reply = read_to_end(&mut stream);
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "FINE\nERR line too long: longer than 1024 bytes\n"
    );

    // Exactly the maximum is fine, with either line ending.
    let mut input = vec![b'y'; 1024];
    input.extend_from_slice(b"\r\n");
    let mut expected = vec![b'Y'; 1024];
    expected.extend_from_slice(b"\r\n");
    assert_eq!(exchange(&server, &input), expected);
}

#[test]
fn a_long_line_without_newline_is_refused_without_waiting_for_its_end() {
    let server = ServerBuilder::new().max_line_length(1000).start();
    let mut stream = server.connect();
    // Far more than the maximum, never a newline, and the sending side left
    // open: the server must answer and close on its own.
    let _ = stream.write_all(&vec![b'z'; 200_000]);
    let reply = read_to_end(&mut stream);
    assert_eq!(reply, b"ERR line too long: longer than 1000 bytes\n");
}

#[test]
fn raw_mode_answers_chunks_as_they_come() {
    let server = ServerBuilder::new().framing(Framing::Raw).start();
    let mut stream = server.connect();
    // What the original asyncio tutorial's client does: no newline, then wait.
    stream.write_all(b"Hello World!").unwrap();
    assert_eq!(read_exact(&mut stream, 12), b"HELLO WORLD!");
    stream.write_all(b"two\nlines\n").unwrap();
    assert_eq!(read_exact(&mut stream, 10), b"TWO\nLINES\n");
}

#[test]
fn a_server_stopped_in_process_drains_and_counts_what_it_served() {
    let server = ServerBuilder::new()
        .configure(|config| config.drain_grace = Duration::ZERO)
        .start();
    assert_eq!(
        exchange(&server, b"one\ntwo\nthree\n"),
        b"ONE\nTWO\nTHREE\n"
    );
    let mut open = server.connect();
    open.write_all(b"last\n").unwrap();
    assert_eq!(read_exact(&mut open, 5), b"LAST\n");
    let summary = server.stop();
    // The open connection was closed by the drain, its line counted.
    assert_eq!(read_to_end(&mut open), b"");
    assert_eq!(summary.counters.connections, 2, "{summary}");
    assert_eq!(summary.counters.lines, 4, "{summary}");
    assert_eq!(summary.generations, 1, "{summary}");
}

#[test]
fn sigterm_prints_a_summary_that_counts_the_traffic_and_exits_zero() {
    let server = ServerProcess::start(&[]);
    for _ in 0..3 {
        assert_eq!(exchange(&server, b"a\nbb\nccc\n"), b"A\nBB\nCCC\n");
    }
    let (status, printed) = server.terminate();
    assert!(status.success(), "exit status {status}");
    for expected in [
        "Connections: 3",
        "Lines: 9",
        "Bytes in: 27",
        "Bytes out: 27",
        "Lines per second: ",
    ] {
        assert!(
            printed.contains(expected),
            "{expected:?} not in:\n{printed}"
        );
    }
}

#[test]
fn shutdown_answers_what_was_read_then_closes_open_connections() {
    let server = ServerProcess::start(&[]);
    let mut idle = server.connect();
    let mut busy = server.connect();
    busy.write_all(b"before shutdown\n").unwrap();
    assert_eq!(read_exact(&mut busy, 16), b"BEFORE SHUTDOWN\n");
    let (status, printed) = server.terminate();
    assert!(status.success(), "exit status {status}");
    assert!(printed.contains("Connections: 2"), "{printed}");
    assert_eq!(read_to_end(&mut idle), b"");
    assert_eq!(read_to_end(&mut busy), b"");
}

#[test]
fn the_open_file_limit_is_raised_to_the_hard_limit() {
    use std::io::BufRead;
    // Started with a soft limit of 256 under a hard limit of 4096.
    let Ok(mut child) = std::process::Command::new("prlimit")
        .args(["--nofile=256:4096", "--"])
        .arg(harness::binary())
        .args(["--listen", "127.0.0.1:0"])
        .env("YELL_COMPILE_CACHE", harness::compile_cache())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
    else {
        eprintln!("no `prlimit` here: skipped");
        return;
    };
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("yell-host listening on "), "{first:?}");
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.id())).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let open_files = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = open_files.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers, ["4096", "4096"], "{open_files}");
}
