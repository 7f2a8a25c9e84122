//! Plugins in other languages than Rust, beyond the contract every
//! uppercase keeps (tests/languages.rs): the Python uppercase swaps live with
//! the Rust one under load; what a Python plugin tries beyond its sandbox
//! (files, environment, network, fine clocks) the host denies, and what an
//! operator grants it may use, no more; per-plugin memory and time; each
//! language's second example (the Python redactor, the JavaScript JSON
//! formatter, the C CRC-32); every reply form of the JavaScript helper;
//! and a C plugin's stdio, greetings and assertions.

use std::io::Write;
use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use crate::harness;
use crate::harness::{read_line, testing_plugin, ServerProcess, SteadyClient};

/// The interpreters' plugins these tests use, compiled before any server
/// needs them.
fn compiled() {
    let sandbox = testing_plugin("sandbox-py");
    let probe = testing_plugin("probe-js");
    harness::compiled_once(&[
        &["--plugin", "uppercase-py"][..],
        // The redactor does not start without a pattern.
        &["--plugin", "redact-py", "--plugin-config", "pattern=x"],
        &["--plugin", &sandbox],
        &["--plugin", "jsonfmt-js"],
        &["--plugin", &probe],
    ]);
}

#[test]
fn rust_and_python_swap_live_under_load_without_losing_a_line() {
    compiled();
    let dir = harness::scratch("polyglot", "swap");
    let live = dir.join("live.wasm");
    let deploy = |name: &str| harness::deploy_by_rename(&live, &harness::plugin_bytes(name));
    deploy("uppercase");
    let server = ServerProcess::start_logging(&["--plugin", live.to_str().unwrap()], "info");
    let clients: Vec<SteadyClient> = (0..3).map(|_| SteadyClient::start(server.addr)).collect();
    std::thread::sleep(Duration::from_millis(200));
    deploy("uppercase-py");
    server.wait_for_log(&["plugin generation 2 serving"]);
    std::thread::sleep(Duration::from_millis(300));
    deploy("uppercase");
    server.wait_for_log(&["plugin generation 3 serving"]);
    std::thread::sleep(Duration::from_millis(200));
    let answered: u64 = clients.into_iter().map(SteadyClient::finish).sum();
    eprintln!("rust -> python -> rust under load: {answered} lines, every one answered right");
}

#[test]
fn what_a_python_plugin_tries_beyond_its_sandbox_is_denied() {
    compiled();
    let sandbox = testing_plugin("sandbox-py");
    // The clock probe spins a while, in Python.
    let server =
        ServerProcess::start_logging(&["--plugin", &sandbox, "--plugin-timeout", "5s"], "info");
    // A listener the plugin will try to reach: it must never be contacted.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut stream = server.connect();
    let client = stream.local_addr().unwrap();
    let mut ask = |line: &str| {
        stream.write_all(format!("{line}\n").as_bytes()).unwrap();
        read_line(&mut stream).trim_end().to_string()
    };
    let secret = std::env::temp_dir().join("yell-polyglot-secret");
    std::fs::write(&secret, "secret").unwrap();
    for path in ["/etc/passwd", secret.to_str().unwrap(), "."] {
        assert!(ask(&format!("read {path}")).starts_with("denied"), "{path}");
        assert!(ask(&format!("list {path}")).starts_with("denied"), "{path}");
    }
    assert_eq!(ask("env"), "0 variables");
    assert!(ask(&format!("connect 127.0.0.1 {port}")).starts_with("denied"));
    assert!(ask("resolve localhost").starts_with("denied"));
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        listener.accept().is_err(),
        "the plugin reached the test's listener"
    );
    // Clocks run, but in whole milliseconds.
    let step: u64 = ask("clock").strip_suffix(" ns").unwrap().parse().unwrap();
    assert!(step >= 1_000_000, "a {step} ns clock step");
    // Randomness is allowed; stdout becomes the plugin's log.
    assert_eq!(ask("random").len(), 16);
    assert_eq!(ask("print hello from python"), "printed");
    server.wait_for_log(&["hello from python", "plugin=\"sandbox-py\""]);
    // And it learns its client's address, as a Rust plugin does.
    assert_eq!(ask("peer"), client.to_string());
}

