//! `yell-host test`: a plugin checked as the server will run it, from
//! outside, with real components: conformance input, fixtures compared
//! byte for byte (greeting and last words included), a diff when one
//! differs, exit codes, JSON and JUnit reports, and the server's own
//! refusal for a component it would not load.

use std::path::Path;
use std::process::Output;

use crate::harness::{self, assert_mentions, plugin_dir, testing_plugin, yell_host};

fn test(args: &[&str]) -> Output {
    yell_host().arg("test").args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_plugin_that_keeps_the_contract_passes_conformance() {
    for plugin in ["uppercase", "splitter", "filter"] {
        let config: &[&str] = match plugin {
            "filter" => &["--plugin-config", "word=many"],
            _ => &[],
        };
        let output = test(&[&[plugin][..], config].concat());
        let stdout = text(&output.stdout);
        assert!(
            output.status.success(),
            "{plugin}: {stdout}{}",
            text(&output.stderr)
        );
        assert_mentions(
            &stdout,
            &[
                "conformance a last line without a line ending ... ok",
                "conformance CRLF line endings ... ok",
                "conformance bytes that are not UTF-8 ... ok",
                "conformance a line at the maximum length ... ok",
                "conformance many lines in one batch ... ok",
                "6 passed, 0 failed",
            ],
        );
    }
}

#[test]
fn a_plugin_that_breaks_the_contract_fails_with_the_reason() {
    let malformed = testing_plugin("malformed");
    let output = test(&[&malformed, "--plugin-config", "broken=greeting"]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert_mentions(&stdout, &["FAILED", "greeting: "]);
    // A core module: refused as the server refuses it, with its message.
    let dir = harness::scratch("plugin_test", "core-module");
    let core = dir.join("core.wasm");
    std::fs::write(&core, wat::parse_str("(module)").unwrap()).unwrap();
    let served = harness::refused(&["--plugin", core.to_str().unwrap()]);
    let output = test(&[core.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert_mentions(&stdout, &["load the component loads ... FAILED"]);
    let reason = served
        .lines()
        .find_map(|line| {
            line.split_once("core.wasm: ")
                .filter(|_| line.contains("error"))
        })
        .unwrap_or_else(|| panic!("the server said: {served}"))
        .1;
    assert!(stdout.contains(reason), "{reason:?} not in {stdout}");
}

/// A fixture folder for the probe: greeting and last words, its
/// configuration and the client address it sees.
fn probe_fixtures(dir: &Path) {
    std::fs::write(dir.join("greeting.in"), "hi\r\npeer\nlast").unwrap();
    std::fs::write(
        dir.join("greeting.out"),
        // The last line had no line ending, so neither has its reply.
        "welcome 1000\n>> hi\r\n10.1.2.3:5555 -> 127.0.0.1:1234\n>> lastbye 1000 after 3 lines\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("greeting.config"),
        "# what the operator passes\nprefix=>> \n",
    )
    .unwrap();
    std::fs::write(dir.join("greeting.peer"), "10.1.2.3:5555\n").unwrap();
    std::fs::write(dir.join("shout.in"), "abc\n").unwrap();
    std::fs::write(
        dir.join("shout.out"),
        "welcome 1000\nabc\nbye 1000 after 1 lines\n",
    )
    .unwrap();
}

#[test]
fn fixtures_pass_byte_for_byte_and_a_difference_fails_with_a_diff() {
    let dir = harness::scratch("plugin_test", "fixtures");
    probe_fixtures(&dir);
    let probe = testing_plugin("probe");
    let fixtures = dir.to_str().unwrap();
    let output = test(&[&probe, "--fixtures", fixtures]);
    let stdout = text(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", text(&output.stderr));
    assert_mentions(
        &stdout,
        &[
            "fixture greeting ... ok",
            "fixture shout ... ok",
            "8 passed",
        ],
    );

    // The expected output changed: exit 1, and the diff shows the line.
    std::fs::write(
        dir.join("shout.out"),
        "welcome 1000\nABC\nbye 1000 after 1 lines\n",
    )
    .unwrap();
    let output = test(&[&probe, "--fixtures", fixtures]);
    let stdout = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert_mentions(
        &stdout,
        &[
            "fixture shout ... FAILED",
            "- ABC\\n",
            "+ abc\\n",
            "fixture greeting ... ok",
        ],
    );
    assert!(text(&output.stderr).contains("1 of 8 checks failed"));
}

#[test]
fn reports_come_as_json_and_junit() {
    let dir = harness::scratch("plugin_test", "reports");
    std::fs::write(dir.join("one.in"), "a\n").unwrap();
    std::fs::write(dir.join("one.out"), "wrong\n").unwrap();
    std::fs::write(dir.join("raw.in"), "ab\ncd").unwrap();
    std::fs::write(dir.join("raw.out"), "AB\nCD").unwrap();
    std::fs::write(dir.join("raw.framing"), "raw\n").unwrap();
    let junit = dir.join("report.xml");
    let uppercase = plugin_dir().join("uppercase.wasm");
    let output = test(&[
        uppercase.to_str().unwrap(),
        "--fixtures",
        dir.to_str().unwrap(),
        "--json",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(report["passed"], false);
    assert_eq!(report["failed"], 1);
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    let one = cases.iter().find(|case| case["name"] == "one").unwrap();
    assert_eq!(one["passed"], false);
    assert!(one["detail"].as_str().unwrap().contains("+ A\\n"), "{one}");
    let raw = cases.iter().find(|case| case["name"] == "raw").unwrap();
    assert_eq!(raw["passed"], true, "{raw}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert_mentions(
        &xml,
        &[
            "<testsuites",
            "<testsuite name=\"conformance\"",
            "<failure",
            "name=\"one\"",
        ],
    );
}

#[test]
fn bad_fixtures_are_named() {
    let dir = harness::scratch("plugin_test", "bad");
    std::fs::write(dir.join("lonely.in"), "a\n").unwrap();
    std::fs::write(dir.join("peer.in"), "a\n").unwrap();
    std::fs::write(dir.join("peer.out"), "A\n").unwrap();
    std::fs::write(dir.join("peer.peer"), "not an address").unwrap();
    let output = test(&["uppercase", "--fixtures", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = text(&output.stdout);
    assert_mentions(&stdout, &["lonely.out", "peer.peer: not IP:PORT"]);
    let empty = harness::scratch("plugin_test", "empty");
    let output = test(&["uppercase", "--fixtures", empty.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    assert_mentions(&text(&output.stderr), &["no NAME.in files"]);
}
