//! The admin endpoint is safe to expose: HTTP done by a real stack (HEAD,
//! query strings, slow or idle connections, accept failures), `POST
//! /reload` only for those allowed and coalesced under load, and metrics
//! that Prometheus's own linter accepts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness;
use crate::harness::{
    exchange, http_exchange, http_get, promtool_check, sample, testing_plugin, ServerProcess,
};

fn post_reload(admin: SocketAddr, headers: &str) -> (String, String) {
    let (status, _, body) = http_exchange(
        admin,
        &format!("POST /reload HTTP/1.1\r\nHost: {admin}\r\nContent-Length: 0\r\n{headers}\r\n"),
    );
    (status, body)
}

/// Whether the server closed `stream` (end of file or reset) within `wait`.
fn closed_within(mut stream: &TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buffer = [0u8; 256];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn head_query_strings_methods_and_paths() {
    let (server, admin) = ServerProcess::start_with_admin(&[]);
    assert_eq!(exchange(&server, b"hi\n"), b"HI\n");

    let (status, headers, body) =
        http_exchange(admin, "HEAD /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.is_empty(), "HEAD answered a body: {body}");
    assert!(
        headers.iter().any(|h| h
            .to_ascii_lowercase()
            .starts_with("content-type: text/plain; version=0.0.4")),
        "{headers:?}"
    );

    let (status, body) = http_get(admin, "/metrics?x=1&name[]=yell");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("yell_lines_in_total 1"), "{body}");
    assert_eq!(
        http_get(admin, "/healthz?probe=1"),
        ("HTTP/1.1 200 OK".into(), "ok\n".into())
    );
    let (status, body) = http_get(admin, "/readyz");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert_eq!(body, "ready: plugin generation 1 serving\n");

    let (status, headers, _) =
        http_exchange(admin, "GET /reload HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    assert!(
        headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case("allow: POST")),
        "{headers:?}"
    );
    let (status, headers, _) =
        http_exchange(admin, "DELETE /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 405 Method Not Allowed");
    assert!(
        headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case("allow: GET, HEAD")),
        "{headers:?}"
    );
    assert_eq!(http_get(admin, "/nothing").0, "HTTP/1.1 404 Not Found");

    // A request with a body (read or not, it must not wedge the endpoint),
    // and garbage that is not HTTP.
    let (status, _, _) = http_exchange(
        admin,
        "POST /nothing HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nhello",
    );
    assert_eq!(status, "HTTP/1.1 404 Not Found");
    let mut garbage = harness::connect(admin);
    garbage
        .write_all(b"\x16\x03\x01 not http at all\r\n\r\n")
        .unwrap();
    let mut answer = Vec::new();
    let _ = garbage.read_to_end(&mut answer);
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 400"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    assert_eq!(http_get(admin, "/healthz").0, "HTTP/1.1 200 OK");
}

#[test]
fn slow_headers_are_closed_after_the_timeout() {
    let (_server, admin) = ServerProcess::start_with_admin(&["--admin-header-timeout", "500ms"]);
    let mut slow = harness::connect(admin);
    let started = Instant::now();
    slow.write_all(b"GET /metrics HTTP/1.1\r\nHost: loc")
        .unwrap();
    assert!(closed_within(&slow, Duration::from_secs(5)), "still open");
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(400), "closed after {took:?}");
    // A silent connection is closed the same way.
    let silent = harness::connect(admin);
    assert!(closed_within(&silent, Duration::from_secs(5)), "still open");
    assert_eq!(http_get(admin, "/healthz").0, "HTTP/1.1 200 OK");
}

#[test]
fn idle_admin_connections_are_capped_and_the_data_plane_keeps_serving() {
    let (server, admin) = ServerProcess::start_with_admin(&[
        "--admin-max-connections",
        "8",
        "--admin-header-timeout",
        "2s",
    ]);
    // Twice the cap of silent connections: the ones past it are closed at once.
    let idle: Vec<TcpStream> = (0..16).map(|_| harness::connect(admin)).collect();
    std::thread::sleep(Duration::from_millis(200));
    let closed_at_once = idle
        .iter()
        .filter(|stream| closed_within(stream, Duration::from_millis(100)))
        .count();
    assert_eq!(closed_at_once, 8, "8 of 16 past a cap of 8");
    // The data plane is untouched.
    for _ in 0..20 {
        assert_eq!(exchange(&server, b"still here\n"), b"STILL HERE\n");
    }
    // Once the idle ones time out, the endpoint serves again.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(http_get(admin, "/healthz").0, "HTTP/1.1 200 OK");
}

