//! What the load client sends, and what it expects back.
//!
//! Owns: [`Workload`]: the lines sent and the replies expected. Uses: the runtime, to
//! compute the expected replies.

use std::path::Path;

use anyhow::{bail, Context, Result};
use yell_runtime::{
    block_on, CompileCache, Pipeline, PluginLimits, PluginRuntime, PluginSpec, TrustPolicy,
};

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
    pub fn new(messages: Vec<Vec<u8>>, expect: Option<&[PluginSpec]>) -> Result<Self> {
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
                let (_runtime, plugins) = load_expected(expect)?;
                let shown = plugins.name();
                let mut expected = Vec::with_capacity(lines.len());
                for line in &lines {
                    let input = bytes::Bytes::copy_from_slice(line);
                    let reply =
                        block_on(plugins.transform_batch(0, input, 1)).map_err(|error| {
                            anyhow::anyhow!(
                                "the expected-reply plugin {shown} failed on {:?}: {error}",
                                String::from_utf8_lossy(line)
                            )
                        })?;
                    let reply = reply.into_inner();
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

    /// The lines laid out for bursts of up to `depth` lines.
    pub fn line_runs(&self, depth: usize) -> Option<Runs> {
        Runs::new(self.lines.iter().map(Vec::as_slice), depth)
    }

    /// The expected replies laid out for bursts of up to `depth` lines.
    pub fn reply_runs(&self, depth: usize) -> Option<Runs> {
        let expected = self.expected.as_ref()?;
        // Laid end to end, replies are told apart only by their line ends.
        if !expected.iter().all(|reply| reply.bytes.ends_with(b"\n")) {
            return None;
        }
        Runs::new(expected.iter().map(|reply| reply.bytes.as_slice()), depth)
    }

    /// Average bytes sent per line.
    pub fn mean_line_bytes(&self) -> f64 {
        self.lines.iter().map(Vec::len).sum::<usize>() as f64 / self.lines.len() as f64
    }
}

/// Most bytes [`Runs`] lays out; past it, bursts are built and replies
/// checked line by line.
const MAX_RUNS_BYTES: usize = 16 << 20;

/// A rotation of byte strings (the lines sent, or their expected replies)
/// laid end to end, on past the end of the rotation as far as one burst
/// reaches, so that any burst of consecutive ones is one slice: a burst is
/// written and its replies checked with one copy and one comparison
/// instead of one per line.
pub struct Runs {
    bytes: Vec<u8>,
    /// Where each string starts in `bytes`, and where the last one ends.
    starts: Vec<usize>,
    /// How many strings the rotation has.
    rotation: usize,
}

impl Runs {
    /// Lays out `items` for bursts of up to `reach` of them, or `None` when
    /// that would take more than [`MAX_RUNS_BYTES`].
    pub fn new<'a, I>(items: I, reach: usize) -> Option<Runs>
    where
        I: ExactSizeIterator<Item = &'a [u8]> + Clone,
    {
        let rotation = items.len();
        if rotation == 0 {
            return None;
        }
        let count = rotation.checked_add(reach)?;
        let rotation_bytes: usize = items.clone().map(<[u8]>::len).sum();
        let laps = count.div_ceil(rotation);
        if rotation_bytes.checked_mul(laps)? > MAX_RUNS_BYTES {
            return None;
        }
        let mut bytes = Vec::with_capacity(rotation_bytes * laps);
        let mut starts = Vec::with_capacity(count + 1);
        for item in items.cycle().take(count) {
            starts.push(bytes.len());
            bytes.extend_from_slice(item);
        }
        starts.push(bytes.len());
        Some(Runs {
            bytes,
            starts,
            rotation,
        })
    }

    /// The `count` strings from `first` on (in rotation) as one slice, if
    /// they are laid out that far.
    pub fn run(&self, first: usize, count: usize) -> Option<&[u8]> {
        let end = first.checked_add(count)?;
        if first >= self.rotation || end >= self.starts.len() {
            return None;
        }
        Some(&self.bytes[self.starts[first]..self.starts[end]])
    }
}

/// Loads the chain a server is expected to run, to compute the right
/// replies.
fn load_expected(specs: &[PluginSpec]) -> Result<(PluginRuntime, Pipeline)> {
    let runtime = PluginRuntime::new(
        PluginLimits::default(),
        CompileCache::open_default(),
        TrustPolicy::default(),
    )?;
    let pipeline = Pipeline::load(&runtime, specs)?;
    Ok((runtime, pipeline))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_burst_of_the_rotation_is_one_slice() {
        let items: [&[u8]; 3] = [b"a\n", b"bb\n", b"ccc\n"];
        let runs = Runs::new(items.iter().copied(), 4).unwrap();
        assert_eq!(runs.run(0, 1).unwrap(), b"a\n");
        assert_eq!(runs.run(2, 4).unwrap(), b"ccc\na\nbb\nccc\n");
        assert_eq!(runs.run(1, 4).unwrap(), b"bb\nccc\na\nbb\n");
        assert_eq!(runs.run(0, 0).unwrap(), b"");
        assert_eq!(runs.run(2, 5).unwrap(), b"ccc\na\nbb\nccc\na\n");
        // Past what is laid out, or outside the rotation: none.
        assert!(runs.run(2, 6).is_none());
        assert!(runs.run(3, 1).is_none());
        assert!(Runs::new(std::iter::empty::<&[u8]>(), 4).is_none());
    }

    #[test]
    fn a_rotation_too_large_to_lay_out_is_not() {
        let line = vec![b'x'; 1 << 20];
        assert!(Runs::new(std::iter::once(line.as_slice()), 15).is_some());
        assert!(Runs::new(std::iter::once(line.as_slice()), 16).is_none());
    }
}
