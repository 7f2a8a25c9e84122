//! Live swap: the plugin is replaced while the server runs — by changing
//! its file, by SIGHUP, by `yell-host reload` — without a restart, a dropped
//! connection or a lost line; a broken replacement leaves the old plugin
//! serving.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness;
use crate::harness::{
    custom_section, deploy_by_rename, plugin_bytes, read_line, testing_plugin, LoadClient,
    ServerProcess,
};

/// Overwrites the file in place, in two writes with a pause between, so
/// the server sees it half-written first.
fn deploy_in_place(live: &Path, bytes: &[u8]) {
    let mut file = std::fs::File::create(live).unwrap();
    let (first, rest) = bytes.split_at(bytes.len() / 2);
    file.write_all(first).unwrap();
    file.flush().unwrap();
    std::thread::sleep(Duration::from_millis(5));
    file.write_all(rest).unwrap();
}

fn start_live(live: &Path, extra: &[&str]) -> ServerProcess {
    let mut args = vec!["--plugin", live.to_str().unwrap()];
    args.extend_from_slice(extra);
    ServerProcess::start_logging(&args, "info,yell_runtime::chain=debug")
}

/// Sends `line` on `stream` until the reply is `expected`; returns how long
/// that took.
fn time_until_answer(stream: &mut TcpStream, line: &str, expected: &str) -> Duration {
    let started = Instant::now();
    loop {
        stream.write_all(line.as_bytes()).unwrap();
        if read_line(stream) == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the new plugin never answered {line:?}"
        );
    }
}

/// Reads the probe plugin's greeting, `welcome <id>`; returns the id.
fn greeting_id(stream: &mut TcpStream) -> String {
    let greeting = read_line(stream);
    match greeting.trim_end().strip_prefix("welcome ") {
        Some(id) => id.to_string(),
        None => panic!("expected the probe's greeting, got {greeting:?}"),
    }
}

/// The heart of it: four clients pipeline lines nonstop while the plugin
/// file is replaced 100 times, alternately uppercase and reverse, by rename
/// and by writing in place. Every reply must be right for its line under one
/// of the two, in order, none lost or repeated, no connection hurt; and each
/// swap is timed from the file change to the first reply of the new plugin.
#[test]
fn a_hundred_swaps_under_load_lose_no_line() {
    eprintln!("{}", a_hundred_swaps());
}

/// `just bench-swap`: the same swaps, against the binary built by
/// `cargo bench` (a release build).
#[cfg_attr(test, allow(dead_code))] // run by the bench, not the suite
pub fn benchmark() {
    println!("{}", a_hundred_swaps());
}

/// The scenario, its checks, and its figures as one line.
fn a_hundred_swaps() -> String {
    const SWAPS: usize = 100;
    let dir = harness::scratch("live-swap", "hundred");
    let live = dir.join("live.wasm");
    let (uppercase, reverse) = (plugin_bytes("uppercase"), plugin_bytes("reverse"));
    std::fs::write(&live, &uppercase).unwrap();
    let server = start_live(&live, &[]);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<LoadClient> = (0..4)
        .map(|id| LoadClient::start(server.addr, id, stop.clone()))
        .collect();
    let mut probe = server.connect();
    let rss_before = server.rss_kib();

    let mut latencies = Vec::with_capacity(SWAPS);
    for swap in 0..SWAPS {
        let (bytes, expected) = if swap % 2 == 0 {
            (&reverse, "eborp\n")
        } else {
            (&uppercase, "PROBE\n")
        };
        if swap % 4 < 2 {
            deploy_by_rename(&live, bytes);
        } else {
            deploy_in_place(&live, bytes);
        }
        latencies.push(time_until_answer(&mut probe, "probe\n", expected));
    }
    // Let the clients run on the last generation too.
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let (sent, answered) = clients
        .into_iter()
        .map(LoadClient::finish)
        .fold((0, 0), |(s, a), (sent, answered)| (s + sent, a + answered));
    drop(probe);
    let rss_after = server.rss_kib();

    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let figures = format!(
        "{SWAPS} swaps under load: {sent} lines sent, {answered} answered right, {} lost; \
         file change to first new reply: p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms; \
         server RSS {rss_before} KiB before, {rss_after} KiB after",
        sent - answered,
        ms(latencies[SWAPS / 2]),
        ms(latencies[SWAPS * 9 / 10]),
        ms(latencies[SWAPS - 1]),
    );
    assert!(answered > 0);
    assert_eq!(sent, answered, "lines were lost");
    // Old generations are dropped, not piled up: 100 of them kept would be
    // far more than this.
    assert!(
        rss_after < rss_before + 64 * 1024,
        "RSS grew from {rss_before} to {rss_after} KiB"
    );

    let (status, summary) = server.terminate();
    assert!(status.success());
    assert!(
        summary.contains(&format!("Plugin generations served: {}", SWAPS + 1)),
        "{summary}"
    );
    assert!(summary.contains("Plugin failures: 0 "), "{summary}");
    figures
}

