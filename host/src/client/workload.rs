//! What the load client sends, and what it expects back.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::limits::PluginLimits;
use crate::plugin::cache::CompileCache;
use crate::plugin::chain::Pipeline;
use crate::plugin::locate::locate_chain;
use crate::plugin::provenance::TrustPolicy;
use crate::plugin::spec::{chain_specs, ConfigEntry};
use crate::plugin::PluginRuntime;
use crate::slow_lane::block_on;

/// The lines to send, taken in turn, each with the reply it must get.
pub struct Workload {
    /// Each line with its '\n'.
    pub lines: Vec<Vec<u8>>,
    /// Per line, the exact reply bytes (all its reply lines, each with its
    /// '\n') and how many reply lines that is; `None` when replies are not
    /// verified (each line is then expected to get one reply line).
    pub expected: Option<Vec<Expected>>,
}

/// The reply one line must get.
pub struct Expected {
    pub bytes: Vec<u8>,
    pub lines: usize,
}

impl Workload {
    /// Reads the lines of `file`, one message per line (empty lines too).
    pub fn read_message_file(file: &Path) -> Result<Vec<Vec<u8>>> {
        let bytes = std::fs::read(file)
            .with_context(|| format!("cannot read the message file {}", file.display()))?;
        let body = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
        let lines: Vec<Vec<u8>> = body
            .split(|&b| b == b'\n')
            .map(|line| line.strip_suffix(b"\r").unwrap_or(line).to_vec())
            .collect();
        if bytes.is_empty() {
            bail!("the message file {} is empty", file.display());
        }
        Ok(lines)
    }

    /// Builds the workload from the messages (without line endings). With a
    /// plugin, the expected replies are computed by running that same
    /// plugin component here: exactly what a server running it must answer,
    /// as long as the plugin's answer depends only on the line.
    pub fn new(messages: Vec<Vec<u8>>, expect: Option<ExpectedPlugins<'_>>) -> Result<Self> {
        if messages.iter().any(|m| m.contains(&b'\n')) {
            bail!("a message must be one line");
        }
        let lines: Vec<Vec<u8>> = messages
            .iter()
            .map(|m| [m.as_slice(), b"\n"].concat())
            .collect();
        let expected = match expect {
            None => None,
            Some(expect) => {
                // The runtime keeps the plugins' call deadlines ticking.
                let (_runtime, plugins) = expect.load()?;
                let shown = plugins.name();
                let mut expected = Vec::with_capacity(lines.len());
                for line in &lines {
                    let input = bytes::Bytes::copy_from_slice(line);
                    let reply = block_on(plugins.transform_batch(0, input)).map_err(|error| {
                        anyhow::anyhow!(
                            "the expected-reply plugin {shown} failed on {:?}: {error}",
                            String::from_utf8_lossy(line)
                        )
                    })?;
                    if let Some(error) = reply.errors.first() {
                        bail!(
                            "the expected-reply plugin {shown} refuses {:?}: {}",
                            String::from_utf8_lossy(line),
                            error.message
                        );
                    }
                    let count = reply.output.iter().filter(|&&b| b == b'\n').count();
                    if count == 0 {
                        bail!(
                            "the expected-reply plugin {shown} answers {:?} with nothing; the client needs a reply to every line it sends",
                            String::from_utf8_lossy(line)
                        );
                    }
                    expected.push(Expected {
                        bytes: reply.output,
                        lines: count,
                    });
                }
                Some(expected)
            }
        };
        Ok(Workload { lines, expected })
    }

    /// How many reply lines line `index` gets.
    pub fn reply_lines(&self, index: usize) -> usize {
        match &self.expected {
            Some(expected) => expected[index].lines,
            None => 1,
        }
    }

    /// Average bytes sent per line.
    pub fn mean_line_bytes(&self) -> f64 {
        self.lines.iter().map(Vec::len).sum::<usize>() as f64 / self.lines.len() as f64
    }
}

/// The plugins a server is expected to run, to compute the right replies.
pub struct ExpectedPlugins<'a> {
    pub chain: &'a [PathBuf],
    pub config: &'a [ConfigEntry],
    pub plugin_dir: Option<&'a Path>,
}

impl ExpectedPlugins<'_> {
    fn load(&self) -> Result<(PluginRuntime, Pipeline)> {
        let paths = locate_chain(self.chain, self.plugin_dir)?;
        let specs = chain_specs(paths, self.config, "--expect-config")?;
        let runtime = PluginRuntime::new(
            PluginLimits::default(),
            CompileCache::open_default(),
            TrustPolicy::default(),
        )?;
        let pipeline = Pipeline::load(&runtime, &specs)?;
        Ok((runtime, pipeline))
    }
}
