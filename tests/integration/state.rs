//! Plugin state (`wasi:keyvalue`) end to end: the state-probe test plugin
//! drives every call of `store`, `atomics` and `batch` over TCP against
//! each backend, with the same answers expected from each; grants, limits
//! and quotas; the embedded store's durability through `kill -9`; its lock
//! against a second process, and the upgrade that waits for it; and the
//! count going on across a live swap.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use crate::harness::{self, assert_mentions, read_line, refused, RedisServer, ServerProcess};

/// Sends `command`, returns the one reply line (without its `\n`).
fn ask(stream: &mut TcpStream, command: &str) -> String {
    stream.write_all(format!("{command}\n").as_bytes()).unwrap();
    read_line(stream).trim_end_matches('\n').to_string()
}

fn probe_server(keyvalue: &str, extra: &[&str]) -> ServerProcess {
    let probe = harness::testing_plugin("state-probe");
    let mut args = vec![
        "--plugin",
        probe.as_str(),
        "--keyvalue",
        keyvalue,
        "--plugin-bucket",
        "b",
    ];
    args.extend_from_slice(extra);
    ServerProcess::start(&args)
}

/// A conversation with the state-probe plugin.
struct Script<'a> {
    stream: TcpStream,
    backend: &'a str,
}

impl Script<'_> {
    fn ask(&mut self, command: &str) -> String {
        ask(&mut self.stream, command)
    }

    fn check(&mut self, command: &str, want: &str) {
        let got = self.ask(command);
        assert_eq!(got, want, "{}: {command}", self.backend);
    }
}

/// The same script, the same answers, whatever the backend.
fn every_call_on(keyvalue: &str) {
    let server = probe_server(
        keyvalue,
        &[
            "--keyvalue-max-value",
            "64",
            "--keyvalue-quota",
            "1600:1MiB",
            "--plugin-bucket",
            "other",
        ],
    );
    let mut script = Script {
        stream: server.connect(),
        backend: keyvalue,
    };
    // store
    script.check("get b k", "none");
    script.check("set b k v1", "ok");
    script.check("get b k", "v1");
    script.check("exists b k", "true");
    script.check("set b k v2", "ok");
    script.check("get b k", "v2");
    script.check("del b k", "ok");
    script.check("exists b k", "false");
    script.check("del b k", "ok");
    // buckets are apart
    script.check("set other k elsewhere", "ok");
    script.check("get b k", "none");
    // atomics: counters are decimal text, whatever the backend
    script.check("incr b n 5", "5");
    script.check("incr b n -2", "3");
    script.check("get b n", "3");
    script.check("set b word abc", "ok");
    script.check(
        "incr b word 1",
        "error: b/word is not a counter: its value is not a decimal integer",
    );
    script.check("cas b c - first", "swapped");
    script.check("cas b c - again", "failed, now first");
    script.check("cas b c first second", "swapped");
    script.check("get b c", "second");
    script.check("add b a 4", "4");
    script.check("add b a 3", "7");
    // batch
    script.check("setmany b x=1,y=2", "ok");
    script.check("getmany b x,y,z", "x=1,y=2,z=none");
    script.check("delmany b x,y", "ok");
    script.check("getmany b x,y", "x=none,y=none");
    // list-keys, a page at a time: a, c, k0000..k1499, n, word
    for chunk in 0..15 {
        let pairs: Vec<String> = (0..100)
            .map(|i| format!("k{:04}=v", chunk * 100 + i))
            .collect();
        script.check(&format!("setmany b {}", pairs.join(",")), "ok");
    }
    script.check("page b", "1000 keys, next k0997");
    script.check("page b k0997", "504 keys, next end");
    let all = script.ask("keys b");
    assert_eq!(all.split(',').count(), 1504, "{keyvalue}");
    assert!(
        all.starts_with("a,c,k0000,k0001,"),
        "{keyvalue}: {}",
        &all[..40]
    );
    assert!(all.ends_with(",k1499,n,word"), "{keyvalue}");
    // limits: each refused with why, and nothing else lost
    let long_key = "x".repeat(1025);
    script.check(
        &format!("set b {long_key} v"),
        "error: a key of 1025 bytes is longer than the 1024 allowed (--keyvalue-max-key)",
    );
    script.check(
        &format!("set b k {}", "v".repeat(65)),
        "error: a value of 65 bytes is longer than the 64 allowed (--keyvalue-max-value)",
    );
    // The quota is 1600 keys: 1504 are there, 100 more do not fit, and
    // none of them is written.
    let pairs: Vec<String> = (0..100).map(|i| format!("q{i:03}=v")).collect();
    script.check(
        &format!("setmany b {}", pairs.join(",")),
        "error: bucket b is full: at most 1600 keys (--keyvalue-quota)",
    );
    script.check("exists b q000", "false");
    script.check("set b q000 v", "ok");
    // Not granted.
    script.check(
        "open secret",
        "error: bucket secret: access denied (the operator grants buckets with --plugin-bucket)",
    );
    script.check("get b c", "second");
    // Expiry: a key is gone for every call once its time is up, and out of
    // the listing; a set makes a key last again; 0 expires at once.
    script.check("ttl other short 300 soon gone", "ok");
    script.check("get other short", "soon gone");
    script.check("set other stays v", "ok");
    script.check("expire other stays 60000", "true");
    script.check("expire other missing 100", "false");
    script.check("ttl other relasting 300 x", "ok");
    script.check("set other relasting y", "ok");
    std::thread::sleep(Duration::from_millis(700));
    script.check("get other short", "none");
    script.check("exists other short", "false");
    script.check("get other relasting", "y");
    script.check("get other stays", "v");
    script.check("keys other", "k,relasting,stays");
    script.check("expire other stays 0", "true");
    script.check("get other stays", "none");
    script.check("keys other", "k,relasting");
}

