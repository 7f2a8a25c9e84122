//! Fixtures: `NAME.in` sent through the plugin on a connection of its
//! own, and what came back (greeting, replies, last words) compared byte
//! for byte with `NAME.out`. Optional beside them: `NAME.config` (KEY=VALUE
//! lines, `#` comments, added to the plugin's configuration), `NAME.peer`
//! (the client address the plugin sees, `IP:PORT`) and `NAME.framing`
//! (`lines`, the default, or `raw`).
//!
//! Owns: finding, reading and running fixtures. Uses: the report's case.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use yell_runtime::{Framing, LineFramer, LineSession, Pipeline, PluginRuntime, PluginSpec};

use super::report::CaseResult;

/// The connection id a fixture's conversation has (the conformance cases
/// use lower ones).
const CONNECTION: u64 = 1_000;

/// The address the server side of a fixture's connection has.
const LOCAL: &str = "127.0.0.1:1234";

/// The client address a plugin sees without a NAME.peer.
const DEFAULT_PEER: &str = "127.0.0.1:40000";

/// One fixture's files.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// NAME.
    pub name: String,
    /// NAME.in.
    pub input: PathBuf,
}

/// The fixtures of `dir` (every NAME.in), by name.
pub fn find(dir: &Path) -> Result<Vec<Fixture>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|extension| extension == "in") {
            if let Some(name) = path.file_stem().and_then(|stem| stem.to_str()) {
                found.push(Fixture {
                    name: name.to_string(),
                    input: path.clone(),
                });
            }
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    if found.is_empty() {
        bail!("--fixtures {}: no NAME.in files in it", dir.display());
    }
    Ok(found)
}

/// Runs `fixture` through `spec` (its configuration added).
pub async fn run(
    runtime: &PluginRuntime,
    spec: &PluginSpec,
    max_line_length: usize,
    fixture: &Fixture,
) -> CaseResult {
    let started = Instant::now();
    let outcome = check(runtime, spec, max_line_length, fixture).await;
    let (passed, detail) = match outcome {
        Ok(()) => (true, String::new()),
        Err(error) => (false, format!("{error:#}")),
    };
    CaseResult {
        suite: "fixture",
        name: fixture.name.clone(),
        passed,
        detail,
        time: started.elapsed(),
    }
}

async fn check(
    runtime: &PluginRuntime,
    spec: &PluginSpec,
    max_line_length: usize,
    fixture: &Fixture,
) -> Result<()> {
    let beside = |extension: &str| fixture.input.with_extension(extension);
    let input = std::fs::read(&fixture.input)
        .with_context(|| format!("reading {}", fixture.input.display()))?;
    let expected_path = beside("out");
    let expected = std::fs::read(&expected_path).with_context(|| {
        format!(
            "reading {} (what NAME.in must give)",
            expected_path.display()
        )
    })?;
    let mut spec = spec.clone();
    if let Some(text) = read_optional(&beside("config"))? {
        spec.config.extend(parse_config(&text, &beside("config"))?);
    }
    let peer: SocketAddr = match read_optional(&beside("peer"))? {
        Some(text) => text.trim().parse().with_context(|| {
            format!(
                "{}: not IP:PORT: {:?}",
                beside("peer").display(),
                text.trim()
            )
        })?,
        None => DEFAULT_PEER.parse().expect("a socket address"),
    };
    let framing = match read_optional(&beside("framing"))?.as_deref().map(str::trim) {
        None | Some("lines") => Framing::Lines,
        Some("raw") => Framing::Raw,
        Some(other) => bail!(
            "{}: framing {other:?}: `lines` or `raw`",
            beside("framing").display()
        ),
    };
    // A plugin of its own per fixture (the compile cache makes it cheap):
    // its configuration is the fixture's, and what an instance remembers
    // from one fixture cannot change another's output.
    let pipeline = Pipeline::load(runtime, std::slice::from_ref(&spec))?;
    let _open =
        runtime
            .connections()
            .open(CONNECTION, peer, LOCAL.parse().expect("a socket address"));
    let (actual, failures) = match framing {
        Framing::Lines => {
            let conversation = LineSession::converse(
                &pipeline,
                LineFramer::new(max_line_length),
                CONNECTION,
                &input,
            )
            .await;
            let failures: Vec<String> = conversation
                .failures
                .iter()
                .map(ToString::to_string)
                .collect();
            (conversation.output, failures)
        }
        Framing::Raw => raw_conversation(&pipeline, input).await,
    };
    if actual == expected {
        return Ok(());
    }
    let mut message = format!(
        "the output differs from {} (- expected, + actual):\n{}",
        expected_path.display(),
        diff(&expected, &actual)
    );
    if !failures.is_empty() {
        message.push_str(&format!("\nfailures on the way:\n{}", failures.join("\n")));
    }
    bail!(message)
}

