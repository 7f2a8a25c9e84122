//! Plugins from an OCI registry: a real one (Debian's `docker-registry`)
//! on a free loopback port, plain, over TLS and behind basic auth. Push,
//! serve by tag and by digest, every digest checked, credentials from a
//! Docker config, the cache (offline starts, corruption, bounds, two
//! processes at once, pulls killed part-way), signatures, and tags that
//! move under load.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::registry::RegistryMode;
use crate::harness::{
    self, assert_mentions, http_exchange, plugin_dir, read_line, reversed, yell_host, LoadClient,
    RegistryServer, ServerProcess, TestCa,
};

/// One test's registry, and the cache and Docker config its commands use
/// (never the user's own).
struct Oci {
    registry: RegistryServer,
    cache: PathBuf,
    docker_config: PathBuf,
}

impl Oci {
    fn start(name: &str) -> Oci {
        Self::start_as(name, RegistryServer::start)
    }

    /// A registry that wants the user `ci` with `password` (htpasswd).
    fn start_behind_auth(name: &str, password: &str) -> Oci {
        Self::start_as(name, |dir| {
            RegistryServer::start_as(
                dir,
                RegistryMode::Auth {
                    user: "ci",
                    password,
                },
            )
        })
    }

    fn start_as(name: &str, start: impl FnOnce(PathBuf) -> RegistryServer) -> Oci {
        let dir = harness::scratch("registry", name);
        let registry = start(dir.join("registry"));
        let docker_config = dir.join("docker");
        std::fs::create_dir_all(&docker_config).unwrap();
        Oci {
            registry,
            cache: dir.join("cache"),
            docker_config,
        }
    }

    /// `yell-host ARGS`, with this test's cache and Docker config.
    fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().unwrap()
    }

    fn command(&self) -> Command {
        let mut command = yell_host();
        self.environment(&mut command);
        command
    }

    fn environment(&self, command: &mut Command) {
        command
            .env("YELL_OCI_CACHE", &self.cache)
            .env("DOCKER_CONFIG", &self.docker_config);
    }

    /// Pushes the built plugin `plugin` to `REPO:TAG`; the manifest digest.
    fn push(&self, plugin: &str, repository_and_tag: &str) -> String {
        let file = plugin_file(plugin);
        let reference = self.registry.reference(repository_and_tag);
        let output = self.run(&["push", file.to_str().unwrap(), &reference]);
        assert!(output.status.success(), "{}", text(&output));
        let stdout = String::from_utf8(output.stdout).unwrap();
        let digest = stdout.lines().next().unwrap().to_string();
        assert!(digest.starts_with("sha256:"), "{stdout}");
        digest
    }

    /// A server of `args`, with this test's cache and Docker config.
    fn serve(&self, args: &[&str]) -> ServerProcess {
        ServerProcess::start_customized(&[], args, "info", |command| self.environment(command))
    }

    /// `yell-host pipe` of `input` through `reference`.
    fn pipe(&self, reference: &str, input: &[u8], extra: &[&str]) -> Output {
        use std::io::Write;
        let mut child = self
            .command()
            .args(["pipe", "--plugin", reference])
            .args(extra)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap()
    }

    /// The component blobs in the cache.
    fn cached_blobs(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.cache.join("blobs/sha256")) {
            Ok(entries) => entries.flatten().map(|entry| entry.path()).collect(),
            Err(_) => Vec::new(),
        }
    }
}