#[test]
fn a_broken_replacement_leaves_the_old_plugin_serving() {
    let dir = harness::scratch("live-swap", "broken");
    let live = dir.join("live.wasm");
    std::fs::write(&live, plugin_bytes("rot13")).unwrap();
    let server = start_live(&live, &["--plugin-config", "shift=1"]);
    let mut stream = server.connect();
    let core_module = wat::parse_str("(module)").unwrap();
    let wrong_world = wat::parse_str("(component)").unwrap();
    let traps_in_init = std::fs::read(testing_plugin("init-trap")).unwrap();
    let rejects_config = plugin_bytes("filter");
    let cases: [(&[u8], &str); 6] = [
        (b"not wasm at all", "is not a WebAssembly file"),
        (
            &core_module,
            "is a core WebAssembly module, not a component",
        ),
        (&wrong_world, "is not a yell:plugin/plugin@0.1.0 component"),
        (&traps_in_init, "cannot start it: init panicked"),
        (&rejects_config, "unknown config key `shift`"),
        (&[], "is not a WebAssembly file"),
    ];
    for (bytes, why) in cases {
        deploy_by_rename(&live, bytes);
        let logged = server.wait_for_log(&["reload failed", "generation 1 keeps serving"]);
        assert!(logged.contains(why), "expected {why:?} in {logged:?}");
        stream.write_all(b"abc\n").unwrap();
        assert_eq!(read_line(&mut stream), "bcd\n");
    }
    // Removing the file fails the same way.
    std::fs::remove_file(&live).unwrap();
    server.wait_for_log(&["reload failed", "cannot read it"]);
    // The very file serving: nothing to swap.
    deploy_by_rename(&live, &plugin_bytes("rot13"));
    server.wait_for_log(&["plugin files unchanged, generation 1 keeps serving"]);
    // A good new file swaps (the same plugin with a custom section added:
    // other bytes, same behaviour).
    let mut rebuilt = plugin_bytes("rot13");
    rebuilt.extend_from_slice(&custom_section("build", b"2"));
    std::fs::write(&live, rebuilt).unwrap();
    server.wait_for_log(&["plugin generation 2 serving (live)"]);
    stream.write_all(b"abc\n").unwrap();
    assert_eq!(read_line(&mut stream), "bcd\n");
}

#[test]
fn sighup_reloads_from_disk() {
    let dir = harness::scratch("live-swap", "sighup");
    let live = dir.join("live.wasm");
    std::fs::write(&live, plugin_bytes("uppercase")).unwrap();
    let server = start_live(&live, &["--no-watch"]);
    let mut stream = server.connect();
    deploy_by_rename(&live, &plugin_bytes("reverse"));
    // Not watched: still the old plugin.
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(b"abc\n").unwrap();
    assert_eq!(read_line(&mut stream), "ABC\n");
    server.signal(libc::SIGHUP);
    server.wait_for_log(&["SIGHUP: plugin generation 2 serving (live)"]);
    stream.write_all(b"abc\n").unwrap();
    assert_eq!(read_line(&mut stream), "cba\n");
    // SIGHUP reloads even unchanged files: fresh instances, a new generation.
    server.signal(libc::SIGHUP);
    server.wait_for_log(&["SIGHUP: plugin generation 3 serving"]);
}

fn reload_command(metrics: SocketAddr) -> std::process::Output {
    harness::yell_host()
        .args(["reload", &metrics.to_string()])
        .output()
        .unwrap()
}

