//! The deployment examples in `deploy/` are checked as far as this machine
//! can: HAProxy and systemd check their own files, the Kubernetes manifest
//! parses as YAML with the probes on the admin endpoint, and every
//! yell-host option any of them uses exists. (Building the Docker image and
//! applying the manifest need a registry and a cluster, which are not here.)

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness;

fn deploy(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(file)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Every `--option` yell-host's server accepts, from its help.
fn server_options() -> Vec<String> {
    let help = harness::yell_host()
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    help.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == ']')
        .filter(|word| word.starts_with("--"))
        .map(|word| word.split('=').next().unwrap().to_string())
        .collect()
}

/// The `--options` written in `text` (words starting with `--` followed by
/// a letter, quotes and commas removed).
fn options_in(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || c == '"' || c == ',')
        .filter(|word| {
            word.starts_with("--") && word[2..].starts_with(|c: char| c.is_ascii_lowercase())
        })
        .map(|word| word.split('=').next().unwrap().to_string())
        .collect()
}

fn assert_options_exist(file: &str, text: &str) {
    let known = server_options();
    for option in options_in(text) {
        assert!(known.contains(&option), "{file}: yell-host has no {option}");
    }
}

#[test]
fn haproxy_accepts_its_configuration() {
    let path = deploy("haproxy.cfg");
    let output = Command::new("haproxy")
        .args(["-c", "-f", path.to_str().unwrap()])
        .output()
        .expect("haproxy (Debian package haproxy; `just test` installs it)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{said}");
    assert!(!said.contains("WARNING"), "{said}");
    let config = read(&path);
    assert!(config.contains("send-proxy-v2"));
    assert!(config.contains("uri /readyz"));
    assert_options_exist("haproxy.cfg", &config);
}

#[test]
fn systemd_accepts_the_units() {
    // Verified as installed, with ExecStart pointing at this build.
    let dir = harness::scratch("deploy", "systemd");
    for unit in ["yell-host.socket", "yell-host.service"] {
        let text = read(&deploy(&format!("systemd/{unit}")))
            .replace("/usr/local/bin/yell-host", &harness::binary());
        std::fs::write(dir.join(unit), text).unwrap();
    }
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=false"])
        .arg(dir.join("yell-host.socket"))
        .arg(dir.join("yell-host.service"))
        .output()
        .expect("systemd-analyze (Debian package systemd)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success() && said.trim().is_empty(), "{said}");
    assert_options_exist(
        "yell-host.service",
        &read(&deploy("systemd/yell-host.service")),
    );
}

#[test]
fn the_kubernetes_manifest_parses_with_probes_on_the_admin_endpoint() {
    let args = check_kubernetes_manifest("kubernetes.yaml");
    assert!(args.iter().any(|arg| arg.ends_with(".wasm")), "{args:?}");
}

#[test]
fn the_kubernetes_registry_variant_pulls_by_digest_without_a_config_map() {
    let args = check_kubernetes_manifest("kubernetes-registry.yaml");
    let plugin = &args[args.iter().position(|a| a == "--plugin").unwrap() + 1];
    assert!(
        plugin.starts_with("oci://") && plugin.contains("@sha256:"),
        "{plugin}"
    );
    assert!(args.iter().any(|a| a == "--plugin-sha256"), "{args:?}");
    assert!(!read(&deploy("kubernetes-registry.yaml")).contains("configMap"));
}

/// Checks a Kubernetes manifest of `deploy/` (a Deployment and a Service,
/// probes on the admin endpoint, args the binary parses, a drain that fits
/// the pod's grace); its container's args.
fn check_kubernetes_manifest(name: &str) -> Vec<String> {
    let path = deploy(name);
    let script = r#"
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
print(json.dumps(docs))
"#;
    let output = Command::new("python3")
        .args(["-c", script, path.to_str().unwrap()])
        .output()
        .expect("python3 with PyYAML");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let docs: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["Deployment", "Service"]);
    let container = &docs[0]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_options_exist(name, &args.join(" "));
    // The container runs the image's ENTRYPOINT with these args: together
    // they must parse (an option given twice is refused).
    let mut command = dockerfile_json("ENTRYPOINT");
    command.extend(args.iter().map(|a| a.to_string()));
    assert_parses("ENTRYPOINT + kubernetes args", &command);
    // The grace outlasts the probe's notice; the pod's grace outlasts the drain.
    let grace = args[args.iter().position(|a| *a == "--drain-grace").unwrap() + 1];
    let probe = &container["readinessProbe"];
    let notice =
        probe["periodSeconds"].as_u64().unwrap() * probe["failureThreshold"].as_u64().unwrap();
    assert!(
        humantime_secs(grace) > notice,
        "--drain-grace {grace} vs {notice} s"
    );
    let timeout = args[args.iter().position(|a| *a == "--drain-timeout").unwrap() + 1];
    let pod_grace = docs[0]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    assert!(pod_grace > humantime_secs(timeout));
    args.iter().map(|arg| arg.to_string()).collect()
}

/// Whole seconds of a duration written like `6s`.
fn humantime_secs(text: &str) -> u64 {
    text.strip_suffix('s').unwrap().parse().unwrap()
}

#[test]
fn the_dockerfile_is_well_formed() {
    let text = read(&deploy("Dockerfile"));
    const INSTRUCTIONS: [&str; 18] = [
        "FROM",
        "RUN",
        "CMD",
        "LABEL",
        "EXPOSE",
        "ENV",
        "ADD",
        "COPY",
        "ENTRYPOINT",
        "VOLUME",
        "USER",
        "WORKDIR",
        "ARG",
        "ONBUILD",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "SHELL",
        "MAINTAINER",
    ];
    let mut stages = Vec::new();
    let mut continued = false;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || trimmed.is_empty() {
            continue;
        }
        if !continued {
            let instruction = trimmed.split_whitespace().next().unwrap();
            assert!(
                INSTRUCTIONS.contains(&instruction),
                "not an instruction: {line}"
            );
            if instruction == "FROM" {
                if let Some((_, stage)) = trimmed.split_once(" AS ") {
                    stages.push(stage.trim().to_string());
                }
            }
            if let Some(rest) = trimmed.strip_prefix("COPY --from=") {
                let stage = rest.split_whitespace().next().unwrap();
                assert!(
                    stages.iter().any(|s| s == stage),
                    "no stage {stage}: {line}"
                );
            }
        }
        continued = trimmed.ends_with('\\');
    }
    assert_eq!(stages, ["build"]);
    // The JSON-form ENTRYPOINT and CMD parse, and their options exist.
    let mut command = dockerfile_json("ENTRYPOINT");
    command.extend(dockerfile_json("CMD"));
    assert_options_exist("Dockerfile", &command.join(" "));
    assert_parses("ENTRYPOINT + CMD", &command);
}

/// The words of the Dockerfile's JSON-form `instruction`.
fn dockerfile_json(instruction: &str) -> Vec<String> {
    let text = read(&deploy("Dockerfile"));
    let start = text.find(&format!("\n{instruction} [")).unwrap() + instruction.len() + 2;
    let end = start + text[start..].find(']').unwrap() + 1;
    let json: String = text[start..end].replace("\\\n", " ");
    serde_json::from_str(&json).unwrap()
}

/// `command` (the binary, then its arguments) is accepted by yell-host's
/// option parser: checked by running it with `--help` added, which parses
/// everything and serves nothing.
fn assert_parses(what: &str, command: &[String]) {
    let output = harness::yell_host()
        .args(&command[1..])
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