#[test]
fn every_store_call_answers_the_same_in_memory_in_the_embedded_store_and_in_redis() {
    every_call_on("memory:");
    let dir = harness::scratch("state", "every-call");
    every_call_on(dir.join("state.redb").to_str().unwrap());
    let redis = RedisServer::start(dir);
    every_call_on(&redis.url());
}

/// For the tests that count exactly: a state call and a plugin call may
/// take far longer than their defaults (200 ms, 1 s) before they fail. A
/// commit or a contended compare-and-swap on a loaded CI machine is slow,
/// not wrong; the tests of timeouts keep the defaults.
/// Room for the tests that count exactly: on a loaded machine a state
/// call may wait long, and a compare-and-swap under contention may retry
/// for long (its retries run host code, unoptimized in these builds).
const PATIENT: [&str; 6] = [
    "--keyvalue-timeout",
    "10s",
    "--plugin-timeout",
    "10s",
    "--plugin-wall-timeout",
    "60s",
];

fn tally_server(file: &Path) -> ServerProcess {
    let mut args = vec![
        "--plugin",
        "tally",
        "--keyvalue",
        file.to_str().unwrap(),
        "--plugin-bucket",
        "tally",
    ];
    args.extend_from_slice(&PATIENT);
    ServerProcess::start(&args)
}

