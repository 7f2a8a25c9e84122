//! Ten thousand concurrent connections, held open at once, then all answered
//! correctly. In a file of its own: it needs most of the process's file
//! descriptors.

use std::io::Write;
use std::time::{Duration, Instant};

use crate::harness::{read_exact, ServerProcess};

const CONNECTIONS: usize = 10_000;

/// Raises this process's open file limit (inherited by the server it
/// starts) to its hard limit, which must leave room for the connections.
fn raise_file_limit(needed: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct given.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        assert!(
            limit.rlim_max >= needed,
            "this machine allows {} open files per process; the test needs {needed}",
            limit.rlim_max
        );
        limit.rlim_cur = limit.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
    }
}

#[test]
fn ten_thousand_connections_held_open_then_all_answered() {
    raise_file_limit(CONNECTIONS as u64 + 500);
    let server = ServerProcess::start(&[]);
    let before = server.rss_kib();
    let started = Instant::now();
    let mut streams: Vec<_> = (0..CONNECTIONS).map(|_| server.connect()).collect();
    let opened = started.elapsed();
    // All are open at once; now each sends a line...
    for (i, stream) in streams.iter_mut().enumerate() {
        stream
            .write_all(format!("connection {i}\n").as_bytes())
            .unwrap();
    }
    // ...and each gets its own reply.
    for (i, stream) in streams.iter_mut().enumerate() {
        let expected = format!("CONNECTION {i}\n");
        assert_eq!(
            read_exact(stream, expected.len()),
            expected.as_bytes(),
            "connection {i}"
        );
    }
    let answered = started.elapsed();
    // All answered and quiet now: what each costs while it waits.
    let held = server.rss_kib();
    let per_connection = held.saturating_sub(before) * 1024 / CONNECTIONS as u64;
    eprintln!(
        "{CONNECTIONS} connections: opened in {opened:?}, all answered after {answered:?}; server RSS before {before} KiB, with all open and quiet {held} KiB ({per_connection} bytes per connection)"
    );
    assert!(answered < Duration::from_secs(120));
    // A quiet connection holds no read buffer and a small task: under 3 KiB
    // in a debug or release build. A buffer held per quiet connection (4
    // KiB at least) would break the bound.
    assert!(
        per_connection < 8 * 1024,
        "{per_connection} bytes per quiet connection"
    );
    drop(streams);
}