#[test]
fn what_an_operator_grants_a_python_plugin_it_may_use_and_no_more() {
    compiled();
    let sandbox = testing_plugin("sandbox-py");
    let granted = harness::scratch("polyglot", "granted");
    std::fs::write(granted.join("notes.txt"), "twelve bytes").unwrap();
    let allowed = TcpListener::bind("127.0.0.1:0").unwrap();
    let other = TcpListener::bind("127.0.0.1:0").unwrap();
    other.set_nonblocking(true).unwrap();
    let dir_grant = format!("{}::/data", granted.display());
    let connect_grant = allowed.local_addr().unwrap().to_string();
    let server = ServerProcess::start_logging(
        &[
            "--plugin",
            &sandbox,
            "--plugin-timeout",
            "5s",
            "--plugin-env",
            "GREETING=s3cret-value",
            "--plugin-dir-ro",
            &dir_grant,
            "--plugin-connect",
            &connect_grant,
        ],
        "info",
    );
    // The grants are logged at load, the environment's values are not.
    let log = server.wait_for_log(&[
        "granted environment GREETING; read-only directory",
        "as /data; TCP connections to 127.0.0.1:",
    ]);
    assert!(!log.contains("s3cret"), "{log}");
    let mut stream = server.connect();
    let mut ask = |line: &str| {
        stream.write_all(format!("{line}\n").as_bytes()).unwrap();
        read_line(&mut stream).trim_end().to_string()
    };
    assert_eq!(ask("read /data/notes.txt"), "allowed: 12");
    assert_eq!(ask("list /data"), "allowed: 1");
    assert_eq!(ask("env"), "1 variables");
    // Read-only: the granted folder cannot be written.
    assert!(ask("write /data/new.txt").starts_with("denied"));
    assert!(!granted.join("new.txt").exists());
    // Nothing outside the grant.
    assert!(ask("read /etc/passwd").starts_with("denied"));
    assert!(ask("read /data/../../../../etc/passwd").starts_with("denied"));
    let port = allowed.local_addr().unwrap().port();
    assert_eq!(
        ask(&format!("connect 127.0.0.1 {port}")),
        "allowed: connected"
    );
    allowed.accept().unwrap();
    let other_port = other.local_addr().unwrap().port();
    assert!(ask(&format!("connect 127.0.0.1 {other_port}")).starts_with("denied"));
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        other.accept().is_err(),
        "the plugin reached a listener it was not granted"
    );
}

#[test]
fn a_plugin_waiting_on_the_host_is_bounded_by_the_wall_clock() {
    compiled();
    let sandbox = testing_plugin("sandbox-py");
    // A WASI sleep runs no plugin code, so no running time passes: the
    // wall-clock ceiling is what ends it.
    let server = ServerProcess::start(&[
        "--plugin",
        &sandbox,
        "--plugin-timeout",
        "5s",
        "--plugin-wall-timeout",
        "300ms",
    ]);
    let mut stream = server.connect();
    let started = std::time::Instant::now();
    stream.write_all(b"sleep 30\n").unwrap();
    assert_eq!(
        read_line(&mut stream),
        "ERR plugin: deadline exceeded: took longer than 300ms of wall-clock time\n"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    // The next call gets a fresh instance and is answered.
    stream.write_all(b"env\n").unwrap();
    assert_eq!(read_line(&mut stream), "0 variables\n");
}

#[test]
fn one_plugin_of_a_chain_gets_its_own_memory_and_time() {
    compiled();
    let sandbox = testing_plugin("sandbox-py");
    let chain = |extra: &[&str], input: &[u8]| {
        let mut args = vec!["--plugin", &sandbox, "--plugin", "uppercase"];
        args.extend_from_slice(extra);
        harness::pipe(&args, input)
    };
    // CPython needs more than 8 MiB; the Rust uppercase does not.
    let output = chain(&["--plugin-memory", "8MiB"], b"env\n");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("sandbox-py.wasm: cannot start it")
            && stderr.contains("the limit is 8 MiB"),
        "{stderr}"
    );
    let output = chain(
        &[
            "--plugin-memory",
            "8MiB",
            "--plugin-memory",
            "sandbox-py:128MiB",
        ],
        b"env\n",
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "0 VARIABLES\n");
    // A wall-clock ceiling of its own, past which its calls end; the
    // other plugin's stays.
    let output = chain(&["--plugin-wall-timeout", "1:200ms"], b"sleep 20\n");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "ERR plugin: sandbox-py: deadline exceeded: took longer than 200ms of wall-clock time\n"
    );
    let output = chain(&["--plugin-timeout", "nosuch:1s"], b"env\n");
    assert!(String::from_utf8_lossy(&output.stderr).contains("no plugin named \"nosuch\""));
}

