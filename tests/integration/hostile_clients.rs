//! Misbehaving clients get a clear error and lose nothing for anyone else;
//! the server's memory stays bounded throughout.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{read_line, read_to_end, ServerProcess, SteadyClient};

/// Samples the server's RSS every 20 ms until `done`; returns the largest.
fn sample_peak_rss(server: &ServerProcess, done: &AtomicBool) -> u64 {
    let mut peak = 0;
    while !done.load(Ordering::Relaxed) {
        peak = peak.max(server.rss_kib());
        std::thread::sleep(Duration::from_millis(20));
    }
    peak
}

#[test]
fn a_hundred_megabytes_without_newline_get_an_error_and_a_close_in_bounded_memory() {
    let server = ServerProcess::start(&[]);
    let steady = SteadyClient::start(server.addr);
    let before = server.rss_kib();
    let mut stream = server.connect();
    let mut writer = stream.try_clone().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let sender = std::thread::spawn({
        let done = done.clone();
        move || {
            let chunk = vec![b'x'; 1 << 20];
            let mut sent = 0usize;
            while sent < 100 << 20 {
                // The server closes early; the write then fails, as it should.
                if writer.write_all(&chunk).is_err() {
                    break;
                }
                sent += chunk.len();
            }
            done.store(true, Ordering::Relaxed);
            sent
        }
    });
    let reply = std::thread::scope(|scope| {
        let sampler = scope.spawn(|| sample_peak_rss(&server, &done));
        let reply = read_to_end(&mut stream);
        let sent = sender.join().unwrap();
        done.store(true, Ordering::Relaxed);
        let peak = sampler.join().unwrap();
        eprintln!(
            "100 MB without newline: sent {} MiB before the close; server RSS before {before} KiB, peak {peak} KiB, after {} KiB",
            sent >> 20,
            server.rss_kib()
        );
        assert!(
            peak < before + 32 * 1024,
            "memory grew from {before} to {peak} KiB"
        );
        reply
    });
    assert_eq!(
        String::from_utf8(reply).unwrap(),
        "ERR line too long: longer than 65536 bytes\n"
    );
    steady.finish();
}

#[test]
fn a_client_that_never_reads_is_slowed_down_not_buffered_for() {
    let server = ServerProcess::start(&[]);
    let steady = SteadyClient::start(server.addr);
    let before = server.rss_kib();
    let mut greedy = server.connect();
    greedy
        .set_write_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let burst = b"never read this reply\n".repeat(10_000);
    let mut sent = 0usize;
    let limit = 512 << 20;
    while sent < limit {
        match greedy.write(&burst) {
            Ok(n) => sent += n,
            Err(_) => break, // the write blocked: the server stopped reading
        }
    }
    let during = server.rss_kib();
    eprintln!(
        "never-reading client: blocked after {} MiB; server RSS before {before} KiB, during {during} KiB",
        sent >> 20
    );
    assert!(
        sent < limit,
        "the server kept reading {sent} bytes nobody read replies to"
    );
    assert!(
        during < before + 32 * 1024,
        "memory grew from {before} to {during} KiB"
    );
    steady.finish();
    drop(greedy);
}

#[test]
fn a_line_trickled_a_byte_at_a_time_hits_the_idle_timeout() {
    let server = ServerProcess::start(&["--idle-timeout", "1s"]);
    let mut slow = server.connect();
    let started = Instant::now();
    let mut reply = Vec::new();
    // A byte every 200 ms, never a newline: no line ever completes.
    for _ in 0..50 {
        if slow.write_all(b"x").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
        slow.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 256];
        if let Ok(n @ 1..) = std::io::Read::read(&mut slow, &mut buf) {
            reply.extend_from_slice(&buf[..n]);
        }
        slow.set_nonblocking(false).unwrap();
        if reply.ends_with(b"\n") {
            break;
        }
    }
    let elapsed = started.elapsed();
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "ERR idle timeout: no complete line for 1s\n"
    );
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
    // A client completing a line now and then is not idle.
    let mut steady = server.connect();
    for i in 0..4 {
        std::thread::sleep(Duration::from_millis(500));
        steady.write_all(format!("tick {i}\n").as_bytes()).unwrap();
        assert_eq!(read_line(&mut steady), format!("TICK {i}\n"));
    }
}

/// Makes closing `stream` send a reset instead of an orderly close.
fn reset_on_close(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setting a socket option on a socket we own, with its own type.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
}

#[test]
fn reset_or_half_close_in_the_middle_of_a_line_keeps_the_server_and_stats_right() {
    let server = ServerProcess::start(&[]);
    let reset = server.connect();
    (&reset).write_all(b"half a li").unwrap();
    reset_on_close(&reset);
    drop(reset);

    let mut half_closed = server.connect();
    half_closed.write_all(b"one\nhalf a line").unwrap();
    half_closed.shutdown(Shutdown::Write).unwrap();
    assert_eq!(read_to_end(&mut half_closed), b"ONE\nHALF A LINE");

    let mut after = server.connect();
    after.write_all(b"still serving\n").unwrap();
    assert_eq!(read_line(&mut after), "STILL SERVING\n");
    drop(after);

    let (status, summary) = server.terminate();
    assert!(status.success(), "exit status {status}");
    assert!(summary.contains("Connections: 3 "), "{summary}");
    assert!(summary.contains("Lines: 3\n"), "{summary}");
}

#[test]
fn connections_past_the_limit_get_an_error_line_and_the_others_go_on() {
    let server = ServerProcess::start(&["--max-connections", "3"]);
    let mut held: Vec<TcpStream> = (0..3)
        .map(|i| {
            let mut stream = server.connect();
            stream.write_all(format!("held {i}\n").as_bytes()).unwrap();
            assert_eq!(read_line(&mut stream), format!("HELD {i}\n"));
            stream
        })
        .collect();
    let mut extra = server.connect();
    assert_eq!(
        String::from_utf8(read_to_end(&mut extra)).unwrap(),
        "ERR too many connections: the limit is 3\n"
    );
    for (i, stream) in held.iter_mut().enumerate() {
        stream.write_all(format!("again {i}\n").as_bytes()).unwrap();
        assert_eq!(read_line(stream), format!("AGAIN {i}\n"));
    }
    // Once one leaves, a newcomer gets its place.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut newcomer = server.connect();
        newcomer.write_all(b"newcomer\n").unwrap();
        let reply = read_line(&mut newcomer);
        if reply == "NEWCOMER\n" {
            break;
        }
        assert!(reply.starts_with("ERR too many connections"), "{reply:?}");
        assert!(
            Instant::now() < deadline,
            "the freed place was never reused"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (_, summary) = server.terminate();
    assert!(summary.contains("refused past the limit"), "{summary}");
}