/// `count` COUNT lines on each of `clients` connections at once, spread
/// over `servers` in turn, all sent before any reply is read: the replies,
/// as numbers.
fn count_in_parallel(servers: &[&ServerProcess], clients: usize, count: usize) -> Vec<i64> {
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let mut stream = servers[client % servers.len()].connect();
            std::thread::spawn(move || {
                let lines = "COUNT\n".repeat(count);
                stream.write_all(lines.as_bytes()).unwrap();
                let mut reader = BufReader::new(stream);
                (0..count)
                    .map(|_| {
                        let mut line = String::new();
                        reader.read_line(&mut line).unwrap();
                        line.trim_end()
                            .parse::<i64>()
                            .unwrap_or_else(|_| panic!("not a total: {line:?}"))
                    })
                    .collect::<Vec<i64>>()
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect()
}

/// `connections` connections, spread over `servers` in turn, each sending
/// `command` `times` times, all at once (each waiting for its answer, a
/// number, as a client reading what it wrote does): with an `add`
/// command, read-modify-writes of one key through compare-and-swap
/// retries.
fn add_in_parallel(servers: &[&ServerProcess], connections: usize, times: usize, command: &str) {
    let threads: Vec<_> = (0..connections)
        .map(|i| {
            let mut stream = servers[i % servers.len()].connect();
            let command = command.to_string();
            std::thread::spawn(move || {
                for _ in 0..times {
                    let answer = ask(&mut stream, &command);
                    assert!(answer.parse::<i64>().is_ok(), "{answer:?}");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
fn every_acknowledged_increment_of_the_embedded_store_survives_kill_9() {
    let dir = harness::scratch("state", "kill-9");
    let file = dir.join("state.redb");
    let server = tally_server(&file);
    let mut totals = count_in_parallel(&[&server], 16, 625);
    // Every total from 1 to 10,000 was answered exactly once.
    totals.sort_unstable();
    assert_eq!(totals, (1..=10_000).collect::<Vec<i64>>());
    let (status, _) = server.stop_with(libc::SIGKILL);
    assert!(!status.success());

    let server = tally_server(&file);
    let mut stream = server.connect();
    assert_eq!(ask(&mut stream, "TOTAL"), "10000");
    // Killed with increments in flight: what was acknowledged is there;
    // what was not may be or not, never more than was sent.
    let mut in_flight = server.connect();
    in_flight
        .write_all("COUNT\n".repeat(3000).as_bytes())
        .unwrap();
    let mut reader = BufReader::new(in_flight.try_clone().unwrap());
    let mut acknowledged = 0;
    for _ in 0..1000 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        acknowledged = line.trim_end().parse::<i64>().unwrap();
    }
    let (status, _) = server.stop_with(libc::SIGKILL);
    assert!(!status.success());
    let server = tally_server(&file);
    let total: i64 = ask(&mut server.connect(), "TOTAL").parse().unwrap();
    assert!(
        (acknowledged..=13_000).contains(&total),
        "acknowledged {acknowledged}, total {total}"
    );
}

#[test]
fn a_second_process_waits_for_the_embedded_store_and_an_upgrade_takes_it_over() {
    let dir = harness::scratch("state", "lock");
    let file = dir.join("state.redb");
    let old = tally_server(&file);
    assert_eq!(ask(&mut old.connect(), "COUNT"), "1");
    // Another server on the same file gives up after its drain timeout.
    let message = refused(&[
        "--plugin",
        "tally",
        "--keyvalue",
        file.to_str().unwrap(),
        "--plugin-bucket",
        "tally",
        "--drain-timeout",
        "1s",
    ]);
    assert_mentions(&message, &["is in use by another process", "redis://"]);

    // An upgrade: the new process starts while the old one serves, and
    // opens the store once the old one has let go.
    let mut new = harness::yell_host();
    new.args([
        "--listen",
        "127.0.0.1:0",
        "--plugin",
        "tally",
        "--plugin-bucket",
        "tally",
    ])
    .args([
        "--keyvalue",
        file.to_str().unwrap(),
        "--drain-timeout",
        "20s",
    ])
    .env("NO_COLOR", "1")
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::null());
    let mut new = new.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let (status, _) = old.terminate();
    assert!(status.success());
    let mut stdout = BufReader::new(new.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let addr = first
        .strip_prefix("yell-host listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("unexpected first line: {first}"))
        .to_string();
    let mut stream = harness::connect(addr.parse().unwrap());
    assert_eq!(ask(&mut stream, "COUNT"), "2");
    let _ = new.kill();
    let _ = new.wait();
}

#[test]
fn the_count_goes_on_across_a_live_swap_and_a_plugin_without_state_stays_synchronous() {
    let dir = harness::scratch("state", "swap");
    let live = dir.join("tally.wasm");
    std::fs::write(&live, harness::plugin_bytes("tally")).unwrap();
    let server = ServerProcess::start_logging(
        &[
            "--plugin",
            live.to_str().unwrap(),
            "--keyvalue",
            "memory:",
            "--plugin-bucket",
            "tally",
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        "info",
    );
    server.wait_for_log(&[
        "tally.wasm: imports WASI or a host import that waits (state): called asynchronously",
    ]);
    // The grants, on the admin endpoint.
    let (status, body) = harness::http_get(server.metrics_addr(), "/plugins");
    assert!(status.contains("200"), "{status}");
    let plugins: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        plugins["plugins"][0]["buckets"],
        serde_json::json!(["tally"]),
        "{body}"
    );
    let mut stream = server.connect();
    for want in ["1", "2", "3"] {
        assert_eq!(ask(&mut stream, "COUNT"), want);
    }
    // A new generation of the same plugin: the same bucket, the same count.
    // (Another build: the same code with a custom section more.)
    let mut rebuilt = harness::plugin_bytes("tally");
    rebuilt.extend_from_slice(&harness::custom_section("build", b""));
    harness::deploy_by_rename(&live, &rebuilt);
    server.wait_for_log(&["plugin generation 2 serving"]);
    assert_eq!(ask(&mut stream, "COUNT"), "4");
    assert_eq!(ask(&mut server.connect(), "TOTAL"), "4");

    // The SDK carries the state interfaces, and a plugin that does not
    // call them imports none: it is still called synchronously.
    let plain = ServerProcess::start_logging(&["--plugin", "uppercase"], "info");
    plain.wait_for_log(&[
        "uppercase.wasm: imports only what computes (the host's interfaces, metrics): called synchronously",
    ]);
}

#[test]
fn grants_are_checked_at_start() {
    let message = refused(&["--plugin", "tally", "--plugin-bucket", "nobody:tally"]);
    assert_mentions(
        &message,
        &[
            "--plugin-bucket nobody:tally",
            "no plugin of the chain is named nobody",
        ],
    );
    let message = refused(&["--plugin", "tally", "--plugin-bucket", "tally:"]);
    assert_mentions(&message, &["a bucket name is"]);
    let message = refused(&[
        "--plugin",
        "tally",
        "--keyvalue",
        "rediss://:secret@127.0.0.1:1",
        "--plugin-bucket",
        "tally",
    ]);
    assert_mentions(
        &message,
        &["connecting to the state store rediss://:***@127.0.0.1:1"],
    );
    assert!(!message.contains("secret"), "{message}");
    // No Redis there: the server does not start, and says where it looked.
    let message = refused(&[
        "--plugin",
        "tally",
        "--keyvalue",
        "redis://127.0.0.1:1",
        "--plugin-bucket",
        "tally",
    ]);
    assert_mentions(
        &message,
        &["connecting to the state store redis://127.0.0.1:1"],
    );
}

#[test]
fn compare_and_swap_under_contention_loses_no_update_in_the_embedded_store() {
    let dir = harness::scratch("state", "cas");
    let server = probe_server(dir.join("state.redb").to_str().unwrap(), &PATIENT);
    add_in_parallel(&[&server], 16, 250, "add b hot 1");
    assert_eq!(ask(&mut server.connect(), "get b hot"), "4000");
}

/// `yell-host kv ARGS` with `input` on stdin: (exit code, stdout, stderr).
fn kv(args: &[&str], input: &[u8]) -> (Option<i32>, String, String) {
    let mut child = harness::yell_host()
        .arg("kv")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn operators_look_inside_and_move_a_store_with_kv() {
    let dir = harness::scratch("state", "kv");
    let file = dir.join("state.redb");
    let store = file.to_str().unwrap();
    // What a plugin wrote is there for the operator.
    {
        let server = tally_server(&file);
        let mut stream = server.connect();
        for _ in 0..3 {
            ask(&mut stream, "COUNT");
        }
        server.terminate();
    }
    assert_eq!(
        kv(&["--keyvalue", store, "list"], b""),
        (Some(0), "tally\n".into(), String::new())
    );
    assert_eq!(
        kv(&["--keyvalue", store, "list", "tally"], b"").1,
        "count\n"
    );
    assert_eq!(
        kv(&["--keyvalue", store, "get", "tally", "count"], b"").1,
        "3"
    );
    assert_eq!(
        kv(
            &["--keyvalue", store, "set", "notes", "bin"],
            b"\xff\x00raw"
        )
        .0,
        Some(0)
    );
    let (code, _, stderr) = kv(&["--keyvalue", store, "get", "notes", "missing"], b"");
    assert_eq!(code, Some(1));
    assert_mentions(&stderr, &["notes/missing is not set"]);

    // Exported, imported into another file: the same bytes.
    let (code, export, _) = kv(&["--keyvalue", store, "export"], b"");
    assert_eq!(code, Some(0));
    assert_mentions(
        &export,
        &[
            r#"{"bucket":"tally","key":"count","value":"3"}"#,
            r#""hex":"ff00726177""#,
        ],
    );
    let moved = dir.join("moved.redb");
    let moved = moved.to_str().unwrap();
    let (code, _, stderr) = kv(&["--keyvalue", moved, "import"], export.as_bytes());
    assert_eq!(code, Some(0), "{stderr}");
    assert_mentions(&stderr, &["imported 2 keys"]);
    assert_mentions(
        &kv(&["--keyvalue", moved, "export", "notes"], b"").1,
        &[r#""hex":"ff00726177""#],
    );
    // A line that is not an entry is named.
    let (code, _, stderr) = kv(
        &["--keyvalue", moved, "import"],
        b"{\"bucket\":\"b\",\"key\":\"k\",\"value\":\"v\"}\nnot json\n",
    );
    assert_eq!(code, Some(1));
    assert_mentions(&stderr, &["line 2: not an entry"]);
    // A server on the moved store counts on from there.
    let server = tally_server(Path::new(moved));
    assert_eq!(ask(&mut server.connect(), "COUNT"), "4");
    // While a server holds the file, kv says so.
    let (code, _, stderr) = kv(&["--keyvalue", moved, "list"], b"");
    assert_eq!(code, Some(1));
    assert_mentions(&stderr, &["is in use by another process"]);
}

fn tally_on_redis(redis: &RedisServer, extra: &[&str]) -> ServerProcess {
    let url = redis.url();
    let mut args = vec![
        "--plugin",
        "tally",
        "--keyvalue",
        &url,
        "--plugin-bucket",
        "tally",
    ];
    args.extend_from_slice(extra);
    ServerProcess::start(&args)
}

#[test]
fn two_hosts_on_one_redis_count_exactly_and_cas_loses_no_update_across_them() {
    let redis = RedisServer::start(harness::scratch("state", "fleet"));
    let hosts = [
        tally_on_redis(&redis, &PATIENT),
        tally_on_redis(&redis, &PATIENT),
    ];
    // 8 clients, 5,000 COUNT lines each, spread over both hosts.
    let last = count_in_parallel(&[&hosts[0], &hosts[1]], 8, 5000)
        .into_iter()
        .max()
        .unwrap();
    assert_eq!(last, 40_000);
    assert_eq!(ask(&mut hosts[0].connect(), "TOTAL"), "40000");
    assert_eq!(ask(&mut hosts[1].connect(), "TOTAL"), "40000");

    // Read-modify-write through compare-and-swap, 16 connections over two
    // hosts on one key: no update lost.
    let probe = harness::testing_plugin("state-probe");
    let url = redis.url();
    let mut args = vec![
        "--plugin",
        probe.as_str(),
        "--keyvalue",
        url.as_str(),
        "--plugin-bucket",
        "b",
    ];
    args.extend_from_slice(&PATIENT);
    let probes = [ServerProcess::start(&args), ServerProcess::start(&args)];
    add_in_parallel(&[&probes[0], &probes[1]], 16, 1000, "add b hot 1");
    assert_eq!(ask(&mut probes[1].connect(), "get b hot"), "16000");
}

#[test]
fn a_stopped_redis_fails_each_state_call_in_time_and_the_host_recovers_when_it_is_back() {
    let mut redis = RedisServer::start(harness::scratch("state", "redis-down"));
    let server = tally_on_redis(&redis, &[]);
    let mut stream = server.connect();
    assert_eq!(ask(&mut stream, "COUNT"), "1");
    redis.stop();
    // Every line gets its error, within the store's timeout and far within
    // the call's ceiling; a call that needs no store is not held up.
    let started = std::time::Instant::now();
    for _ in 0..5 {
        let answer = ask(&mut stream, "COUNT");
        assert!(
            answer.starts_with("ERR plugin: redis redis://127.0.0.1:"),
            "{answer}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let mut other = server.connect();
    assert_eq!(
        ask(&mut other, "HELLO"),
        "ERR plugin: expected COUNT or TOTAL"
    );
    // Back (with its data): the same host counts on, no restart.
    redis.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let answer = ask(&mut stream, "COUNT");
        if answer == "2" {
            break;
        }
        assert!(answer.starts_with("ERR plugin: redis"), "{answer}");
        assert!(
            std::time::Instant::now() < deadline,
            "no reconnection: {answer}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(ask(&mut other, "TOTAL"), "2");
}

#[test]
fn each_sdk_keeps_state_and_publishes_a_metric_through_the_host() {
    let plugins = ["tally-py", "tally-js", "tally-c"];
    let paths = plugins.map(harness::testing_plugin);
    harness::compiled_once(&paths.each_ref().map(|path| {
        [
            "--plugin",
            path.as_str(),
            "--keyvalue",
            "memory:",
            "--plugin-bucket",
            "tally",
        ]
    }));
    for (plugin, path) in plugins.into_iter().zip(&paths) {
        let mut args = vec![
            "--plugin",
            path,
            "--keyvalue",
            "memory:",
            "--plugin-bucket",
            "tally",
            "--metrics-addr",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(&PATIENT);
        let server = ServerProcess::start(&args);
        let mut stream = server.connect();
        assert_eq!(ask(&mut stream, "COUNT"), "1", "{plugin}");
        assert_eq!(ask(&mut stream, "COUNT"), "2", "{plugin}");
        assert_eq!(ask(&mut stream, "ADD 5"), "5", "{plugin}");
        assert_eq!(ask(&mut stream, "TOTAL"), "2", "{plugin}");
        let refused = ask(&mut stream, "NOPE");
        assert!(
            refused.starts_with("ERR plugin: expected COUNT, ADD N or TOTAL"),
            "{plugin}: {refused}"
        );
        // 4 connections adding at once: the wrapper's compare-and-swap
        // retries lose no update.
        add_in_parallel(&[&server], 4, 25, "ADD 1");
        assert_eq!(ask(&mut stream, "ADD 0"), "105", "{plugin}");
        let scrape = harness::http_get(server.metrics_addr(), "/metrics").1;
        let (clean, printed) = harness::promtool_check(&scrape);
        assert!(
            clean,
            "{plugin}: promtool check metrics:\n{printed}\non:\n{scrape}"
        );
        for (command, lines) in [("count", 2.0), ("add", 102.0)] {
            let series = format!(
                "yell_plugin_lang_tally_lines_total{{plugin=\"{plugin}\",command=\"{command}\"}}"
            );
            assert_eq!(
                harness::sample(&scrape, &series),
                lines,
                "{plugin} {command}"
            );
        }
    }
}

#[test]
fn the_rate_limiter_gives_each_client_its_bucket_across_connections() {
    let server = ServerProcess::start(&[
        "--plugin",
        "ratelimit",
        "--keyvalue",
        "memory:",
        "--plugin-bucket",
        "ratelimit",
        "--plugin-config",
        "rate=1",
        "--plugin-config",
        "burst=3",
        "--proxy-protocol",
        "--metrics-addr",
        "127.0.0.1:0",
    ]);
    let client = |address: &str| {
        let mut stream = server.connect();
        stream
            .write_all(format!("PROXY TCP4 {address} 127.0.0.1 4000 1234\r\n").as_bytes())
            .unwrap();
        stream
    };
    let mut first = client("192.0.2.7");
    let answers: Vec<String> = (0..5)
        .map(|i| ask(&mut first, &format!("line {i}")))
        .collect();
    assert_eq!(
        answers,
        [
            "line 0",
            "line 1",
            "line 2",
            "ERR rate limited",
            "ERR rate limited"
        ]
    );
    // The same client on another connection draws on the same bucket.
    let mut again = client("192.0.2.7");
    assert_eq!(ask(&mut again, "more"), "ERR rate limited");
    // Another client has a full bucket of its own.
    let mut other = client("198.51.100.1");
    assert_eq!(ask(&mut other, "hello"), "hello");
    // A second later the first client has one token again.
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(ask(&mut again, "later"), "later");
    assert_eq!(ask(&mut again, "later"), "ERR rate limited");
    let scrape = harness::http_get(server.metrics_addr(), "/metrics").1;
    for (verdict, lines) in [("passed", 5.0), ("limited", 4.0)] {
        let series = format!(
            "yell_plugin_ratelimit_lines_total{{plugin=\"ratelimit\",verdict=\"{verdict}\"}}"
        );
        assert_eq!(harness::sample(&scrape, &series), lines, "{verdict}");
    }
}

#[test]
fn a_redis_over_tls_is_reached_with_the_ca_given_and_refused_without_it() {
    let dir = harness::scratch("state", "rediss");
    let ca = harness::TestCa::new(&dir.join("ca"));
    let redis = RedisServer::start_tls(dir.join("redis"), &ca);
    let url = redis.url();
    assert!(url.starts_with("rediss://"), "{url}");
    let ca_arg = ca.ca_cert.to_str().unwrap();
    let server = tally_on_redis(&redis, &["--keyvalue-ca", ca_arg]);
    let mut stream = server.connect();
    assert_eq!(ask(&mut stream, "COUNT"), "1");
    assert_eq!(ask(&mut stream, "COUNT"), "2");
    // `kv` reaches it the same way.
    let (code, out, err) = kv(
        &[
            "--keyvalue",
            &url,
            "--keyvalue-ca",
            ca_arg,
            "get",
            "tally",
            "count",
        ],
        b"",
    );
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out, "2");
    // Without the CA the system's roots do not know the certificate: the
    // server does not start, and says why.
    let untrusted = refused(&[
        "--plugin",
        "tally",
        "--keyvalue",
        &url,
        "--plugin-bucket",
        "tally",
        // (A Redis that fails is waited for within the drain timeout.)
        "--drain-timeout",
        "1s",
    ]);
    assert_mentions(&untrusted, &["connecting to the state store", &url]);
    // A CA for a Redis without TLS is a mistake, said at once.
    let mistaken = refused(&[
        "--keyvalue",
        "redis://127.0.0.1:1",
        "--keyvalue-ca",
        ca_arg,
        "--plugin-bucket",
        "tally",
    ]);
    assert_mentions(&mistaken, &["--keyvalue-ca is for Redis over TLS"]);
}
