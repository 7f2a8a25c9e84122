//! Several instances behind a real TCP load balancer: PROXY protocol
//! headers give the real client address (and bad ones are refused without
//! harm), a drain reports not-ready first and closes cleanly, and a client
//! that reconnects through HAProxy loses no line when one host drains.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness;
use crate::harness::{http_get, read_line, sample, ServerProcess};

/// A loopback port free right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether the peer closed `stream` cleanly (end of file, no reset) within
/// `wait`, reading and keeping what came before.
fn read_until_eof(stream: &mut TcpStream, wait: Duration) -> Result<Vec<u8>, std::io::Error> {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut got = Vec::new();
    stream.read_to_end(&mut got).map(|_| got)
}

/// Reads one reply line, or nothing if the server closes first.
fn read_until_eof_after_line(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\n") {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => got.push(byte[0]),
            Err(error) => panic!("reset or stuck: {error}"),
        }
    }
    got
}

/// The number after `Lines: ` in a shutdown summary.
fn summary_lines(summary: &str) -> u64 {
    summary
        .lines()
        .find_map(|line| line.strip_prefix("Lines: "))
        .unwrap_or_else(|| panic!("no Lines in {summary}"))
        .trim()
        .parse()
        .unwrap()
}

fn start_proxied(extra: &[&str]) -> ServerProcess {
    let mut args = vec![
        "--proxy-protocol",
        "--proxy-header-timeout",
        "300ms",
        "--metrics-addr",
        "127.0.0.1:0",
    ];
    args.extend_from_slice(extra);
    ServerProcess::start_logging(&args, "info,yell_host::connection=debug")
}

