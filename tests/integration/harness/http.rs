//! The admin endpoint over plain HTTP/1.1, and reading its scrape.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use super::net::connect;

/// Sends `request` (a whole HTTP/1.1 request) and returns the status line,
/// the header lines and the body.
pub fn http_exchange(addr: SocketAddr, request: &str) -> (String, Vec<String>, String) {
    let mut stream = connect(addr);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let mut lines = head.lines().map(str::to_string);
    let status = lines.next().unwrap();
    (status, lines.collect(), body.to_string())
}

/// Sends a GET and returns the status line and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let (status, _headers, body) = http_exchange(
        addr,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    );
    (status, body)
}

/// The value of the sample `name` (with its labels, if any) in a
/// Prometheus scrape.
pub fn sample(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {name} in:\n{scrape}"))
        .trim()
        .parse()
        .unwrap()
}

/// Runs `promtool check metrics` on `scrape`; returns what it printed and
/// whether it passed.
pub fn promtool_check(scrape: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; `just test` installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(scrape.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (
        output.status.success() && printed.trim().is_empty(),
        printed,
    )
}