#[test]
fn the_reload_command_reports_the_outcome() {
    let dir = harness::scratch("live-swap", "command");
    let live = dir.join("live.wasm");
    std::fs::write(&live, plugin_bytes("uppercase")).unwrap();
    let server = start_live(&live, &["--no-watch", "--metrics-addr", "127.0.0.1:0"]);
    let metrics = server.metrics_addr();
    let mut stream = server.connect();

    deploy_by_rename(&live, &plugin_bytes("reverse"));
    let output = reload_command(metrics);
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(
        said.starts_with("reloaded: generation 2 serving (live)"),
        "{said}"
    );
    stream.write_all(b"abc\n").unwrap();
    assert_eq!(read_line(&mut stream), "cba\n");

    deploy_by_rename(&live, b"garbage");
    let output = reload_command(metrics);
    let said = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(
        said.contains("reload failed, generation 2 keeps serving")
            && said.contains("is not a WebAssembly file"),
        "{said}"
    );
    stream.write_all(b"abc\n").unwrap();
    assert_eq!(read_line(&mut stream), "cba\n");

    let (_, scraped) = harness::http_get(metrics, "/metrics");
    for expected in [
        "yell_plugin_generation 2",
        "yell_plugin_reloads_total{result=\"ok\"} 1",
        "yell_plugin_reloads_total{result=\"failed\"} 1",
    ] {
        assert!(scraped.contains(expected), "no {expected:?} in {scraped}");
    }
    let nobody = harness::yell_host()
        .args(["reload", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(nobody.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("cannot connect to 127.0.0.1:1"));
}

#[test]
fn open_connections_move_to_the_new_generation_and_the_old_one_is_retired() {
    // A probe greets on open and says goodbye with its count: a connection
    // opened on one generation and closed on the next hears the new
    // generation's goodbye (it counted only the lines it served).
    let dir = harness::scratch("live-swap", "boundary");
    let live = dir.join("live.wasm");
    std::fs::copy(testing_plugin("probe"), &live).unwrap();
    let server = start_live(&live, &["--plugin-config", "prefix=old-"]);
    let mut stream = server.connect();
    let id = greeting_id(&mut stream);
    stream.write_all(b"a\nb\n").unwrap();
    assert_eq!(read_line(&mut stream), "old-a\n");
    assert_eq!(read_line(&mut stream), "old-b\n");
    // The same plugin with other bytes (a custom section added).
    let mut renamed = std::fs::read(testing_plugin("probe")).unwrap();
    renamed.extend_from_slice(&custom_section("build", b"2"));
    deploy_by_rename(&live, &renamed);
    server.wait_for_log(&["plugin generation 2 serving"]);
    // The open connection does not keep the old generation alive.
    server.wait_for_log(&["plugin generation 1 retired"]);
    stream.write_all(b"c\n").unwrap();
    assert_eq!(read_line(&mut stream), "old-c\n");
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_line(&mut stream), format!("bye {id} after 1 lines\n"));
}

#[test]
fn the_compile_cache_spares_recompiling_known_plugins() {
    let dir = harness::scratch("live-swap", "cache");
    let cache = dir.join("cache");
    let cache_arg = cache.to_str().unwrap();
    let live = dir.join("live.wasm");
    std::fs::write(&live, plugin_bytes("uppercase")).unwrap();
    let args = ["--compile-cache", cache_arg];

    let server = start_live(&live, &args);
    server.wait_for_log(&["live.wasm: compiled in"]);
    deploy_by_rename(&live, &plugin_bytes("reverse"));
    server.wait_for_log(&["live.wasm: compiled in"]);
    // Back to a plugin seen before: no compiling.
    deploy_by_rename(&live, &plugin_bytes("uppercase"));
    server.wait_for_log(&["live.wasm: compiled code loaded from the cache"]);
    drop(server);

    // A restart loads from the cache too, unless told not to.
    let server = start_live(&live, &args);
    server.wait_for_log(&["live.wasm: compiled code loaded from the cache"]);
    drop(server);
    let server = start_live(&live, &["--no-compile-cache"]);
    server.wait_for_log(&["live.wasm: compiled in"]);
    drop(server);

    // An entry that is not what this host wrote is compiled again.
    for entry in std::fs::read_dir(&cache).unwrap() {
        std::fs::write(entry.unwrap().path(), b"tampered").unwrap();
    }
    let server = start_live(&live, &args);
    server.wait_for_log(&["is unusable, compiling again"]);
    server.wait_for_log(&["live.wasm: compiled in"]);
    let mut stream = server.connect();
    stream.write_all(b"abc\n").unwrap();
    assert_eq!(read_line(&mut stream), "ABC\n");
}

#[test]
fn a_file_change_reloads_only_the_changed_plugin_of_a_chain() {
    // The probe counts each connection's lines in its instance and says the
    // count in its last words: whether it was kept or reloaded shows.
    let dir = harness::scratch("live-swap", "chain");
    let (probe, live) = (dir.join("probe.wasm"), dir.join("live.wasm"));
    std::fs::copy(testing_plugin("probe"), &probe).unwrap();
    std::fs::write(&live, plugin_bytes("uppercase")).unwrap();
    let server = ServerProcess::start_logging(
        &[
            "--plugin",
            probe.to_str().unwrap(),
            "--plugin",
            live.to_str().unwrap(),
        ],
        "info",
    );
    let mut stream = server.connect();
    let id = greeting_id(&mut stream);
    stream.write_all(b"ab\n").unwrap();
    assert_eq!(read_line(&mut stream), "AB\n");

    deploy_by_rename(&live, &plugin_bytes("reverse"));
    server.wait_for_log(&["plugin generation 2 serving (probe → live)"]);
    stream.write_all(b"ab\n").unwrap();
    assert_eq!(read_line(&mut stream), "ba\n");
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    // The same probe instance saw both lines.
    assert_eq!(read_line(&mut stream), format!("bye {id} after 2 lines\n"));

    // SIGHUP reloads every plugin: a fresh probe knows nothing of lines
    // before it.
    let mut stream = server.connect();
    let id = greeting_id(&mut stream);
    stream.write_all(b"ab\n").unwrap();
    assert_eq!(read_line(&mut stream), "ba\n");
    server.signal(libc::SIGHUP);
    server.wait_for_log(&["SIGHUP: plugin generation 3 serving"]);
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_line(&mut stream), format!("bye {id} after 0 lines\n"));
}

