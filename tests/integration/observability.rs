//! What the server tells about itself: the Prometheus endpoint with exact
//! counters after known traffic, JSON logs, the periodic stats line, and the
//! shutdown summary.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::harness;
use crate::harness::{exchange, http_get, read_line, sample, ServerBuilder, ServerProcess};

/// Starts a server with metrics on a free port; returns it and the metrics
/// address.
fn start_with_metrics(extra: &[&str]) -> (ServerProcess, SocketAddr) {
    let mut args = vec!["--metrics-addr", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    let server = ServerProcess::start(&args);
    let addr = server.metrics_addr();
    (server, addr)
}

/// Scrapes until `done` holds for the scrape (the server's bookkeeping of a
/// closed connection may trail the client's view by a moment).
fn scrape_until(addr: SocketAddr, done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = http_get(addr, "/metrics");
        assert_eq!(status, "HTTP/1.1 200 OK");
        if done(&body) || Instant::now() > deadline {
            return body;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn metrics_count_exactly_what_was_sent() {
    let (server, metrics) = start_with_metrics(&[]);
    for _ in 0..3 {
        assert_eq!(exchange(&server, b"a\nbb\nccc\n"), b"A\nBB\nCCC\n");
    }
    let scrape = scrape_until(metrics, |s| sample(s, "yell_connections_active") == 0.0);
    assert_eq!(sample(&scrape, "yell_connections_total"), 3.0);
    assert_eq!(sample(&scrape, "yell_connections_active"), 0.0);
    assert_eq!(sample(&scrape, "yell_connections_refused_total"), 0.0);
    assert_eq!(sample(&scrape, "yell_lines_in_total"), 9.0);
    assert_eq!(sample(&scrape, "yell_lines_out_total"), 9.0);
    assert_eq!(sample(&scrape, "yell_bytes_in_total"), 27.0);
    assert_eq!(sample(&scrape, "yell_bytes_out_total"), 27.0);
    assert_eq!(
        sample(&scrape, "yell_plugin_errors_total{kind=\"trap\"}"),
        0.0
    );
    assert_eq!(sample(&scrape, "yell_plugin_generation"), 1.0);
    assert!(sample(&scrape, "yell_plugin_instances_pooled") >= 1.0);
    // Each connection: a greeting call, 1 to 3 batch calls, a last-words call.
    let calls = sample(
        &scrape,
        "yell_plugin_call_duration_seconds_count{plugin=\"uppercase\"}",
    );
    assert!(
        (9.0..=15.0).contains(&calls),
        "{calls} calls for 3 connections of 3 lines"
    );
    assert_eq!(
        sample(&scrape, "yell_plugin_calls_total{plugin=\"uppercase\"}"),
        calls
    );
    assert_eq!(
        sample(&scrape, "yell_plugin_lines_total{plugin=\"uppercase\"}"),
        9.0
    );
    assert_eq!(
        sample(
            &scrape,
            "yell_plugin_call_duration_seconds_bucket{plugin=\"uppercase\",le=\"+Inf\"}"
        ),
        calls
    );
    assert!(scrape.contains("# TYPE yell_plugin_call_duration_seconds histogram"));

    assert_eq!(
        http_get(metrics, "/healthz"),
        ("HTTP/1.1 200 OK".into(), "ok\n".into())
    );
    assert_eq!(http_get(metrics, "/nothing").0, "HTTP/1.1 404 Not Found");
}

#[test]
fn an_in_process_server_serves_its_metrics_on_its_admin_address() {
    let server = ServerBuilder::from_args(&["--metrics-addr", "127.0.0.1:0"]).start();
    let admin = server.admin_addr.expect("an admin endpoint");
    assert_eq!(exchange(&server, b"a\nb\n"), b"A\nB\n");
    let scrape = scrape_until(admin, |scrape| scrape.contains("yell_lines_in_total 2"));
    assert_eq!(sample(&scrape, "yell_connections_total"), 1.0);
}

#[test]
fn plugin_failures_are_counted_by_kind() {
    let hostile = harness::testing_plugin("hostile");
    let (server, metrics) = start_with_metrics(&["--plugin", &hostile]);
    let mut stream = server.connect();
    for line in ["spin", "panic", "panic", "fine"] {
        stream.write_all(format!("{line}\n").as_bytes()).unwrap();
        read_line(&mut stream);
    }
    let scrape = http_get(metrics, "/metrics").1;
    assert_eq!(
        sample(&scrape, "yell_plugin_errors_total{kind=\"deadline\"}"),
        1.0
    );
    assert_eq!(
        sample(&scrape, "yell_plugin_errors_total{kind=\"trap\"}"),
        2.0
    );
    assert_eq!(sample(&scrape, "yell_lines_in_total"), 4.0);
}

#[test]
fn json_logs_are_one_object_per_line_with_the_plugin_named() {
    let probe = harness::testing_plugin("probe");
    let server = ServerProcess::start_logging(
        &[
            "--plugin",
            &probe,
            "--log-format",
            "json",
            "--log-level",
            "debug",
        ],
        "warn", // --log-level wins over RUST_LOG
    );
    let mut stream = server.connect();
    read_line(&mut stream); // the probe's greeting
    stream.write_all(b"log from the plugin\n").unwrap();
    assert_eq!(read_line(&mut stream), "logged\n");

    let opened = server.wait_for_log(&["connection opened"]);
    let opened: serde_json::Value = serde_json::from_str(&opened).expect("a JSON log line");
    assert_eq!(opened["level"], "DEBUG");
    assert_eq!(opened["fields"]["message"], "connection opened");
    assert!(opened["fields"]["connection"].is_u64(), "{opened}");

    let logged = server.wait_for_log(&["from the plugin"]);
    let logged: serde_json::Value = serde_json::from_str(&logged).expect("a JSON log line");
    assert_eq!(logged["level"], "INFO");
    assert_eq!(logged["fields"]["plugin"], "probe");
    assert_eq!(logged["fields"]["message"], "from the plugin");
}

#[test]
fn a_stats_line_is_logged_periodically_under_traffic() {
    let server = ServerProcess::start_logging(&["--stats-interval", "200ms"], "info");
    let mut stream = server.connect();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(700) {
        stream.write_all(b"tick\n").unwrap();
        assert_eq!(read_line(&mut stream), "TICK\n");
    }
    let line = server.wait_for_log(&["stats", "lines_per_second=", "connections_active=1"]);
    assert!(line.contains("plugin_call_p99="), "{line}");
}

#[test]
fn the_shutdown_summary_has_the_counts_and_timings() {
    let server = ServerProcess::start(&[]);
    assert_eq!(exchange(&server, b"one\ntwo\n"), b"ONE\nTWO\n");
    let mut stream = TcpStream::connect(server.addr).unwrap();
    stream.write_all(b"three\n").unwrap();
    assert_eq!(read_line(&mut stream), "THREE\n");
    drop(stream);
    let (status, summary) = server.terminate();
    assert!(status.success());
    for expected in [
        "Connections: 2 (0 refused past the limit)",
        "Lines: 3\n",
        "Lines out: 3\n",
        "Bytes in: 14\n",
        "Bytes out: 14\n",
        "Plugin failures: 0 (deadline 0, trap 0, reply_too_large 0, start 0, refused 0, overloaded 0)",
        "Other errors: 0 lines refused by the plugin, 0 lines too long, 0 idle timeouts, 0 log lines dropped",
        "Plugin time per line: p50 ",
        "Plugin generations served: 1",
    ] {
        assert!(
            summary.contains(expected),
            "{expected:?} not in:\n{summary}"
        );
    }
}
