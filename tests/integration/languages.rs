//! One contract, every language: the uppercase plugin written in Rust,
//! Python, JavaScript and C, each put through the same list (framing over
//! TCP, line endings, empty lines, an unterminated last line, pipelining,
//! configuration, errors, greetings) and through `pipe`, and each must
//! answer byte for byte as the Rust one does.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use crate::harness;
use crate::harness::{read_line, tricky_lines, ServerProcess};

/// The uppercase plugin of every language.
const UPPERCASE: [&str; 4] = ["uppercase", "uppercase-py", "uppercase-js", "uppercase-c"];

/// Everything the contract asks of `plugin`, over TCP and through `pipe`.
fn keeps_the_contract(plugin: &str) {
    harness::compiled_once(&UPPERCASE.map(|plugin| ["--plugin", plugin]));
    let input = tricky_lines();
    let expected = harness::pipe(&["--plugin", "uppercase"], &input).stdout;

    // pipe: byte for byte as Rust, and exit 0.
    let piped = harness::pipe(&["--plugin", plugin], &input);
    assert!(
        piped.status.success(),
        "{plugin}: {}",
        String::from_utf8_lossy(&piped.stderr)
    );
    assert!(piped.stdout == expected, "{plugin}: pipe differs from Rust");

    let server = ServerProcess::start(&["--plugin", plugin, "--max-line-length", "64KiB"]);
    // The same bytes over TCP, written in one go (pipelined) and read back.
    let mut stream = server.connect();
    let writer = {
        let mut stream = stream.try_clone().unwrap();
        let input = input.clone();
        std::thread::spawn(move || {
            stream.write_all(&input).unwrap();
            stream.shutdown(Shutdown::Write).unwrap();
        })
    };
    let mut answered = Vec::new();
    stream.read_to_end(&mut answered).unwrap();
    writer.join().unwrap();
    assert!(
        answered == expected,
        "{plugin}: TCP answer differs from Rust"
    );

    // No greeting: a client that says nothing hears nothing, and at its
    // end of input, no last words either.
    let mut quiet = server.connect();
    quiet
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(quiet.read(&mut byte).is_err(), "{plugin}: greeted");
    quiet.shutdown(Shutdown::Write).unwrap();
    quiet
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(quiet.read(&mut byte).unwrap(), 0, "{plugin}: last words");

    // A line cut anywhere between writes is framed as one line; endings
    // come back as they were sent.
    let mut split = server.connect();
    for part in [&b"hel"[..], b"lo\r", b"\nwor", b"ld\n", b"\n", b"\r\n"] {
        split.write_all(part).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    for expected in ["HELLO\r\n", "WORLD\n", "\n", "\r\n"] {
        assert_eq!(read_line(&mut split), expected, "{plugin}");
    }
    // A line over the limit: the client is told, the connection closed.
    split.write_all(&vec![b'x'; 70_000]).unwrap();
    split.write_all(b"\n").unwrap();
    let error = read_line(&mut split);
    assert!(error.starts_with("ERR line too long"), "{plugin}: {error}");
    // Other clients are served as before.
    let mut after = server.connect();
    after.write_all(b"still here\n").unwrap();
    assert_eq!(read_line(&mut after), "STILL HERE\n", "{plugin}");

    // Configuration it does not know is refused at start, naming the key.
    let refused = harness::yell_host()
        .args(["--listen", "127.0.0.1:0", "--plugin", plugin])
        .args(["--plugin-config", "shout=yes"])
        .env("YELL_COMPILE_CACHE", harness::compile_cache())
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1), "{plugin}");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("the plugin refused its configuration: unknown config key `shout`"),
        "{plugin}: {stderr}"
    );
}

#[test]
fn the_rust_uppercase_keeps_the_contract() {
    keeps_the_contract("uppercase");
}

#[test]
fn the_python_uppercase_keeps_the_contract() {
    keeps_the_contract("uppercase-py");
}

#[test]
fn the_c_uppercase_keeps_the_contract() {
    keeps_the_contract("uppercase-c");
}

#[test]
fn the_javascript_uppercase_keeps_the_contract() {
    keeps_the_contract("uppercase-js");
}
