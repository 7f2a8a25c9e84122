//! Metrics plugins define (`yell:plugin/metrics`), on a real server's
//! `/metrics`: what they record is there with `# HELP` and `# TYPE`,
//! clean for `promtool`; a call cut and made again counts once; a name
//! keeps its kind across plugins and generations (another is refused at
//! load) and its series carry on over a live swap; mistakes trap one call
//! and nothing else; values a metric cannot take and series past the cap
//! record nothing, with one warning.

use std::io::Write;
use std::net::SocketAddr;

use crate::harness::{
    self, assert_mentions, custom_section, deploy_by_rename, exchange, http_get, promtool_check,
    read_line, refused, sample, testing_plugin, ServerProcess,
};

fn scrape(admin: SocketAddr) -> String {
    http_get(admin, "/metrics").1
}

#[test]
fn a_plugins_metrics_are_on_the_scrape_and_promtool_accepts_them() {
    let probe = testing_plugin("metrics-probe");
    let (server, admin) = ServerProcess::start_with_admin(&["--plugin", &probe]);
    // Only metrics imported: the cheapest calls still.
    server.wait_for_log(&["metrics-probe.wasm", "called synchronously"]);
    let replies = exchange(
        &server,
        b"count get\ncount get\ncount put\nlevel 7.5\nsize 0.5\nsize 5\nsize 50\nsize 500\n",
    );
    assert_eq!(
        String::from_utf8(replies).unwrap(),
        "counted\ncounted\ncounted\nok\nok\nok\nok\nok\n"
    );
    let scrape = scrape(admin);
    let (clean, printed) = promtool_check(&scrape);
    assert!(clean, "promtool check metrics:\n{printed}\non:\n{scrape}");
    assert_mentions(
        &scrape,
        &[
            "# HELP yell_plugin_probe_lines_total Lines the probe counted, by word.",
            "# TYPE yell_plugin_probe_lines_total counter",
            "# TYPE yell_plugin_probe_level gauge",
            "# TYPE yell_plugin_probe_size histogram",
        ],
    );
    let at = |name: &str| sample(&scrape, name);
    assert_eq!(
        at(r#"yell_plugin_probe_lines_total{plugin="metrics-probe",word="get"}"#),
        2.0
    );
    assert_eq!(
        at(r#"yell_plugin_probe_lines_total{plugin="metrics-probe",word="put"}"#),
        1.0
    );
    assert_eq!(
        at(r#"yell_plugin_probe_level{plugin="metrics-probe"}"#),
        7.5
    );
    for (bound, count) in [("1", 1.0), ("10", 2.0), ("100", 3.0), ("+Inf", 4.0)] {
        assert_eq!(
            at(&format!(
                r#"yell_plugin_probe_size_bucket{{plugin="metrics-probe",le="{bound}"}}"#
            )),
            count,
            "le={bound}"
        );
    }
    assert_eq!(
        at(r#"yell_plugin_probe_size_sum{plugin="metrics-probe"}"#),
        555.5
    );
    assert_eq!(
        at(r#"yell_plugin_probe_size_count{plugin="metrics-probe"}"#),
        4.0
    );
}

#[test]
fn a_call_cut_and_made_again_counts_once() {
    let probe = testing_plugin("metrics-probe");
    let (server, admin) =
        ServerProcess::start_with_admin(&["--plugin", &probe, "--plugin-timeout", "5s"]);
    // Each call runs ~11 ms, past its inline slice: it is cut, and made
    // again from the start in the slow lane. Its first records are dropped
    // with it.
    let mut input = Vec::new();
    for _ in 0..5 {
        input.extend_from_slice(b"spin 40000000 slow\n");
    }
    // More recordings in one call than are held: made again the way that
    // records as it goes.
    input.extend_from_slice(b"many 20000\n");
    let replies = String::from_utf8(exchange(&server, &input)).unwrap();
    assert_eq!(replies, "spun\n".repeat(5) + "counted 20000\n");
    let scrape = scrape(admin);
    assert!(
        sample(&scrape, "yell_plugin_calls_moved_total") >= 1.0,
        "no call was cut: the test proves nothing\n{scrape}"
    );
    assert_eq!(
        sample(
            &scrape,
            r#"yell_plugin_probe_lines_total{plugin="metrics-probe",word="slow"}"#
        ),
        5.0
    );
    assert_eq!(
        sample(
            &scrape,
            r#"yell_plugin_probe_lines_total{plugin="metrics-probe",word="many"}"#
        ),
        20000.0
    );
}

#[test]
fn a_name_keeps_its_kind_across_plugins_and_its_series_across_a_swap() {
    let dir = harness::scratch("plugin-metrics", "kinds");
    let bytes = std::fs::read(testing_plugin("metrics-probe")).unwrap();
    // Two plugins of a chain defining one name as two kinds: the second is
    // refused at load, saying why.
    let other = dir.join("other-probe.wasm");
    std::fs::write(&other, &bytes).unwrap();
    let why = refused(&[
        "--plugin",
        &testing_plugin("metrics-probe"),
        "--plugin",
        other.to_str().unwrap(),
        "--plugin-config",
        "other-probe:lines_kind=gauge",
    ]);
    assert_mentions(
        &why,
        &[
            "other-probe.wasm: cannot start it",
            "probe_lines",
            "already defined as a counter with labels [word], here as a gauge",
        ],
    );

    let live = dir.join("metrics-probe.wasm");
    std::fs::write(&live, &bytes).unwrap();
    let (server, admin) = ServerProcess::start_with_admin(&["--plugin", live.to_str().unwrap()]);
    let mut stream = server.connect();
    stream.write_all(b"count a\ncount a\n").unwrap();
    assert_eq!(read_line(&mut stream), "counted\n");
    assert_eq!(read_line(&mut stream), "counted\n");
    // Another build, the same metric: its series carries on.
    let mut rebuilt = bytes.clone();
    rebuilt.extend_from_slice(&custom_section("build", b"2"));
    deploy_by_rename(&live, &rebuilt);
    server.wait_for_log(&["plugin generation 2 serving"]);
    stream.write_all(b"count a\n").unwrap();
    assert_eq!(read_line(&mut stream), "counted\n");
    let series = r#"yell_plugin_probe_lines_total{plugin="metrics-probe",word="a"}"#;
    assert_eq!(sample(&scrape(admin), series), 3.0);
}

#[test]
fn mistakes_trap_one_call_and_unrecordable_values_warn_once() {
    let probe = testing_plugin("metrics-probe");
    let (server, admin) =
        ServerProcess::start_with_admin(&["--plugin", &probe, "--plugin-metric-series", "3"]);
    // One line at a time: a trap fails its whole call (batch).
    let mut stream = server.connect();
    let mut ask = |line: &str| {
        stream.write_all(format!("{line}\n").as_bytes()).unwrap();
        read_line(&mut stream)
    };
    let trapped = ask("labels");
    assert!(
        trapped.starts_with("ERR plugin: trapped")
            && trapped.contains("has 1 labels (word), recorded with 0 values"),
        "{trapped}"
    );
    for (line, reply) in [
        ("count ok", "counted\n"),
        ("negative", "ok\n"),
        ("negative", "ok\n"),
        ("series 10", "counted 10\n"),
        ("series 10", "counted 10\n"),
    ] {
        assert_eq!(ask(line), reply, "{line}");
    }
    let refused = ask("define Bad counter");
    assert!(
        refused.contains("a name is [a-z][a-z0-9_]*"),
        "a refused definition traps, saying why: {refused}"
    );
    assert_eq!(ask("count ok"), "counted\n");
    let scrape = scrape(admin);
    let (clean, printed) = promtool_check(&scrape);
    assert!(clean, "promtool check metrics:\n{printed}\non:\n{scrape}");
    let series = scrape
        .lines()
        .filter(|line| line.starts_with("yell_plugin_probe_lines_total{"))
        .count();
    // `ok` and two of `series`: the cap is three.
    assert_eq!(series, 3, "{scrape}");
    assert_eq!(
        sample(
            &scrape,
            r#"yell_plugin_probe_lines_total{plugin="metrics-probe",word="ok"}"#
        ),
        2.0
    );
    assert!(!scrape.contains("word=\"negative\""), "{scrape}");
    let log = server.drain_log().join("\n");
    for warning in [
        "a counter added a negative or non-finite amount",
        "more series than --plugin-metric-series allows",
    ] {
        assert_eq!(log.matches(warning).count(), 1, "{warning} once in:\n{log}");
    }
}
