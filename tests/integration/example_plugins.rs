//! The example plugins under plugins/, each through the server (in the
//! test's process), looked up by bare name, with their configuration.

use crate::harness;
use crate::harness::{exchange, refused, InProcessServer, ServerBuilder};

fn serve(plugin: &str, config: &[&str]) -> InProcessServer {
    let mut args = vec!["--plugin", plugin];
    for pair in config {
        args.extend_from_slice(&["--plugin-config", pair]);
    }
    ServerBuilder::from_args(&args).start()
}

#[test]
fn reverse_reverses_characters_or_bytes() {
    let server = serve("reverse", &[]);
    assert_eq!(
        exchange(&server, "hello\r\ncafé\n\n".as_bytes()),
        "olleh\r\néfac\n\n".as_bytes()
    );
    assert_eq!(exchange(&server, b"a\xffb\n"), b"b\xffa\n");
}

#[test]
fn rot13_rotates_letters_by_the_configured_shift() {
    let server = serve("rot13", &[]);
    assert_eq!(exchange(&server, b"Hello, World!\n"), b"Uryyb, Jbeyq!\n");
    let server = serve("rot13.wasm", &["shift=1"]);
    assert_eq!(exchange(&server, b"abz XYZ 09\n"), b"bca YZA 09\n");
    let stderr = refused(&["--plugin", "rot13", "--plugin-config", "shift=26"]);
    assert!(stderr.contains("26 is not between 0 and 25"), "{stderr}");
    let stderr = refused(&["--plugin", "rot13", "--plugin-config", "shift=many"]);
    assert!(
        stderr.contains("config `shift`: cannot use \"many\""),
        "{stderr}"
    );
}

#[test]
fn filter_drops_lines_with_the_word() {
    let server = serve("filter", &["word=secret"]);
    assert_eq!(
        exchange(&server, b"keep\nthe secret plan\nalso keep\r\nsecrets\n"),
        b"keep\nalso keep\r\n"
    );
    let output = harness::yell_host()
        .args(["--listen", "127.0.0.1:0", "--plugin", "filter"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("config `word` is required"));
}

#[test]
fn splitter_answers_one_line_per_word() {
    let server = serve("splitter", &[]);
    assert_eq!(
        exchange(&server, b"one two  three\r\n\n\tlone\n"),
        b"one\r\ntwo\r\nthree\r\nlone\n"
    );
}

#[test]
fn counter_numbers_lines_per_instance() {
    let server = serve("counter", &[]);
    assert_eq!(exchange(&server, b"a\r\nb\n\n"), b"1 a\r\n2 b\n3 \n");
    // One client alone is served by one instance: the count goes on.
    assert_eq!(exchange(&server, b"c\n"), b"4 c\n");
    let server = serve("counter", &["start=7", "width=3", "separator=: "]);
    assert_eq!(exchange(&server, b"x\ny\n"), b"007: x\n008: y\n");
    let stderr = refused(&["--plugin", "counter", "--plugin-config", "width=99"]);
    assert!(stderr.contains("more than 20 digits"), "{stderr}");
    let stderr = refused(&["--plugin", "counter", "--plugin-config", "start=-1"]);
    assert!(stderr.contains("config `start`"), "{stderr}");
}