#[test]
fn proxy_headers_give_the_real_address_and_bad_ones_are_refused() {
    let server = start_proxied(&[]);
    let admin = server.metrics_addr();

    // Version 1, and the same connection's lines after it.
    let mut v1 = server.connect();
    v1.write_all(b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 1234\r\nhello\n")
        .unwrap();
    assert_eq!(read_line(&mut v1), "HELLO\n");
    server.wait_for_log(&["connection opened", "peer=192.0.2.7:56324"]);
    // Version 2, its header arriving in two pieces.
    let mut v2 = server.connect();
    let header: Vec<u8> = [
        &b"\r\n\r\n\x00\r\nQUIT\n"[..],
        &[0x21, 0x11, 0x00, 0x0c],
        &[203, 0, 113, 9, 198, 51, 100, 1],
        &4242u16.to_be_bytes(),
        &1234u16.to_be_bytes(),
    ]
    .concat();
    v2.write_all(&header[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    v2.write_all(&header[10..]).unwrap();
    v2.write_all(b"world\n").unwrap();
    assert_eq!(read_line(&mut v2), "WORLD\n");
    server.wait_for_log(&["connection opened", "peer=203.0.113.9:4242"]);

    // Missing, malformed, too slow, too long: each closed, with its reason.
    let long_v2: Vec<u8> = [
        &b"\r\n\r\n\x00\r\nQUIT\n"[..],
        &[0x21, 0x11, 0xff, 0xff],
        &[0u8; 5000],
    ]
    .concat();
    let cases: [(&[u8], &str); 4] = [
        (b"hello\n", "not a PROXY protocol header"),
        (
            b"PROXY TCP4 nonsense here 1 2\r\n",
            "not a PROXY protocol header",
        ),
        (
            b"PROXY TCP4 192.0.2.7 ",
            "no PROXY protocol header within 300ms",
        ),
        (&long_v2, "no PROXY protocol header in the first 4096 bytes"),
    ];
    for (sent, why) in cases {
        let mut stream = server.connect();
        let _ = stream.write_all(sent);
        let started = Instant::now();
        let answer = read_until_eof(&mut stream, Duration::from_secs(5));
        assert!(
            matches!(&answer, Ok(got) if got.is_empty()) || answer.is_err(),
            "{why}: {answer:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(3), "{why}");
        server.wait_for_log(&["connection closed", why]);
    }
    // The server is unaffected, and counted them.
    let mut after = server.connect();
    after
        .write_all(b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 1234\r\nstill\n")
        .unwrap();
    assert_eq!(read_line(&mut after), "STILL\n");
    let scrape = http_get(admin, "/metrics").1;
    assert_eq!(sample(&scrape, "yell_proxy_headers_refused_total"), 4.0);
}

#[test]
fn a_drain_reports_not_ready_first_then_closes_cleanly() {
    let server = ServerProcess::start_logging(
        &["--metrics-addr", "127.0.0.1:0", "--drain-grace", "1s"],
        "info",
    );
    let admin = server.metrics_addr();
    let mut open = server.connect();
    open.write_all(b"before\n").unwrap();
    assert_eq!(read_line(&mut open), "BEFORE\n");

    let signalled = Instant::now();
    server.signal(libc::SIGTERM);
    // Not ready at once...
    let deadline = Instant::now() + Duration::from_millis(500);
    while http_get(admin, "/readyz").0 != "HTTP/1.1 503 Service Unavailable" {
        assert!(Instant::now() < deadline, "still ready after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    }
    // ...but still serving and accepting during the grace.
    open.write_all(b"during\n").unwrap();
    assert_eq!(read_line(&mut open), "DURING\n");
    let mut late = server.connect();
    late.write_all(b"late\n").unwrap();
    assert_eq!(read_line(&mut late), "LATE\n");
    // After the grace: a clean end of file on every connection, no reset.
    for stream in [&mut open, &mut late] {
        let rest = read_until_eof(stream, Duration::from_secs(5)).expect("a clean close");
        assert!(rest.is_empty(), "{rest:?}");
    }
    assert!(signalled.elapsed() >= Duration::from_millis(900));
    // No longer accepting (the listener closes beside the connections).
    let deadline = Instant::now() + Duration::from_secs(2);
    while TcpStream::connect(server.addr).is_ok() {
        assert!(Instant::now() < deadline, "still accepting after the grace");
        std::thread::sleep(Duration::from_millis(10));
    }
    let (status, summary) = server.wait_for_exit();
    assert!(status.success());
    assert_eq!(summary_lines(&summary), 3);
    assert!(signalled.elapsed() < Duration::from_secs(5));
}

/// `yell-host client --reconnect --json` at depth 8, running in the
/// background.
struct ReconnectingClient(Child);

impl ReconnectingClient {
    fn start(addr: SocketAddr, connections: u32, duration: &str) -> Self {
        let child = harness::yell_host()
            .args(["client", "--addr", &addr.to_string(), "--depth", "8"])
            .args(["-n", &connections.to_string(), "-d", duration])
            .args(["--reconnect", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        ReconnectingClient(child)
    }

    /// Waits for the end of the run; its exit status and JSON report.
    fn finish(self) -> (std::process::ExitStatus, serde_json::Value) {
        let output = self.0.wait_with_output().unwrap();
        let report = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&output.stdout)));
        (output.status, report)
    }
}

/// A running HAProxy, killed when dropped.
struct Haproxy {
    child: Child,
    addr: SocketAddr,
    /// Lines answered through it while waiting for it to come up.
    probes: u64,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts HAProxy in front of `hosts` (data address, admin address): TCP
/// mode, PROXY protocol v2 to the hosts, health checks on `/readyz`.
fn start_haproxy(dir: &std::path::Path, hosts: &[(SocketAddr, SocketAddr)]) -> Haproxy {
    let port = free_port();
    let servers: String = hosts
        .iter()
        .enumerate()
        .map(|(index, (data, admin))| {
            format!(
                "    server host{index} {data} check port {} send-proxy-v2\n",
                admin.port()
            )
        })
        .collect();
    let config = format!(
        "global\n    maxconn 2000\n\
         defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 30s\n    timeout server 30s\n    retries 3\n    option redispatch\n\
         frontend yell\n    bind 127.0.0.1:{port}\n    default_backend hosts\n\
         backend hosts\n    balance roundrobin\n    option httpchk GET /readyz\n    http-check expect status 200\n    default-server inter 100ms fall 1 rise 1\n{servers}"
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, config).unwrap();
    let child = Command::new("haproxy")
        .args(["-db", "-f", path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("haproxy (Debian package haproxy; `just test` installs it)");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut haproxy = Haproxy {
        child,
        addr,
        probes: 0,
    };
    // Ready once it answers through a host.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut stream) = TcpStream::connect(addr) {
            stream
                .set_read_timeout(Some(Duration::from_millis(500)))
                .unwrap();
            if stream.write_all(b"up?\n").is_ok() {
                let mut reply = [0u8; 4];
                if stream.read_exact(&mut reply).is_ok() && &reply == b"UP?\n" {
                    haproxy.probes += 1;
                    return haproxy;
                }
            }
        }
        assert!(Instant::now() < deadline, "haproxy did not come up");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_host_drained_behind_haproxy_loses_no_line() {
    let dir = harness::scratch("scale-out", "haproxy");
    let host_a = start_proxied(&["--drain-grace", "1s", "--no-watch"]);
    let admin_a = host_a.metrics_addr();
    let host_b = start_proxied(&["--no-watch"]);
    let admin_b = host_b.metrics_addr();
    let haproxy = start_haproxy(&dir, &[(host_a.addr, admin_a), (host_b.addr, admin_b)]);

    // Each host sees the client's own address, not HAProxy's.
    for _ in 0..2 {
        let mut stream = TcpStream::connect(haproxy.addr).unwrap();
        let client = stream.local_addr().unwrap();
        stream.write_all(b"who\n").unwrap();
        assert_eq!(read_line(&mut stream), "WHO\n");
        let needle = format!("peer={client}");
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen = false;
        while !seen && Instant::now() < deadline {
            seen = host_a
                .drain_log()
                .iter()
                .chain(host_b.drain_log().iter())
                .any(|line| line.contains("connection opened") && line.contains(&needle));
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(seen, "no host logged the client's address {client}");
    }

    // Load through HAProxy; host A drains in the middle of it.
    let client = ReconnectingClient::start(haproxy.addr, 6, "4s");
    std::thread::sleep(Duration::from_millis(1000));
    let drain_started = Instant::now();
    host_a.signal(libc::SIGTERM);
    let (status_a, summary_a) = host_a.wait_for_exit();
    let drain_took = drain_started.elapsed();
    assert!(status_a.success());
    let (status, report) = client.finish();
    assert!(status.success(), "{report:#}");
    let (_, summary_b) = host_b.terminate();
    let (lines_a, lines_b) = (summary_lines(&summary_a), summary_lines(&summary_b));
    let answered = report["lines"].as_u64().unwrap();
    eprintln!(
        "drain behind haproxy: client answered {answered} lines ({} reconnects, {} lines sent again); host A answered {lines_a} (drain took {drain_took:?}), host B {lines_b}",
        report["reconnects"], report["resent_lines"]
    );
    assert_eq!(report["errors"]["reset"], 0, "{report:#}");
    assert_eq!(report["errors"]["closed"], 0, "{report:#}");
    assert_eq!(report["errors"]["mismatch"], 0, "{report:#}");
    assert!(report["reconnects"].as_u64().unwrap() >= 1, "{report:#}");
    // Exactly once: what the hosts answered is what the client got, plus
    // the 2 lines of the address check.
    assert_eq!(lines_a + lines_b, answered + 2 + haproxy.probes);
    drop(haproxy);
}

#[test]
fn two_reuse_port_processes_share_a_port_and_both_serve() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    // `--listen` comes last, so it wins over the one the helper adds.
    let args = ["--reuse-port", "--no-watch", "--listen", addr.as_str()];
    let first = ServerProcess::start(&args);
    let second = ServerProcess::start(&args);
    assert_eq!(first.addr, second.addr);
    for _ in 0..64 {
        let mut stream = TcpStream::connect(first.addr).unwrap();
        stream.write_all(b"shared\n").unwrap();
        assert_eq!(read_line(&mut stream), "SHARED\n");
    }
    let (_, first_summary) = first.terminate();
    let (_, second_summary) = second.terminate();
    let (a, b) = (
        summary_lines(&first_summary),
        summary_lines(&second_summary),
    );
    assert_eq!(a + b, 64);
    assert!(a > 0 && b > 0, "one process served all: {a} and {b}");
}

/// Makes `command` pass the socket `fd` the way socket activation does: as
/// its descriptor 3, with `LISTEN_FDS=1`.
fn pass_as_listen_fd(command: &mut Command, fd: std::os::fd::RawFd) {
    use std::os::unix::process::CommandExt;
    command.env("LISTEN_FDS", "1");
    // SAFETY: dup2 and fcntl are async-signal-safe; they run in the child
    // between fork and exec, making the socket its descriptor 3, kept open
    // across exec.
    unsafe {
        command.pre_exec(move || {
            let done = if fd == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(fd, 3)
            };
            if done < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Starts a server on an inherited listening socket, as systemd's socket
/// activation does: the socket as file descriptor 3, `LISTEN_FDS=1`.
fn start_activated(socket: &TcpListener, extra: &[&str]) -> ServerProcess {
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    ServerProcess::start_customized(&[], extra, "info", move |command| {
        pass_as_listen_fd(command, fd);
    })
}

#[test]
fn an_upgrade_on_an_activated_socket_refuses_no_connection_and_loses_no_line() {
    // The socket outlives both processes, as systemd keeps it.
    let socket = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    let old = start_activated(&socket, &["--no-watch"]);
    assert_eq!(old.addr, addr, "the inherited socket is used, not --listen");

    // Load, with new connections opening all the time: a client that
    // reconnects, and a stream of short connections.
    let client = ReconnectingClient::start(addr, 4, "3s");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let short_connections = std::thread::spawn({
        let stop = stop.clone();
        move || {
            let (mut answered, mut refused) = (0u64, 0u64);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match TcpStream::connect(addr) {
                    Ok(mut stream) => {
                        // A connection the old process took just before it
                        // drained ends cleanly unanswered: it goes again.
                        let _ = stream.write_all(b"short\n");
                        let reply = read_until_eof_after_line(&mut stream);
                        match reply.as_slice() {
                            b"SHORT\n" => answered += 1,
                            b"" => {}
                            other => panic!("{:?}", String::from_utf8_lossy(other)),
                        }
                    }
                    Err(_) => refused += 1,
                }
            }
            (answered, refused)
        }
    });
    std::thread::sleep(Duration::from_millis(800));
    // The upgrade: the new process starts on the same socket, then the old
    // one drains.
    let upgrade_started = Instant::now();
    let new = start_activated(&socket, &["--no-watch"]);
    old.signal(libc::SIGTERM);
    let (old_status, old_summary) = old.wait_for_exit();
    let upgrade_took = upgrade_started.elapsed();
    assert!(old_status.success());
    let (status, report) = client.finish();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (short_answered, refused) = short_connections.join().unwrap();
    let (_, new_summary) = new.terminate();
    let answered = report["lines"].as_u64().unwrap();
    let (old_lines, new_lines) = (summary_lines(&old_summary), summary_lines(&new_summary));
    eprintln!(
        "upgrade on an activated socket: {upgrade_took:?} from the new process's start to the old one's exit; client answered {answered} lines ({} reconnects), {short_answered} short connections, {refused} refused; old answered {old_lines}, new {new_lines}",
        report["reconnects"]
    );
    assert!(status.success(), "{report:#}");
    assert_eq!(refused, 0);
    assert_eq!(report["errors"]["refused"], 0);
    assert_eq!(report["errors"]["reset"], 0);
    assert!(new_lines > 0, "the new process served nothing");
    assert_eq!(old_lines + new_lines, answered + short_answered);
}

#[test]
fn plugins_learn_the_real_client_address() {
    let probe = harness::testing_plugin("probe");
    // Directly: the socket's own addresses.
    let direct = ServerProcess::start(&["--plugin", &probe]);
    let mut stream = direct.connect();
    let (client, server) = (stream.local_addr().unwrap(), direct.addr);
    assert!(read_line(&mut stream).starts_with("welcome"));
    stream.write_all(b"peer\n").unwrap();
    assert_eq!(read_line(&mut stream), format!("{client} -> {server}\n"));
    // Behind a balancer: the PROXY header's.
    let proxied = ServerProcess::start(&["--plugin", &probe, "--proxy-protocol"]);
    let mut stream = proxied.connect();
    stream
        .write_all(b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 1234\r\npeer\n")
        .unwrap();
    assert!(read_line(&mut stream).starts_with("welcome"));
    assert_eq!(
        read_line(&mut stream),
        "[2001:db8::7]:4000 -> [2001:db8::1]:1234\n"
    );
    // A plugin built without the import (uppercase) loads and serves as before.
    let plain = ServerProcess::start(&["--proxy-protocol"]);
    let mut stream = plain.connect();
    stream
        .write_all(b"PROXY TCP4 192.0.2.7 198.51.100.1 1 2\r\nplain\n")
        .unwrap();
    assert_eq!(read_line(&mut stream), "PLAIN\n");
}

#[test]
fn a_passed_socket_that_is_not_listening_is_refused() {
    use std::os::fd::AsRawFd;
    // A connected socket, as a socket unit with Accept=yes would pass.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let connected = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let fd = connected.as_raw_fd();
    let mut command = harness::yell_host();
    command
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    pass_as_listen_fd(&mut command, fd);
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not listening"), "{stderr}");
    // Other commands ignore LISTEN_FDS (here with nothing at descriptor 3,
    // which a server would refuse).
    let key = harness::scratch("scale-out", "not-listening").join("key");
    let keygen = harness::yell_host()
        .arg("keygen")
        .arg(&key)
        .env("LISTEN_FDS", "1")
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{keygen:?}");
}
