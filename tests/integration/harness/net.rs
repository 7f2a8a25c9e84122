//! Talking bytes to a server over TCP, never waiting forever.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

/// Longest any single step of a test may wait on the server.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// A server the tests can connect to: a process or one in this process.
pub trait Endpoint {
    /// Where its clients connect.
    fn addr(&self) -> SocketAddr;
}

/// Connects with read and write timeouts, so a test never hangs.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(STEP_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(STEP_TIMEOUT)).unwrap();
    stream
}

/// Reads one line, up to and with its '\n'.
pub fn read_line(stream: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") {
        match stream.read(&mut byte) {
            Ok(1) => line.push(byte[0]),
            Ok(_) => break,
            Err(error) => panic!(
                "reading a line: {error} (got {:?} so far)",
                String::from_utf8_lossy(&line)
            ),
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// Sends `input`, closes the sending side, and reads everything the server
/// sends until it closes.
pub fn exchange(server: &impl Endpoint, input: &[u8]) -> Vec<u8> {
    let mut stream = connect(server.addr());
    stream.write_all(input).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    read_to_end(&mut stream)
}

/// Everything the server sends until it closes.
pub fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    stream
        .read_to_end(&mut out)
        .expect("read until the server closes");
    out
}

/// Reads exactly `len` bytes.
pub fn read_exact(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    stream.read_exact(&mut out).expect("read reply");
    out
}

/// Lines a plugin and its host must get exactly right: CRLF and lone CR,
/// empty lines, bytes that are not UTF-8 and a NUL, a long line, many
/// lines at once, and a last line without its `\n`.
pub fn tricky_lines() -> Vec<u8> {
    let mut input = Vec::new();
    for line in [
        &b"plain"[..],
        b"windows\r",
        b"",
        b"\r",
        b"  spaces  \t",
        b"caf\xc3\xa9 \xff\xfe not utf-8 \x00 nul",
        b"a\rb",
        b"inner\rcarriage return",
        b"mIxEd 123 !?",
    ] {
        input.extend_from_slice(line);
        input.push(b'\n');
    }
    input.extend_from_slice(&vec![b'y'; 60_000]);
    input.push(b'\n');
    for i in 0..5_000 {
        input.extend_from_slice(format!("line {i}\n").as_bytes());
    }
    input.extend_from_slice(b"unterminated last");
    input
}