/// Writes `bytes` over `live` in place in two halves, `pause` apart.
fn write_slowly_in_place(live: &Path, bytes: &[u8], pause: Duration) {
    let mut file = std::fs::File::create(live).unwrap();
    let (first, rest) = bytes.split_at(bytes.len() / 2);
    file.write_all(first).unwrap();
    std::thread::sleep(pause);
    file.write_all(rest).unwrap();
}

#[test]
fn a_file_written_in_place_is_loaded_once_complete() {
    let dir = harness::scratch("live-swap", "in-place");
    let live = dir.join("live.wasm");
    std::fs::write(&live, plugin_bytes("uppercase")).unwrap();
    let server = start_live(
        &live,
        &["--watch-debounce", "400ms", "--metrics-addr", "127.0.0.1:0"],
    );
    let metrics = server.metrics_addr();
    let failed_reloads = || {
        let (_, scraped) = harness::http_get(metrics, "/metrics");
        scraped
            .lines()
            .find_map(|line| line.strip_prefix("yell_plugin_reloads_total{result=\"failed\"} "))
            .map_or(0, |count| count.parse::<u64>().unwrap())
    };

    // A pause shorter than the debounce: the half-written file is never
    // loaded; the close after the last write swaps.
    write_slowly_in_place(&live, &plugin_bytes("reverse"), Duration::from_millis(100));
    server.wait_for_log(&["file change: plugin generation 2 serving"]);
    assert_eq!(failed_reloads(), 0);

    // A writer pausing past the debounce: the half file fails to load (the
    // old plugin serves on), and the finished file swaps.
    write_slowly_in_place(
        &live,
        &plugin_bytes("uppercase"),
        Duration::from_millis(1200),
    );
    server.wait_for_log(&["file change: plugin generation 3 serving"]);
    assert_eq!(failed_reloads(), 1);
    let mut stream = server.connect();
    stream.write_all(b"abc\n").unwrap();
    assert_eq!(read_line(&mut stream), "ABC\n");
}

#[test]
fn a_kubernetes_volume_update_reloads() {
    // How the kubelet lays out a ConfigMap volume and updates it: the files
    // live in a timestamped folder, `..data` links to it, each file is a
    // link through `..data`; an update writes a new folder and renames a new
    // `..data` link over the old one. The plugin's own path never changes.
    use std::os::unix::fs::symlink;
    let dir = harness::scratch("live-swap", "kubernetes");
    let first = dir.join("..2026_11_26_10_00_00.1");
    std::fs::create_dir(&first).unwrap();
    std::fs::write(first.join("live.wasm"), plugin_bytes("uppercase")).unwrap();
    symlink("..2026_11_26_10_00_00.1", dir.join("..data")).unwrap();
    symlink("..data/live.wasm", dir.join("live.wasm")).unwrap();
    let server = start_live(&dir.join("live.wasm"), &[]);
    let mut stream = server.connect();
    stream.write_all(b"abc\n").unwrap();
    assert_eq!(read_line(&mut stream), "ABC\n");

    let second = dir.join("..2026_11_26_10_05_00.2");
    std::fs::create_dir(&second).unwrap();
    std::fs::write(second.join("live.wasm"), plugin_bytes("reverse")).unwrap();
    symlink("..2026_11_26_10_05_00.2", dir.join("..data_tmp")).unwrap();
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
    std::fs::remove_dir_all(&first).unwrap();
    server.wait_for_log(&["file change: plugin generation 2 serving"]);
    stream.write_all(b"abc\n").unwrap();
    assert_eq!(read_line(&mut stream), "cba\n");
}
