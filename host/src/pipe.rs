//! `yell-host pipe`: lines from stdin through a plugin (or a chain) to
//! stdout, with no server: the natural way to try a plugin, or to test it
//! in any language's CI.
//!
//! The output is byte for byte what a client would receive that sent stdin
//! and then closed: the greeting, each line's replies with its own line
//! ending (`\n` or `\r\n`, none for a final unterminated line), `ERR
//! plugin: ...` for a line that failed, and the last words. Each failure is
//! also reported on stderr with its line number, and the exit code is 1 if
//! any line failed.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::BytesMut;
use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::framing::{encode_replies, push_error_line, write_error_text, BatchReplies, LineFramer};
use crate::limits::{parse_byte_size, PluginLimits};
use crate::plugin::cache::CompileCache;
use crate::plugin::chain::Pipeline;
use crate::plugin::locate::locate_chain;
use crate::plugin::provenance::TrustPolicy;
use crate::plugin::spec::{chain_specs, largest_memory, ConfigEntry, SandboxArgs};
use crate::plugin::PluginRuntime;

/// The connection id the plugin sees.
const CONNECTION: u64 = 1;

/// How much of stdin is read at a time: one batch for the plugin.
const READ_CHUNK: usize = 64 * 1024;

/// Options of `yell-host pipe`.
#[derive(Debug, Clone, Args)]
pub struct PipeArgs {
    /// The plugin: a path or a bare name in the plugin folder; given
    /// several times, a chain (as the server's `--plugin`).
    #[arg(short, long, default_value = "uppercase.wasm")]
    pub plugin: Vec<PathBuf>,

    /// Configuration handed to a plugin at init, as the server's:
    /// [NAME:]KEY=VALUE.
    #[arg(long = "plugin-config", value_name = "[NAME:]KEY=VALUE", value_parser = ConfigEntry::parse)]
    pub plugin_config: Vec<ConfigEntry>,

    /// Where bare plugin names are looked up.
    #[arg(long, env = "YELL_PLUGIN_DIR")]
    pub plugin_dir: Option<PathBuf>,

    /// Longest line accepted, without the line ending.
    #[arg(long, default_value = "64KiB", value_parser = parse_byte_size)]
    pub max_line_length: usize,

    /// What plugins are granted beyond the sandbox, and their limits (as
    /// the server's).
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// A file's lines take longer than a network batch: a second of running
/// time per call unless `--plugin-timeout` says otherwise.
const DEFAULT_PLUGIN_TIMEOUT: Duration = Duration::from_secs(1);

/// Failures seen on the way, for the exit code.
#[derive(Default)]
struct Failures {
    count: u64,
}

impl Failures {
    fn report(&mut self, what: std::fmt::Arguments<'_>) {
        self.count += 1;
        eprintln!("yell-host pipe: {what}");
    }
}

impl PipeArgs {
    pub async fn execute(self) -> Result<()> {
        let paths = locate_chain(&self.plugin, self.plugin_dir.as_deref())?;
        let mut specs = chain_specs(paths, &self.plugin_config, "--plugin-config")?;
        let memory_bytes = self.sandbox.apply(&mut specs)?;
        let (call_timeout, wall_timeout) = self
            .sandbox
            .time_limits(&mut specs, DEFAULT_PLUGIN_TIMEOUT)?;
        let limits = PluginLimits {
            call_timeout,
            wall_timeout,
            memory_bytes,
            largest_memory_bytes: largest_memory(&specs, memory_bytes),
            ..PluginLimits::default()
        };
        let runtime =
            PluginRuntime::new(limits, CompileCache::open_default(), TrustPolicy::default())?;
        let pipeline = Pipeline::load(&runtime, &specs)?;
        let framer = LineFramer::new(self.max_line_length);
        let mut failures = Failures::default();
        let mut stdin = tokio::io::stdin();
        let mut stdout = tokio::io::stdout();
        let mut out = Vec::new();

        match pipeline.connection_opened(CONNECTION).await {
            Ok(greeting) => out.extend_from_slice(&greeting),
            Err(error) => {
                failures.report(format_args!("greeting: {error}"));
                push_error_line(&mut out, &format!("plugin: {error}"));
            }
        }
        let mut buffer = BytesMut::with_capacity(READ_CHUNK);
        // Lines answered so far: the next line's number is this plus one.
        let mut line_number = 0u64;
        let mut eof = false;
        let mut too_long = false;
        while !eof && !too_long {
            buffer.reserve(READ_CHUNK);
            eof = stdin.read_buf(&mut buffer).await.context("reading stdin")? == 0;
            loop {
                let mut batch = match framer.next_batch(&buffer, eof) {
                    Ok(Some(batch)) => batch,
                    Ok(None) => break,
                    Err(error) => {
                        failures.report(format_args!("line {}: {error}", line_number + 1));
                        push_error_line(&mut out, &error.to_string());
                        too_long = true;
                        break;
                    }
                };
                let consumed = buffer.split_to(batch.consumed).freeze();
                let input = batch.take_plugin_input(&consumed);
                let first = line_number + 1;
                line_number += batch.lines as u64;
                match pipeline.transform_batch(CONNECTION, input).await {
                    Ok(reply) => {
                        let failed: Vec<(u32, String)> = reply
                            .errors
                            .into_iter()
                            .map(|error| (error.line, error.message))
                            .collect();
                        let replies = BatchReplies {
                            output: &reply.output,
                            ends: &reply.ends,
                            failed: &failed,
                        };
                        let encoded = encode_replies(
                            &batch,
                            replies,
                            false,
                            |_, message, out| write_error_text(out, &format!("plugin: {message}")),
                            &mut out,
                        );
                        match encoded {
                            Ok(()) => {
                                for (index, message) in &failed {
                                    let number = first + u64::from(*index);
                                    failures.report(format_args!("line {number}: {message}"));
                                }
                            }
                            Err(malformed) => {
                                failures.report(format_args!(
                                    "{}: plugin: {malformed}",
                                    span(first, line_number)
                                ));
                                push_error_line(&mut out, &format!("plugin: {malformed}"));
                            }
                        }
                    }
                    Err(error) => {
                        failures.report(format_args!(
                            "{}: plugin: {error}",
                            span(first, line_number)
                        ));
                        push_error_line(&mut out, &format!("plugin: {error}"));
                    }
                }
                stdout.write_all(&out).await.context("writing stdout")?;
                out.clear();
            }
        }
        // As the server: a connection closed after a line too long gets no
        // last words, but the plugin still hears of its end.
        let closed = pipeline.connection_closed(CONNECTION).await;
        match closed {
            _ if too_long => {}
            Ok(last_words) => out.extend_from_slice(&last_words),
            Err(error) => {
                failures.report(format_args!("last words: {error}"));
                push_error_line(&mut out, &format!("plugin: {error}"));
            }
        }
        stdout.write_all(&out).await.context("writing stdout")?;
        stdout.flush().await.context("writing stdout")?;
        drop(pipeline);
        drop(runtime);
        if failures.count > 0 {
            anyhow::bail!(
                "{} failure{} (see above)",
                failures.count,
                if failures.count == 1 { "" } else { "s" }
            );
        }
        Ok(())
    }
}

/// `line N` or `lines N-M`.
fn span(first: u64, last: u64) -> String {
    if first == last {
        format!("line {first}")
    } else {
        format!("lines {first}-{last}")
    }
}