#[test]
fn the_python_redactor_takes_its_configuration_and_redacts() {
    compiled();
    let run = |config: &[&str], input: &[u8]| {
        let mut args = vec!["pipe", "--plugin", "redact-py"];
        for entry in config {
            args.extend(["--plugin-config", entry]);
        }
        harness::yell_host()
            .args(&args)
            .env("YELL_COMPILE_CACHE", harness::compile_cache())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child.stdin.take().unwrap().write_all(input)?;
                child.wait_with_output()
            })
            .unwrap()
    };
    let cards = r"pattern=\d{4}-\d{4}-\d{4}-\d{4}";
    let output = run(&[cards], b"card 1234-5678-9012-3456 ok\r\nnone here\n");
    assert!(output.status.success());
    assert_eq!(output.stdout, b"card *** ok\r\nnone here\n");
    let output = run(&[cards, "replacement=[card]"], b"1111-2222-3333-4444\n");
    assert_eq!(output.stdout, b"[card]\n");
    for (config, why) in [
        (&[][..], "pattern=REGEX is required"),
        (&["pattern=("][..], "pattern is not a regular expression"),
        (
            &["pattern=x", "colour=red"][..],
            "unknown config key `colour`",
        ),
    ] {
        let output = run(config, b"x\n");
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(why), "{stderr}");
    }
}

#[test]
fn the_c_crc32_answers_as_zlib_and_refuses_lines_past_its_max() {
    // zlib.crc32 of each line, without its line ending.
    let output = harness::pipe(
        &["--plugin", "crc32-c"],
        b"hello\r\n\nThe quick brown fox jumps over the lazy dog\n",
    );
    assert!(output.status.success());
    assert_eq!(output.stdout, b"3610a686\r\n00000000\n414fa339\n");
    let output = harness::pipe(
        &[
            "--plugin",
            "crc32-c",
            "--plugin-config",
            "echo=yes",
            "--plugin-config",
            "max=5",
        ],
        b"hello\ntoo long\n",
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "3610a686\thello\nERR plugin: line longer than max\n"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("line 2"));
    let output = harness::pipe(
        &["--plugin", "crc32-c", "--plugin-config", "echo=maybe"],
        b"",
    );
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("config `echo`: cannot use \"maybe\": not a boolean"));
}

#[test]
fn a_c_plugin_logs_through_stdio_greets_and_reports_its_assertions() {
    let features = testing_plugin("features-c");
    let server = ServerProcess::start_logging(
        &["--plugin", &features, "--plugin-config", "greet=true"],
        "info",
    );
    let mut stream = server.connect();
    let client = stream.local_addr().unwrap();
    assert_eq!(read_line(&mut stream), format!("hello {client}\n"));
    let mut ask = |line: &str| {
        stream.write_all(format!("{line}\n").as_bytes()).unwrap();
        read_line(&mut stream)
    };
    // stderr and stdout (through wasi-libc and the preview 1 adapter) become
    // the plugin's log lines.
    assert_eq!(ask("stderr from c"), "written to stderr\n");
    server.wait_for_log(&["WARN", "to stderr: from c", "plugin=\"features-c\""]);
    assert_eq!(ask("stdout from c"), "written to stdout\n");
    server.wait_for_log(&["INFO", "to stdout: from c"]);
    assert_eq!(ask("split a b"), "a\n");
    assert_eq!(read_line(&mut stream), "b\n");
    assert_eq!(
        {
            stream.write_all(b"partial\n").unwrap();
            read_line(&mut stream)
        },
        "ERR plugin: partial failure\n"
    );
    // A failed assert() reaches the operator with where and why; the client
    // hears only that the plugin panicked, and the next line is served.
    stream.write_all(b"assert\n").unwrap();
    assert_eq!(read_line(&mut stream), "ERR plugin: panicked\n");
    server.wait_for_log(&["assertion failed", "features.c"]);
    stream.write_all(b"echo\n").unwrap();
    assert_eq!(read_line(&mut stream), "echo\n");
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_line(&mut stream), "bye\n");
}