fn plugin_file(name: &str) -> PathBuf {
    plugin_dir().join(format!("{name}.wasm"))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn sha256_of(path: &Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().unwrap();
    let line = String::from_utf8(output.stdout).unwrap();
    format!("sha256:{}", line.split_whitespace().next().unwrap())
}

#[test]
fn a_pushed_plugin_is_served_by_tag_and_by_digest_and_a_missing_digest_is_refused() {
    let oci = Oci::start("serve");
    let digest = oci.push("uppercase", "yell/uppercase:v1");
    let by_tag = oci.registry.reference("yell/uppercase:v1");
    let by_digest = oci.registry.reference(&format!("yell/uppercase@{digest}"));
    for reference in [&by_tag, &by_digest] {
        let server = oci.serve(&["--plugin", reference]);
        let mut stream = server.connect();
        stream.write_all_lines(b"hello\n");
        assert_eq!(read_line(&mut stream), "HELLO\n", "{reference}");
        let (status, summary) = server.terminate();
        assert!(status.success(), "{summary}");
    }
    let output = oci.pipe(&by_tag, b"abc\n", &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(output.stdout, b"ABC\n");

    let absent = oci
        .registry
        .reference(&format!("yell/uppercase@sha256:{}", "0".repeat(64)));
    let output = oci.pipe(&absent, b"abc\n", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_mentions(&text(&output), &[&absent, "has no such manifest"]);
    let unknown = oci.registry.reference("yell/nothing:v1");
    let message = text(&oci.pipe(&unknown, b"abc\n", &[]));
    assert_mentions(&message, &["yell/nothing:v1", "has no such manifest"]);
    let message = text(&oci.pipe("oci://yell/uppercase:v1", b"", &[]));
    assert_mentions(&message, &["give the registry's host"]);
}

/// Writes lines without a reply expected yet.
trait WriteLines {
    fn write_all_lines(&mut self, bytes: &[u8]);
}

impl WriteLines for std::net::TcpStream {
    fn write_all_lines(&mut self, bytes: &[u8]) {
        std::io::Write::write_all(self, bytes).unwrap();
    }
}

#[test]
fn bytes_that_do_not_match_the_layer_digest_are_refused_and_nothing_is_cached() {
    let oci = Oci::start("tampered");
    oci.push("uppercase", "yell/uppercase:v1");
    let layer = sha256_of(&plugin_file("uppercase"));
    // The registry's copy of the component changes behind its back.
    let blob = oci.registry.blob_file(&layer);
    let mut bytes = std::fs::read(&blob).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();
    let output = oci.pipe(&oci.registry.reference("yell/uppercase:v1"), b"x\n", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let message = text(&output);
    assert_mentions(
        &message,
        &["not the layer digest", &layer, "nothing cached"],
    );
    assert!(oci.cached_blobs().is_empty(), "{:?}", oci.cached_blobs());
}

#[test]
fn credentials_come_from_the_docker_config_and_are_never_shown() {
    let password = "s3cret-Pa55";
    let oci = Oci::start_behind_auth("auth", password);
    let file = plugin_file("uppercase");
    let reference = oci.registry.reference("yell/uppercase:v1");
    // No credentials: refused, saying how to give them.
    let output = oci.run(&["push", file.to_str().unwrap(), &reference]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_mentions(&text(&output), &["refused", "docker login"]);
    // `docker login`'s way: base64 of user:password under auths.
    let auth = base64(&format!("ci:{password}"));
    std::fs::write(
        oci.docker_config.join("config.json"),
        format!(
            "{{\"auths\": {{\"{}\": {{\"auth\": \"{auth}\"}}}}}}",
            oci.registry.addr
        ),
    )
    .unwrap();
    let output = oci.run(&["push", file.to_str().unwrap(), &reference]);
    assert!(output.status.success(), "{}", text(&output));
    let server = oci.serve(&["--plugin", &reference, "--log-level", "debug"]);
    let mut stream = server.connect();
    stream.write_all_lines(b"auth\n");
    assert_eq!(read_line(&mut stream), "AUTH\n");
    let (_, everything) = server.terminate();
    for shown in [text(&output), everything] {
        assert!(!shown.contains(password), "{shown}");
        assert!(!shown.contains(&auth), "{shown}");
    }
    // Wrong credentials: refused, and not shown either.
    let wrong = base64("ci:wrong-password");
    std::fs::write(
        oci.docker_config.join("config.json"),
        format!(
            "{{\"auths\": {{\"{}\": {{\"auth\": \"{wrong}\"}}}}}}",
            oci.registry.addr
        ),
    )
    .unwrap();
    std::fs::remove_dir_all(&oci.cache).unwrap();
    let output = oci.pipe(&reference, b"x\n", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_mentions(&text(&output), &["refused", "docker login"]);
    assert!(!text(&output).contains("wrong-password"));
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn a_registry_over_tls_is_trusted_with_the_ca_given_and_refused_without_it() {
    let dir = harness::scratch("registry", "tls-ca");
    let ca = TestCa::new(&dir);
    let oci = Oci::start_as("tls", |dir| {
        RegistryServer::start_as(dir, RegistryMode::Tls(&ca))
    });
    let file = plugin_file("uppercase");
    let reference = oci.registry.reference("yell/uppercase:v1");
    let ca_file = ca.ca_cert.to_str().unwrap();
    let output = oci.run(&[
        "push",
        file.to_str().unwrap(),
        &reference,
        "--registry-ca",
        ca_file,
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let output = oci.pipe(&reference, b"tls\n", &["--registry-ca", ca_file]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(output.stdout, b"TLS\n");
    std::fs::remove_dir_all(&oci.cache).unwrap();
    let output = oci.pipe(&reference, b"tls\n", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_mentions(&text(&output), &["over HTTPS", "certificate"]);
}

#[test]
fn with_the_registry_stopped_a_digest_starts_from_the_cache_and_a_tag_with_a_warning() {
    let mut oci = Oci::start("offline");
    let digest = oci.push("uppercase", "yell/uppercase:v1");
    oci.push("reverse", "yell/reverse:v1");
    let by_tag = oci.registry.reference("yell/uppercase:v1");
    let by_digest = oci.registry.reference(&format!("yell/uppercase@{digest}"));
    let never = oci.registry.reference("yell/reverse:v1");
    for reference in [&by_tag, &by_digest] {
        let output = oci.pipe(reference, b"warm\n", &[]);
        assert!(output.status.success(), "{}", text(&output));
    }
    oci.registry.stop();

    let output = oci.pipe(&by_digest, b"offline\n", &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(output.stdout, b"OFFLINE\n");
    assert!(!text(&output).contains("WARN"), "{}", text(&output));

    let server = oci.serve(&["--plugin", &by_tag]);
    server.wait_for_log(&[
        "WARN",
        "cannot reach",
        "what the tag resolved to last",
        &digest,
    ]);
    let mut stream = server.connect();
    stream.write_all_lines(b"offline\n");
    assert_eq!(read_line(&mut stream), "OFFLINE\n");
    drop(server);

    let output = oci.pipe(&never, b"x\n", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_mentions(&text(&output), &["not pulled here before", "cannot reach"]);
}

#[test]
fn the_cache_is_checked_shared_and_bounded() {
    let mut oci = Oci::start("cache");
    let uppercase = oci.push("uppercase", "yell/uppercase:v1");
    let reverse = oci.push("reverse", "yell/reverse:v1");
    let by_digest = |repository: &str, digest: &str| {
        oci.registry
            .reference(&format!("yell/{repository}@{digest}"))
    };
    let (uppercase_ref, reverse_ref) = (
        by_digest("uppercase", &uppercase),
        by_digest("reverse", &reverse),
    );

    // Two processes pulling one reference at once: both start, one copy.
    let pulls: Vec<_> = (0..2)
        .map(|_| {
            oci.command()
                .args(["pull", &uppercase_ref])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for pull in pulls {
        let output = pull.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", text(&output));
    }
    let layer = sha256_of(&plugin_file("uppercase"));
    let blob = oci
        .cache
        .join("blobs/sha256")
        .join(&layer["sha256:".len()..]);
    assert_eq!(oci.cached_blobs(), vec![blob.clone()]);

    // A cached file whose bytes changed is found out and pulled again.
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();
    let output = oci.pipe(&uppercase_ref, b"again\n", &[]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(output.stdout, b"AGAIN\n");
    assert_mentions(&text(&output), &["removed, to be pulled again"]);
    assert_eq!(sha256_of(&blob), layer);

    // A pull that died half-way left only a temporary file: nothing under
    // a blob's name, so nothing loads from it.
    std::fs::remove_file(&blob).unwrap();
    std::fs::write(
        blob.with_file_name(".partial-1-0"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    oci.registry.stop();
    let output = oci.pipe(&uppercase_ref, b"x\n", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    oci.registry.restart();

    // Bounded: room for one component, so the one used least recently goes.
    let size = std::fs::metadata(plugin_file("uppercase")).unwrap().len();
    let bound = (size * 3 / 2).to_string();
    for reference in [&uppercase_ref, &reverse_ref] {
        let output = oci.pipe(reference, b"x\n", &["--oci-cache-max", &bound]);
        assert!(output.status.success(), "{}", text(&output));
    }
    let reverse_blob = oci
        .cache
        .join("blobs/sha256")
        .join(&sha256_of(&plugin_file("reverse"))["sha256:".len()..]);
    let kept: Vec<PathBuf> = oci
        .cached_blobs()
        .into_iter()
        .filter(|path| !path.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(kept, vec![reverse_blob]);
}

#[test]
fn a_pull_past_oci_max_bytes_is_refused_and_nothing_is_cached() {
    let oci = Oci::start("max-bytes");
    oci.push("uppercase", "yell/uppercase:v1");
    let output = oci.pipe(
        &oci.registry.reference("yell/uppercase:v1"),
        b"x\n",
        &["--oci-max-bytes", "10KiB"],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_mentions(&text(&output), &["more than --oci-max-bytes", "refused"]);
    assert!(oci.cached_blobs().is_empty(), "{:?}", oci.cached_blobs());
}

#[test]
fn a_signed_push_is_trusted_by_its_key_and_an_unsigned_one_is_refused() {
    let oci = Oci::start("signed");
    let dir = harness::scratch("registry", "signed-keys");
    let key = dir.join("signer");
    let output = oci.run(&["keygen", key.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
    let public = format!("{}.pub", key.display());
    let file = plugin_file("uppercase");
    let signed = oci.registry.reference("yell/uppercase:signed");
    let output = oci.run(&[
        "push",
        file.to_str().unwrap(),
        &signed,
        "--sign",
        key.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let server = oci.serve(&["--plugin", &signed, "--trusted-key", &public]);
    let mut stream = server.connect();
    stream.write_all_lines(b"signed\n");
    assert_eq!(read_line(&mut stream), "SIGNED\n");
    drop(server);

    oci.push("uppercase", "yell/uppercase:unsigned");
    let unsigned = oci.registry.reference("yell/uppercase:unsigned");
    let message = harness::refused_with_env(
        1,
        &["--plugin", &unsigned, "--trusted-key", &public],
        |command| oci.environment(command),
    );
    assert_mentions(&message, &["signature"]);
    // A pin on a tag that is polled would refuse every move.
    let pin = sha256_of(&file)["sha256:".len()..].to_string();
    let message = harness::refused_with_env(
        1,
        &[
            "--plugin",
            &signed,
            "--plugin-sha256",
            &pin,
            "--oci-poll",
            "1s",
        ],
        |command| oci.environment(command),
    );
    assert_mentions(
        &message,
        &["--plugin-sha256", "--oci-poll", "--trusted-key"],
    );
}

/// `POST /reload` on the admin endpoint at `addr`.
fn post_reload(addr: std::net::SocketAddr) -> String {
    http_exchange(
        addr,
        "POST /reload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n",
    )
    .0
}

/// Sends `probe` until the answer is `expected`; how long that took.
fn time_until(stream: &mut std::net::TcpStream, probe: &str, expected: &str) -> Duration {
    let started = Instant::now();
    loop {
        stream.write_all_lines(format!("{probe}\n").as_bytes());
        if read_line(stream) == format!("{expected}\n") {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never answered {expected:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The heart of it: two servers follow one tag (`--oci-poll 1s`) while it
/// moves 20 times between uppercase and reverse and four clients pipeline
/// lines nonstop. Every server swaps each time, no line is lost, every
/// reply is right for its line under one of the two. One server is also
/// told at once (`POST /reload`): that is timed to its first new reply.
#[test]
fn twenty_tag_moves_under_load_are_followed_by_every_server_and_lose_no_line() {
    const MOVES: usize = 20;
    let oci = Oci::start("moves");
    oci.push("uppercase", "yell/live:current");
    let reference = oci.registry.reference("yell/live:current");
    let servers: Vec<ServerProcess> = (0..2)
        .map(|_| {
            oci.serve(&[
                "--plugin",
                &reference,
                "--oci-poll",
                "1s",
                "--metrics-addr",
                "127.0.0.1:0",
            ])
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<LoadClient> = (0..4)
        .map(|id| LoadClient::start(servers[id % 2].addr, id, stop.clone()))
        .collect();
    let admin = servers[0].metrics_addr();
    let mut probes: Vec<_> = servers.iter().map(|server| server.connect()).collect();
    let mut told = Vec::with_capacity(MOVES);
    for mv in 0..MOVES {
        let (plugin, expected) = if mv % 2 == 0 {
            ("reverse", reversed("probe"))
        } else {
            ("uppercase", "PROBE".to_string())
        };
        oci.push(plugin, "yell/live:current");
        let told_at = Instant::now();
        let status = post_reload(admin);
        assert!(status.contains("200"), "{status}");
        time_until(&mut probes[0], "probe", &expected);
        told.push(told_at.elapsed());
        time_until(&mut probes[1], "probe", &expected);
    }
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    let (sent, answered) = clients
        .into_iter()
        .map(LoadClient::finish)
        .fold((0, 0), |(s, a), (sent, answered)| (s + sent, a + answered));
    assert!(answered > 0);
    assert_eq!(sent, answered, "lines were lost");
    drop(probes);
    for (which, server) in servers.into_iter().enumerate() {
        let (status, summary) = server.terminate();
        assert!(status.success(), "{summary}");
        let generations: usize = summary
            .lines()
            .find_map(|line| line.strip_prefix("Plugin generations served: "))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or_else(|| panic!("{summary}"));
        // The polling server swapped once per move; the one told may have
        // swapped by its poll first and then again at the reload.
        if which == 1 {
            assert_eq!(generations, MOVES + 1, "{summary}");
        } else {
            assert!(generations > MOVES, "{summary}");
        }
    }
    told.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "{MOVES} tag moves under load: {sent} lines, none lost; POST /reload to first new reply: p50 {:.1} ms, p99 {:.1} ms",
        ms(told[MOVES / 2]),
        ms(told[MOVES - 1])
    );
}

#[test]
fn a_credential_helper_named_by_the_docker_config_is_asked() {
    let password = "helper-Pa55";
    let oci = Oci::start_behind_auth("helper", password);
    // What `docker-credential-pass` and the like do: `get` reads the
    // registry on stdin and answers JSON on stdout.
    let bin = oci.docker_config.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-yelltest");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\nprintf '{{\"ServerURL\":\"%s\",\"Username\":\"ci\",\"Secret\":\"{password}\"}}' \"$server\"\n"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(
        oci.docker_config.join("config.json"),
        "{\"credsStore\": \"yelltest\"}",
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let file = plugin_file("uppercase");
    let reference = oci.registry.reference("yell/uppercase:v1");
    let output = oci
        .command()
        .env("PATH", &path)
        .args(["push", file.to_str().unwrap(), &reference])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    assert!(!text(&output).contains(password));
    // Without the helper on PATH: a clear failure naming it.
    let output = oci.pipe(&reference, b"x\n", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert_mentions(
        &text(&output),
        &["credentials for", "credential helper", "PATH"],
    );
}

#[test]
fn pulls_killed_at_any_moment_leave_only_whole_checked_files() {
    // The largest plugin (a Python one, ~18 MB) keeps a pull busy long
    // enough for kills to land before, during and after its download.
    let oci = Oci::start("killed");
    let digest = oci.push("uppercase-py", "yell/uppercase-py:v1");
    let reference = oci
        .registry
        .reference(&format!("yell/uppercase-py@{digest}"));
    // How long a whole pull takes here, to spread the kills over it.
    let started = Instant::now();
    let output = oci.run(&["pull", &reference]);
    assert!(output.status.success(), "{}", text(&output));
    let whole_pull = started.elapsed();
    let mut killed_before_done = 0;
    let fractions = [0.02, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.2];
    for (round, fraction) in fractions.into_iter().enumerate() {
        let delay = whole_pull.mul_f64(fraction);
        let delay_ms = delay.as_millis();
        let cache = oci.cache.with_file_name(format!("cache-{round}"));
        let mut pull = oci
            .command()
            .args(["pull", "--oci-cache", cache.to_str().unwrap(), &reference])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = pull.kill();
        pull.wait().unwrap();
        let mut whole = 0;
        for folder in ["blobs/sha256", "manifests/sha256", "tags"] {
            let Ok(entries) = std::fs::read_dir(cache.join(folder)) else {
                continue;
            };
            for path in entries.flatten().map(|entry| entry.path()) {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                if name.starts_with(".partial-") {
                    continue;
                }
                if folder == "blobs/sha256" {
                    // Under its digest's name, a blob is whole: its bytes
                    // hash to that name.
                    assert_eq!(
                        sha256_of(&path),
                        format!("sha256:{name}"),
                        "{} after a kill at {delay_ms} ms",
                        path.display()
                    );
                    whole += 1;
                } else {
                    // A manifest or tag record is complete JSON.
                    let bytes = std::fs::read(&path).unwrap();
                    serde_json::from_slice::<serde_json::Value>(&bytes)
                        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
                }
            }
        }
        if whole == 0 {
            killed_before_done += 1;
        }
        // With the registry in reach, the next pull completes what the
        // killed one began.
        let output = oci.run(&["pull", "--oci-cache", cache.to_str().unwrap(), &reference]);
        assert!(output.status.success(), "{}", text(&output));
    }
    eprintln!(
        "a whole pull took {} ms; kills that landed before a whole blob: {killed_before_done} of {}",
        whole_pull.as_millis(),
        fractions.len()
    );
    assert!(
        killed_before_done > 0,
        "no kill landed before the download ended"
    );
}
