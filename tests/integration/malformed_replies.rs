//! A plugin reply that breaks the contract never reaches the client as it
//! is: every field is checked on every path (a lone plugin, each stage of a
//! chain), the batch is answered with one `ERR plugin: ... malformed reply:
//! ...` line, counted once, and the next batch is answered normally. Uses
//! the real `malformed` test component, written without the SDK.

use std::io::Write;

use crate::harness;
use crate::harness::{read_line, ServerProcess};

/// Every broken shape the test plugin makes, with the batch that asks for
/// it (sent in one write, so it is one batch) and what the error names.
const SHAPES: [(&str, &str); 8] = [
    ("no-newline\n", "do not end with a whole line"),
    ("mid-line\nab\n", "do not end with a whole line"),
    ("few-ends\n", "0 line ends for 1 lines"),
    ("many-ends\n", "2 line ends for 1 lines"),
    ("backwards\nx\ny\n", "comes before"),
    ("past-end\n", "past the output"),
    ("bad-error\n", "an error for line 6 of 1"),
    ("unsorted-errors\nx\n", "errors out of order"),
];

fn malformed() -> String {
    harness::testing_plugin("malformed")
}

/// Sends each broken batch on one connection; after each, a normal line
/// must come back right.
fn each_shape_is_refused(server: &ServerProcess, greeted: bool, prefix: &str, ending: &str) {
    let mut stream = server.connect();
    if greeted {
        read_line(&mut stream);
    }
    for (batch, why) in SHAPES {
        let batch = batch.replace('\n', ending);
        stream.write_all(batch.as_bytes()).unwrap();
        let reply = read_line(&mut stream);
        assert!(
            reply.starts_with(&format!("ERR plugin: {prefix}malformed reply: "))
                && reply.contains(why),
            "{batch:?}: {reply:?}"
        );
        assert!(reply.ends_with('\n'), "{reply:?}");
        stream
            .write_all(format!("fine{ending}").as_bytes())
            .unwrap();
        assert_eq!(
            read_line(&mut stream),
            format!("FINE{ending}"),
            "after {batch:?}"
        );
    }
}

#[test]
fn a_lone_plugins_malformed_replies_are_refused() {
    let plugin = malformed();
    let server = ServerProcess::start(&["--plugin", &plugin, "--metrics-addr", "127.0.0.1:0"]);
    let metrics = server.metrics_addr();
    each_shape_is_refused(&server, false, "", "\n");
    let (_, body) = harness::http_get(metrics, "/metrics");
    assert!(
        body.contains(&format!(
            "yell_plugin_errors_total{{kind=\"refused\"}} {}",
            SHAPES.len()
        )),
        "counted once per batch: {body}"
    );
    assert!(body.contains("yell_plugin_line_errors_total 0"), "{body}");
}

#[test]
fn malformed_replies_to_crlf_lines_are_refused() {
    let plugin = malformed();
    let server = ServerProcess::start(&["--plugin", &plugin]);
    each_shape_is_refused(&server, false, "", "\r\n");
}

#[test]
fn every_stage_of_a_chain_is_checked() {
    let plugin = malformed();
    let probe = harness::testing_plugin("probe");
    let uppercase = harness::plugin_dir().join("uppercase.wasm");
    let uppercase = uppercase.to_str().unwrap();
    // First stage.
    let server = ServerProcess::start(&["--plugin", &plugin, "--plugin", uppercase]);
    each_shape_is_refused(&server, false, "malformed: ", "\n");
    // Last stage (the probe passes lines through unchanged and greets).
    let server = ServerProcess::start(&["--plugin", &probe, "--plugin", &plugin]);
    each_shape_is_refused(&server, true, "malformed: ", "\n");
}

#[test]
fn greetings_and_last_words_must_be_whole_lines() {
    let plugin = malformed();
    let server = ServerProcess::start(&["--plugin", &plugin, "--plugin-config", "broken=greeting"]);
    let mut stream = server.connect();
    assert_eq!(
        read_line(&mut stream),
        "ERR plugin: malformed reply: greeting without a final '\\n'\n"
    );
    stream.write_all(b"fine\n").unwrap();
    assert_eq!(read_line(&mut stream), "FINE\n");

    let server = ServerProcess::start(&["--plugin", &plugin, "--plugin-config", "broken=farewell"]);
    let mut stream = server.connect();
    stream.write_all(b"fine\n").unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let rest = String::from_utf8(harness::read_to_end(&mut stream)).unwrap();
    assert_eq!(
        rest,
        "FINE\nERR plugin: malformed reply: last words without a final '\\n'\n"
    );
}
