//! Knowing what runs: each plugin's SHA-256 is logged and exposed; a plugin
//! pinned by digest (`--plugin-sha256`) or required to be signed
//! (`--trusted-key`) refuses other content at start and at every swap,
//! and the plugin serving stays.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::harness;
use crate::harness::{
    assert_mentions, deploy_by_rename, http_get, plugin_bytes, read_line, refused, refused_with,
    ServerProcess,
};

/// Copies the built plugin `name` to `dir/live.wasm`.
fn live_copy(dir: &Path, name: &str) -> PathBuf {
    let live = dir.join("live.wasm");
    deploy_by_rename(&live, &plugin_bytes(name));
    live
}

/// The digest as `sha256sum` prints it: a check independent of ours.
fn sha256_hex(path: &Path) -> String {
    let output = Command::new("sha256sum").arg(path).output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()[..64].to_string()
}

/// Runs `yell-host ARGS` (a command other than serve) to its end.
fn yell(args: &[&str]) -> Output {
    let output = harness::yell_host().args(args).output().unwrap();
    eprintln!(
        "yell-host {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `yell-host keygen DIR/NAME`: returns the private and public key paths.
fn keygen(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let private = dir.join(name);
    let output = yell(&["keygen", private.to_str().unwrap()]);
    assert!(output.status.success());
    (
        private.clone(),
        PathBuf::from(format!("{}.pub", private.display())),
    )
}

fn sign(key: &Path, plugin: &Path) {
    let output = yell(&[
        "sign",
        "--key",
        key.to_str().unwrap(),
        plugin.to_str().unwrap(),
    ]);
    assert!(output.status.success());
}

fn answers(server: &ServerProcess, line: &str) -> String {
    let mut stream = server.connect();
    stream.write_all(format!("{line}\n").as_bytes()).unwrap();
    read_line(&mut stream).trim_end().to_string()
}

#[test]
fn every_load_logs_and_exposes_the_sha256_of_what_serves() {
    let dir = harness::scratch("provenance", "exposed");
    let live = live_copy(&dir, "uppercase");
    let digest = sha256_hex(&live);
    let server = ServerProcess::start_logging(
        &[
            "--plugin",
            live.to_str().unwrap(),
            "--metrics-addr",
            "127.0.0.1:0",
        ],
        "info",
    );
    let admin = server.metrics_addr();
    server.wait_for_log(&["plugin", "live.wasm", &format!("sha256 {digest}")]);
    let (status, body) = http_get(admin, "/plugins");
    assert!(status.contains("200"), "{status}");
    let plugins: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(plugins["generation"], 1);
    assert_eq!(plugins["plugins"][0]["name"], "live");
    assert_eq!(plugins["plugins"][0]["sha256"], digest.as_str());
    let (_, metrics) = http_get(admin, "/metrics");
    assert_mentions(
        &metrics,
        &[&format!(
            "yell_plugin_info{{plugin=\"live\",position=\"1\",sha256=\"{digest}\"}} 1"
        )],
    );

    // A swap logs and exposes the new content; the old series is gone.
    deploy_by_rename(&live, &plugin_bytes("reverse"));
    let swapped = sha256_hex(&live);
    server.wait_for_log(&[&format!("sha256 {swapped}")]);
    server.wait_for_log(&["plugin generation 2 serving"]);
    let (_, body) = http_get(admin, "/plugins");
    let plugins: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(plugins["generation"], 2);
    assert_eq!(plugins["plugins"][0]["sha256"], swapped.as_str());
    let (_, metrics) = http_get(admin, "/metrics");
    assert!(metrics.contains(&swapped), "{metrics}");
    assert!(!metrics.contains(&digest), "{metrics}");
}

#[test]
fn a_pinned_plugin_refuses_other_content_at_start_and_at_swap() {
    let dir = harness::scratch("provenance", "pinned");
    let live = live_copy(&dir, "uppercase");
    let digest = sha256_hex(&live);
    let reverse_digest = {
        let other = dir.join("reverse.wasm");
        std::fs::write(&other, plugin_bytes("reverse")).unwrap();
        sha256_hex(&other)
    };
    let plugin = live.to_str().unwrap();

    // The wrong digest: refused before listening, saying both digests.
    let pin = format!("live:{reverse_digest}");
    let stderr = refused(&["--plugin", plugin, "--plugin-sha256", &pin]);
    assert_mentions(
        &stderr,
        &["live.wasm", "content refused", &digest, &reverse_digest],
    );
    // Not a digest, or a plugin not in the chain: refused too.
    let stderr = refused_with(2, &["--plugin", plugin, "--plugin-sha256", "live:1234"]);
    assert_mentions(&stderr, &["--plugin-sha256", "64 hex digits"]);
    let pin = format!("other:{digest}");
    let stderr = refused(&["--plugin", plugin, "--plugin-sha256", &pin]);
    assert_mentions(&stderr, &["no plugin named \"other\""]);

    // The right digest (uppercase hex works too) serves.
    let pin = format!("live:{}", digest.to_uppercase());
    let server =
        ServerProcess::start_logging(&["--plugin", plugin, "--plugin-sha256", &pin], "info");
    server.wait_for_log(&[&format!("sha256 {digest} (matches its pin)")]);
    assert_eq!(answers(&server, "hello"), "HELLO");

    // Other content at a swap: refused, logged, the old plugin serves on.
    deploy_by_rename(&live, &plugin_bytes("reverse"));
    let logged = server.wait_for_log(&["reload failed", "generation 1 keeps serving"]);
    assert_mentions(&logged, &["content refused", &reverse_digest]);
    assert_eq!(answers(&server, "hello"), "HELLO");
    // SIGHUP reloads the same way.
    server.signal(libc::SIGHUP);
    server.wait_for_log(&["SIGHUP: reload failed", "content refused"]);
    assert_eq!(answers(&server, "hello"), "HELLO");
    // The pinned content back: it loads again.
    deploy_by_rename(&live, &plugin_bytes("uppercase"));
    server.signal(libc::SIGHUP);
    server.wait_for_log(&["SIGHUP: plugin generation 2 serving"]);
    assert_eq!(answers(&server, "hello"), "HELLO");
}

#[test]
fn a_plugin_without_a_valid_signature_is_refused() {
    let dir = harness::scratch("provenance", "unsigned");
    let live = live_copy(&dir, "uppercase");
    let (key, public) = keygen(&dir, "release");
    let (other_key, _) = keygen(&dir, "stranger");
    let plugin = live.to_str().unwrap();
    let trusted = public.to_str().unwrap();
    let sig = dir.join("live.wasm.sig");

    let stderr = refused(&["--plugin", plugin, "--trusted-key", trusted]);
    assert_mentions(&stderr, &["content refused", "not signed", "live.wasm.sig"]);

    // Signed by a key that is not trusted.
    sign(&other_key, &live);
    let stderr = refused(&["--plugin", plugin, "--trusted-key", trusted]);
    assert_mentions(&stderr, &["is not a signature of this content"]);

    // Signed by the trusted key, but over other content.
    let other = dir.join("reverse.wasm");
    std::fs::write(&other, plugin_bytes("reverse")).unwrap();
    sign(&key, &other);
    std::fs::copy(dir.join("reverse.wasm.sig"), &sig).unwrap();
    let stderr = refused(&["--plugin", plugin, "--trusted-key", trusted]);
    assert_mentions(&stderr, &["is not a signature of this content"]);

    // A good signature with one bit flipped.
    sign(&key, &live);
    let mut text = std::fs::read_to_string(&sig).unwrap();
    let flipped = if text.starts_with('0') { "1" } else { "0" };
    text.replace_range(0..1, flipped);
    std::fs::write(&sig, text).unwrap();
    let stderr = refused(&["--plugin", plugin, "--trusted-key", trusted]);
    assert_mentions(&stderr, &["is not a signature of this content"]);

    // Not a signature at all; an unreadable key.
    std::fs::write(&sig, "hello\n").unwrap();
    let stderr = refused(&["--plugin", plugin, "--trusted-key", trusted]);
    assert_mentions(&stderr, &["neither 64 raw bytes nor 128 hex digits"]);
    let stderr = refused(&["--plugin", plugin, "--trusted-key", key.to_str().unwrap()]);
    assert_mentions(&stderr, &["is a private key"]);
    let stderr = refused(&["--plugin", plugin, "--trusted-key", plugin]);
    assert_mentions(&stderr, &["trusted key", "cannot read it"]);

    // Properly signed: it serves.
    sign(&key, &live);
    let server =
        ServerProcess::start_logging(&["--plugin", plugin, "--trusted-key", trusted], "info");
    server.wait_for_log(&["sha256", "signed by key"]);
    assert_eq!(answers(&server, "hello"), "HELLO");
}

#[test]
fn a_signed_swap_succeeds_and_an_unsigned_one_is_refused() {
    let dir = harness::scratch("provenance", "signed-swap");
    let live = live_copy(&dir, "uppercase");
    let (key, public) = keygen(&dir, "release");
    sign(&key, &live);
    let server = ServerProcess::start_logging(
        &[
            "--plugin",
            live.to_str().unwrap(),
            "--trusted-key",
            public.to_str().unwrap(),
        ],
        "info",
    );
    assert_eq!(answers(&server, "hello"), "HELLO");

    // New content, old signature: refused, the old plugin serves on.
    deploy_by_rename(&live, &plugin_bytes("reverse"));
    server.wait_for_log(&["reload failed", "is not a signature of this content"]);
    assert_eq!(answers(&server, "hello"), "HELLO");
    // Its signature arrives: that completes the pair, and it swaps.
    sign(&key, &live);
    server.wait_for_log(&["plugin generation 2 serving"]);
    assert_eq!(answers(&server, "hello"), "olleh");

    // The other order: signature first (the serving plugin stays, since
    // its content did not change), then the plugin.
    let staged = dir.join("staged.wasm");
    std::fs::write(&staged, plugin_bytes("uppercase")).unwrap();
    sign(&key, &staged);
    std::fs::copy(dir.join("staged.wasm.sig"), dir.join("live.wasm.sig.new")).unwrap();
    std::fs::rename(dir.join("live.wasm.sig.new"), dir.join("live.wasm.sig")).unwrap();
    deploy_by_rename(&live, &plugin_bytes("uppercase"));
    server.wait_for_log(&["plugin generation 3 serving"]);
    assert_eq!(answers(&server, "hello"), "HELLO");

    // A signature removed later does not unload what serves; a reload that
    // reads the files again is refused.
    std::fs::remove_file(dir.join("live.wasm.sig")).unwrap();
    server.signal(libc::SIGHUP);
    server.wait_for_log(&["SIGHUP: reload failed", "not signed"]);
    assert_eq!(answers(&server, "hello"), "HELLO");
}

#[test]
fn keys_and_signatures_work_with_openssl() {
    let dir = harness::scratch("provenance", "openssl");
    let live = live_copy(&dir, "uppercase");
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .status()
            .expect("openssl (Debian package openssl) is needed for this test");
        assert!(status.success(), "openssl {args:?}");
    };
    // A key made by openssl, a signature made by openssl over the digest.
    openssl(&["genpkey", "-algorithm", "ed25519", "-out", "key.pem"]);
    openssl(&["pkey", "-in", "key.pem", "-pubout", "-out", "key.pub"]);
    openssl(&[
        "dgst",
        "-sha256",
        "-binary",
        "-out",
        "live.digest",
        "live.wasm",
    ]);
    openssl(&[
        "pkeyutl",
        "-sign",
        "-inkey",
        "key.pem",
        "-rawin",
        "-in",
        "live.digest",
        "-out",
        "live.wasm.sig",
    ]);
    let trusted = dir.join("key.pub");
    let server = ServerProcess::start(&[
        "--plugin",
        live.to_str().unwrap(),
        "--trusted-key",
        trusted.to_str().unwrap(),
    ]);
    assert_eq!(answers(&server, "hello"), "HELLO");
    drop(server);
    // openssl's key signs with `yell-host sign`; openssl verifies the result.
    sign(&dir.join("key.pem"), &live);
    let hex = std::fs::read_to_string(dir.join("live.wasm.sig")).unwrap();
    let raw: Vec<u8> = (0..128)
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap())
        .collect();
    std::fs::write(dir.join("live.wasm.sig.raw"), raw).unwrap();
    openssl(&[
        "pkeyutl",
        "-verify",
        "-pubin",
        "-inkey",
        "key.pub",
        "-rawin",
        "-in",
        "live.digest",
        "-sigfile",
        "live.wasm.sig.raw",
    ]);
}

#[test]
fn keygen_keeps_private_keys_private_and_never_overwrites() {
    use std::os::unix::fs::PermissionsExt;
    let dir = harness::scratch("provenance", "keygen");
    let (private, public) = keygen(&dir, "k");
    let mode = std::fs::metadata(&private).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let before = std::fs::read(&private).unwrap();
    let again = yell(&["keygen", private.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    assert_eq!(std::fs::read(&private).unwrap(), before);
    assert!(std::fs::read_to_string(&public)
        .unwrap()
        .starts_with("-----BEGIN PUBLIC KEY-----"));
    // Signing a file that is not there, or with a public key, fails clearly.
    let missing = yell(&["sign", "--key", private.to_str().unwrap(), "nowhere.wasm"]);
    assert!(!missing.status.success());
    let with_public = yell(&[
        "sign",
        "--key",
        public.to_str().unwrap(),
        private.to_str().unwrap(),
    ]);
    assert!(!with_public.status.success());
    assert!(String::from_utf8_lossy(&with_public.stderr).contains("is not an ed25519 private key"));
}