/// A raw-framed conversation: the greeting, the whole input as one chunk,
/// the last words.
async fn raw_conversation(pipeline: &Pipeline, input: Vec<u8>) -> (Vec<u8>, Vec<String>) {
    let mut output = Vec::new();
    let mut failures = Vec::new();
    match pipeline.connection_opened(CONNECTION).await {
        Ok(greeting) => output.extend(greeting),
        Err(error) => failures.push(format!("greeting: {error}")),
    }
    match pipeline.transform_raw(CONNECTION, input.into()).await {
        Ok(reply) => output.extend(reply),
        Err(error) => failures.push(format!("chunk: plugin: {error}")),
    }
    match pipeline.connection_closed(CONNECTION).await {
        Ok(last_words) => output.extend(last_words),
        Err(error) => failures.push(format!("last words: {error}")),
    }
    (output, failures)
}

/// The file's text, or `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// KEY=VALUE lines; blank lines and `#` comments are skipped.
fn parse_config(text: &str, path: &Path) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for (number, line) in text.lines().enumerate() {
        // A value keeps its spaces (a prefix may end with one).
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            bail!("{}:{}: not KEY=VALUE: {line:?}", path.display(), number + 1);
        };
        pairs.push((key.trim().to_string(), value.to_string()));
    }
    Ok(pairs)
}

/// A line diff of two outputs, shown with their line endings and any byte
/// that is not printable escaped (`\r`, `\xff`), so that a difference of
/// bytes is seen.
fn diff(expected: &[u8], actual: &[u8]) -> String {
    let (expected, actual) = (escaped_lines(expected), escaped_lines(actual));
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    let actual: Vec<&str> = actual.iter().map(String::as_str).collect();
    let diff = similar::TextDiff::from_slices(&expected, &actual);
    let mut out = String::new();
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => '-',
            similar::ChangeTag::Insert => '+',
            similar::ChangeTag::Equal => ' ',
        };
        out.push_str(&format!("{sign} {}\n", change.value()));
    }
    out
}

/// Each line of `bytes`, with its ending, as printable text.
fn escaped_lines(bytes: &[u8]) -> Vec<String> {
    bytes
        .split_inclusive(|&byte| byte == b'\n')
        .map(|line| line.escape_ascii().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_lines_skip_comments_and_refuse_what_is_not_a_pair() {
        let path = Path::new("x.config");
        assert_eq!(
            parse_config("# comment\n\nshift=3\r\nword = a=b \n", path).unwrap(),
            vec![
                ("shift".into(), "3".into()),
                ("word".into(), " a=b ".into())
            ]
        );
        let error = parse_config("shift\n", path).unwrap_err().to_string();
        assert!(error.contains("x.config:1: not KEY=VALUE"), "{error}");
    }

    #[test]
    fn a_diff_shows_line_endings_and_bytes() {
        let shown = diff(b"same\nA\r\n", b"same\nA\n\xff");
        assert!(shown.contains("  same\\n"), "{shown}");
        assert!(shown.contains("- A\\r\\n"), "{shown}");
        assert!(shown.contains("+ A\\n"), "{shown}");
        assert!(shown.contains("+ \\xff"), "{shown}");
    }
}
