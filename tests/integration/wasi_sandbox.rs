//! The sandbox is the host's: a test plugin that calls WASI 0.2 itself
//! (no standard library or language runtime in between) is denied files,
//! environment, arguments and network, and its forged resource handles are
//! refused, with the listener it aims at never contacted; the same calls
//! work once the operator grants them, and only as far as granted.

use std::io::Write;
use std::net::TcpListener;
use std::time::Duration;

use crate::harness;
use crate::harness::{read_line, testing_plugin, ServerProcess};

/// Sends `line` and returns the one line answered.
fn ask(stream: &mut std::net::TcpStream, line: &str) -> String {
    stream.write_all(format!("{line}\n").as_bytes()).unwrap();
    read_line(stream).trim_end().to_string()
}

#[test]
fn raw_wasi_calls_are_denied_by_the_host() {
    let server = ServerProcess::start_logging(&["--plugin", &testing_plugin("wasi-raw")], "info");
    // WASI's host side is asynchronous: such a plugin is never called the
    // synchronous way (whose cut calls run again: no WASI call may happen twice).
    server.wait_for_log(&["called asynchronously"]);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut stream = server.connect();
    assert_eq!(ask(&mut stream, "preopens"), "0:");
    for path in ["/etc/passwd", "etc/passwd", "../../etc/passwd", "."] {
        assert_eq!(
            ask(&mut stream, &format!("read {path}")),
            "denied: no preopened directory"
        );
    }
    assert_eq!(
        ask(&mut stream, "write /tmp/yell-wasi-raw"),
        "denied: no preopened directory"
    );
    assert_eq!(ask(&mut stream, "env"), "0:");
    assert_eq!(ask(&mut stream, "args"), "0");
    let connect = ask(&mut stream, &format!("connect 127.0.0.1 {port}"));
    assert!(
        connect.starts_with("denied: ") && connect.contains("access-denied"),
        "{connect}"
    );
    assert!(ask(&mut stream, &format!("connect ::1 {port}")).starts_with("denied: "));
    // Handles the host never gave: each call traps, the client hears an
    // error for that line, and the next line is served by a fresh instance.
    for (forged, handle) in [
        ("forge-descriptor", 0),
        ("forge-descriptor", 3),
        ("forge-descriptor", u32::MAX),
        ("forge-socket", 1),
        ("forge-socket", 17),
        ("forge-stream", 2),
    ] {
        let answer = ask(&mut stream, &format!("{forged} {handle}"));
        assert!(
            answer.starts_with("ERR plugin: trapped: "),
            "{forged} {handle}: {answer}"
        );
        assert_eq!(ask(&mut stream, "args"), "0");
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        listener.accept().is_err(),
        "the plugin reached the test's listener"
    );
    assert!(!std::path::Path::new("/tmp/yell-wasi-raw").exists());
}

#[test]
fn raw_wasi_calls_get_what_is_granted_and_no_more() {
    let granted = harness::scratch("wasi_sandbox", "granted");
    std::fs::write(granted.join("notes.txt"), "twelve bytes").unwrap();
    let outside = harness::scratch("wasi_sandbox", "outside");
    std::fs::write(outside.join("secret.txt"), "secret").unwrap();
    let allowed = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    other.set_nonblocking(true).unwrap();
    let dir_grant = format!("{}::/data", granted.display());
    let connect_grant = allowed.local_addr().unwrap().to_string();
    let server = ServerProcess::start(&[
        "--plugin",
        &testing_plugin("wasi-raw"),
        "--plugin-env",
        "REGION=eu",
        "--plugin-env",
        "TIER=gold",
        "--plugin-dir-ro",
        &dir_grant,
        "--plugin-connect",
        &connect_grant,
        // A fresh instance, and so a fresh preopen, for every call.
        "--isolation",
        "call",
    ]);
    let mut stream = server.connect();
    assert_eq!(ask(&mut stream, "preopens"), "1: /data");
    assert_eq!(ask(&mut stream, "read notes.txt"), "allowed: 12 bytes");
    assert_eq!(ask(&mut stream, "env"), "2: REGION TIER");
    assert_eq!(ask(&mut stream, "args"), "0");
    // Read-only, and nothing outside the granted folder.
    assert!(ask(&mut stream, "write new.txt").starts_with("denied: "));
    assert!(!granted.join("new.txt").exists());
    let escape = "../outside/secret.txt";
    assert!(ask(&mut stream, &format!("read {escape}")).starts_with("denied: "));
    assert!(ask(&mut stream, "read /etc/passwd").starts_with("denied: "));
    // A symbolic link pointing out of the grant does not lead out.
    std::os::unix::fs::symlink(outside.join("secret.txt"), granted.join("link")).unwrap();
    assert!(ask(&mut stream, "read link").starts_with("denied: "));
    // The grant is the directory opened at start, not whatever its path
    // names later: moved away and replaced, the plugin still reads the
    // original, and never the replacement.
    let moved = granted.with_file_name("granted-moved");
    let _ = std::fs::remove_dir_all(&moved);
    std::fs::rename(&granted, &moved).unwrap();
    std::fs::create_dir(&granted).unwrap();
    std::fs::write(granted.join("planted.txt"), "planted").unwrap();
    assert_eq!(ask(&mut stream, "read notes.txt"), "allowed: 12 bytes");
    assert!(ask(&mut stream, "read planted.txt").starts_with("denied: "));
    // Only the granted address connects.
    let port = allowed.local_addr().unwrap().port();
    assert_eq!(
        ask(&mut stream, &format!("connect 127.0.0.1 {port}")),
        "allowed: connected"
    );
    allowed.accept().unwrap();
    let other_port = other.local_addr().unwrap().port();
    assert!(ask(&mut stream, &format!("connect 127.0.0.1 {other_port}")).starts_with("denied: "));
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        other.accept().is_err(),
        "the plugin reached a listener it was not granted"
    );
}