#[test]
fn accept_failures_back_off_instead_of_spinning() {
    // Few file descriptors: data connections use them all up, so accepting
    // on the admin listener fails with EMFILE until some are freed.
    let server = ServerProcess::start_under(
        &["prlimit", "--nofile=48:48", "--"],
        &["--metrics-addr", "127.0.0.1:0", "--no-watch"],
        "warn",
    );
    let admin = server.metrics_addr();
    let mut clients: Vec<TcpStream> = Vec::new();
    for _ in 0..60 {
        clients.push(server.connect());
    }
    // Let the server run into the limit, then knock on the admin port.
    std::thread::sleep(Duration::from_millis(300));
    let knock = harness::connect(admin);
    server.wait_for_log(&["admin endpoint: accept failed"]);
    let before = server.cpu_time();
    std::thread::sleep(Duration::from_secs(2));
    let used = server.cpu_time() - before;
    assert!(
        used < Duration::from_millis(400),
        "the server used {used:?} of CPU in 2 s while out of file descriptors"
    );
    // File descriptors back: the admin endpoint answers again.
    drop(knock);
    drop(clients);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut stream = harness::connect(admin);
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        if answer.starts_with("HTTP/1.1 200 OK") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the admin endpoint did not recover"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn reload_is_refused_to_web_pages_and_to_rebound_names() {
    let (server, admin) = ServerProcess::start_with_admin(&[]);
    let page = post_reload(admin, "Origin: http://attacker.example\r\n");
    assert_eq!(page.0, "HTTP/1.1 403 Forbidden", "{page:?}");
    assert!(page.1.contains("web page"), "{page:?}");
    let fetch = post_reload(
        admin,
        "Sec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: no-cors\r\n",
    );
    assert_eq!(fetch.0, "HTTP/1.1 403 Forbidden");
    let (status, _, body) = http_exchange(
        admin,
        "POST /reload HTTP/1.1\r\nHost: attacker.example:9090\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(status, "HTTP/1.1 403 Forbidden");
    assert!(body.contains("attacker.example"), "{body}");
    // A rebound name cannot read either.
    for path in ["/plugins", "/metrics", "/readyz"] {
        let (status, _, _) = http_exchange(
            admin,
            &format!("GET {path} HTTP/1.1\r\nHost: attacker.example\r\n\r\n"),
        );
        assert_eq!(status, "HTTP/1.1 403 Forbidden", "{path}");
    }
    let (status, _, _) = http_exchange(
        admin,
        "GET http://attacker.example/plugins HTTP/1.1\r\nHost: localhost\r\n\r\n",
    );
    assert_eq!(status, "HTTP/1.1 403 Forbidden");
    // None of those reloaded anything.
    assert_eq!(
        http_get(admin, "/readyz").1,
        "ready: plugin generation 1 serving\n"
    );
    // A script on this machine may.
    let ok = post_reload(admin, "");
    assert_eq!(ok.0, "HTTP/1.1 200 OK", "{ok:?}");
    assert!(ok.1.starts_with("reloaded: generation 2 serving"), "{ok:?}");
    drop(server);
}

#[test]
fn a_token_guards_reload_and_is_required_off_loopback() {
    let dir = harness::scratch("admin", "token");
    let token_file = dir.join("token");
    std::fs::write(&token_file, "correct-horse-battery\n").unwrap();
    let token_arg = token_file.to_str().unwrap();
    let (_server, admin) = ServerProcess::start_with_admin(&["--admin-token-file", token_arg]);

    let missing = post_reload(admin, "");
    assert_eq!(missing.0, "HTTP/1.1 401 Unauthorized", "{missing:?}");
    let wrong = post_reload(admin, "Authorization: Bearer correct-horse\r\n");
    assert_eq!(wrong.0, "HTTP/1.1 403 Forbidden", "{wrong:?}");
    let right = post_reload(admin, "Authorization: Bearer correct-horse-battery\r\n");
    assert_eq!(right.0, "HTTP/1.1 200 OK", "{right:?}");
    // With a token the endpoint may be reached by any name.
    let (status, _, _) = http_exchange(
        admin,
        "POST /reload HTTP/1.1\r\nHost: admin.example\r\nAuthorization: bearer correct-horse-battery\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(status, "HTTP/1.1 200 OK");
    // Reading needs no token.
    assert_eq!(http_get(admin, "/metrics").0, "HTTP/1.1 200 OK");

    // `yell-host reload` with and without the token file.
    let reload = |extra: &[&str]| {
        harness::yell_host()
            .arg("reload")
            .arg(admin.to_string())
            .args(extra)
            .output()
            .unwrap()
    };
    let without = reload(&[]);
    assert!(!without.status.success());
    assert!(String::from_utf8_lossy(&without.stderr).contains("a token is needed"));
    let with = reload(&["--token-file", token_arg]);
    assert!(with.status.success(), "{with:?}");
    assert!(String::from_utf8_lossy(&with.stdout).starts_with("reloaded: generation 4 serving"));

    // An address others can reach, without a token: refused before listening.
    let output = harness::yell_host()
        .args(["--listen", "127.0.0.1:0", "--metrics-addr", "0.0.0.0:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not a loopback address"), "{stderr}");
    assert!(stderr.contains("--admin-token-file"), "{stderr}");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("listening"));
    // An empty token file is refused too.
    std::fs::write(&token_file, "\n").unwrap();
    let output = harness::yell_host()
        .args(["--listen", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"])
        .args(["--admin-token-file", token_arg])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is empty"));
}

#[test]
fn twenty_concurrent_reloads_cost_one_or_two_and_all_are_answered() {
    let (_server, admin) = ServerProcess::start_with_admin(&[]);
    let answers: Vec<(String, String)> = std::thread::scope(|scope| {
        let callers: Vec<_> = (0..20)
            .map(|_| scope.spawn(move || post_reload(admin, "")))
            .collect();
        callers
            .into_iter()
            .map(|caller| caller.join().unwrap())
            .collect()
    });
    for answer in &answers {
        assert_eq!(answer.0, "HTTP/1.1 200 OK", "{answer:?}");
        assert!(answer.1.starts_with("reloaded: generation "), "{answer:?}");
    }
    let (_, readiness) = http_get(admin, "/readyz");
    let generation: u64 = readiness
        .strip_prefix("ready: plugin generation ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (2..=3).contains(&generation),
        "20 concurrent reloads made {} generations",
        generation - 1
    );
    // Every caller was answered by a reload that started after it asked:
    // the answers name at most two generations.
    let mut named: Vec<&str> = answers
        .iter()
        .map(|answer| answer.1.split(" serving").next().unwrap())
        .collect();
    named.dedup();
    named.sort();
    named.dedup();
    assert!(named.len() <= 2, "{named:?}");
}

#[test]
fn readiness_turns_off_while_draining() {
    let slow = testing_plugin("slow");
    let (server, admin) = ServerProcess::start_with_admin(&[
        "--plugin",
        &slow,
        "--plugin-timeout",
        "1500ms",
        "--plugin-wall-timeout",
        "5s",
    ]);
    assert_eq!(http_get(admin, "/readyz").0, "HTTP/1.1 200 OK");
    // A call that runs until its deadline keeps the server draining.
    let mut busy = server.connect();
    busy.write_all(b"FOREVER\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    server.signal(libc::SIGTERM);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let (status, body) = http_get(admin, "/readyz");
        if status == "HTTP/1.1 503 Service Unavailable" {
            assert_eq!(body, "not ready: draining\n");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still ready while draining: {status}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Liveness holds while draining.
    assert_eq!(http_get(admin, "/healthz").0, "HTTP/1.1 200 OK");
}

#[test]
fn promtool_accepts_the_scrape_and_a_chain_has_per_plugin_series() {
    let (server, admin) = ServerProcess::start_with_admin(&[
        "--plugin",
        "splitter",
        "--plugin",
        "filter",
        "--plugin",
        "rot13",
        "--plugin-config",
        "filter:word=secret",
        "--plugin-config",
        "rot13:shift=1",
    ]);
    assert_eq!(
        exchange(&server, b"the secret plan\nhello world\n"),
        b"uif\nqmbo\nifmmp\nxpsme\n"
    );
    let scrape = http_get(admin, "/metrics").1;
    let (clean, printed) = promtool_check(&scrape);
    assert!(clean, "promtool check metrics:\n{printed}\non:\n{scrape}");
    // Lines each stage answered: 2 in, 5 words, 4 past the filter.
    for (plugin, lines) in [("splitter", 2.0), ("filter", 5.0), ("rot13", 4.0)] {
        assert_eq!(
            sample(
                &scrape,
                &format!("yell_plugin_lines_total{{plugin=\"{plugin}\"}}")
            ),
            lines,
            "{plugin}"
        );
        assert!(
            sample(
                &scrape,
                &format!("yell_plugin_calls_total{{plugin=\"{plugin}\"}}")
            ) >= 1.0
        );
        assert_eq!(
            sample(
                &scrape,
                &format!("yell_plugin_call_failures_total{{plugin=\"{plugin}\",kind=\"trap\"}}")
            ),
            0.0
        );
        assert!(scrape.contains(&format!(
            "yell_plugin_call_duration_seconds_count{{plugin=\"{plugin}\"}}"
        )));
    }
    // The generation is a gauge, not a label: a reload adds no series.
    let series = |scrape: &str| scrape.lines().filter(|l| !l.starts_with('#')).count();
    let before = series(&scrape);
    assert_eq!(post_reload(admin, "").0, "HTTP/1.1 200 OK");
    let after = http_get(admin, "/metrics").1;
    assert_eq!(series(&after), before, "a reload added series");
    assert_eq!(sample(&after, "yell_plugin_generation"), 2.0);
    // A failing plugin is counted under its own name.
    drop(server);
    let hostile = testing_plugin("hostile");
    let (server, admin) = ServerProcess::start_with_admin(&["--plugin", &hostile]);
    assert!(String::from_utf8_lossy(&exchange(&server, b"panic\n")).contains("panicked"));
    let scrape = http_get(admin, "/metrics").1;
    assert_eq!(
        sample(
            &scrape,
            "yell_plugin_call_failures_total{plugin=\"hostile\",kind=\"trap\"}"
        ),
        1.0
    );
    let (clean, printed) = promtool_check(&scrape);
    assert!(clean, "promtool check metrics:\n{printed}");
}