#[test]
fn the_javascript_formatter_sorts_pretty_prints_and_names_bad_json() {
    compiled();
    let run = |config: &[&str], input: &[u8]| {
        let mut args = vec!["--plugin", "jsonfmt-js"];
        for entry in config {
            args.extend(["--plugin-config", entry]);
        }
        harness::pipe(&args, input)
    };
    let output = run(
        &[],
        b"{\"b\":1,\"a\":[2,{\"d\":1,\"c\":2}]}\r\n\nnot json\n",
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "{\"a\":[2,{\"c\":2,\"d\":1}],\"b\":1}\r\nERR plugin: not JSON: JSON.parse: unexpected keyword at line 1 column 1 of the JSON data\n"
    );
    assert!(!output.status.success());
    // Pretty-printed: one input line, several reply lines, each with the
    // line ending its input line had.
    let output = run(&["indent=2"], b"{\"b\":[1],\"a\":null}\r\n");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "{\r\n  \"a\": null,\r\n  \"b\": [\r\n    1\r\n  ]\r\n}\r\n"
    );
    let output = run(&["fields=z,a"], b"{\"a\":1,\"b\":2,\"z\":3}\n");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "{\"z\":3,\"a\":1}\n"
    );
    let output = run(&["indent=many"], b"{}\n");
    assert!(String::from_utf8_lossy(&output.stderr)
        .contains("the plugin refused its configuration: config `indent`: cannot use \"many\""));
}

#[test]
fn the_javascript_helper_takes_every_reply_form_and_logs_the_console() {
    compiled();
    let probe = testing_plugin("probe-js");
    let server = ServerProcess::start_logging(&["--plugin", &probe], "info");
    let mut stream = server.connect();
    let client = stream.local_addr().unwrap();
    assert!(read_line(&mut stream).starts_with("hello "));
    server.wait_for_log(&["greet conn=", "(bigint)", &format!("peer={client}")]);
    let mut ask = |line: &str, replies: usize| {
        stream.write_all(format!("{line}\n").as_bytes()).unwrap();
        (0..replies)
            .map(|_| read_line(&mut stream))
            .collect::<String>()
    };
    assert_eq!(ask("two", 2), "one\ntwo\n");
    assert_eq!(ask("gen", 2), "g1\ng2\n");
    assert_eq!(ask("empty", 1), "\n");
    assert_eq!(ask("u16", 1), "AB\n");
    assert_eq!(
        ask("nl", 1),
        "ERR plugin: a reply line cannot hold a line break\n"
    );
    assert_eq!(ask("str-throw", 1), "ERR plugin: a thrown string\n");
    assert_eq!(ask("err-throw", 1), "ERR plugin: a RangeError\n");
    assert_eq!(
        ask("async", 1),
        "ERR plugin: transform returned a Promise: it must be synchronous\n"
    );
    // console.* goes to the host's log, at its level.
    assert_eq!(ask("console", 1), "logged\n");
    server.wait_for_log(&[
        "INFO",
        "console.log from the plugin 1 {\"a\":[1,\"2\"]} null",
    ]);
    server.wait_for_log(&["ERROR", "Error: boom"]);
    // A dropped line answers nothing: the next line's answer comes first.
    assert_eq!(ask("drop\nwarn", 1), "warned\n");
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(read_line(&mut stream).starts_with("bye "));
    assert!(read_line(&mut stream).starts_with("lines seen by this instance: "));
}

#[test]
fn an_init_waiting_on_the_host_is_bounded_by_the_wall_clock() {
    compiled();
    let sandbox = testing_plugin("sandbox-py");
    let started = std::time::Instant::now();
    let output = harness::pipe(
        &[
            "--plugin",
            &sandbox,
            "--plugin-config",
            "sleep_in_init=30",
            "--plugin-wall-timeout",
            "500ms",
        ],
        b"env\n",
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot start it: init did not finish within 500ms of wall-clock time"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}
