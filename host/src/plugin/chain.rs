//! A chain of plugins applied in order: the reply lines of one are the input
//! lines of the next. One [`Pipeline`] is one generation of the chain; a live
//! swap replaces the whole pipeline (see [`crate::reload`]).
//!
//! A connection's line can become zero, one or several lines at each stage,
//! so the replies of stage N are mapped back to the connection's input lines
//! ([`compose`]) before the framer restores line endings. A line fails if
//! any stage fails on it or on a line it became.

use std::sync::Arc;

use anyhow::Result;
use bytes::Bytes;

use super::spec::PluginSpec;
use super::{BatchReply, LineError, Plugin, PluginError, PluginRuntime};

/// One generation of the plugin chain.
pub struct Pipeline {
    generation: u64,
    stages: Vec<Arc<Plugin>>,
    /// The stages' names joined by arrows, for logs.
    name: String,
}

impl Pipeline {
    /// A chain of at least one plugin.
    pub fn new(generation: u64, stages: Vec<Arc<Plugin>>) -> Self {
        assert!(!stages.is_empty(), "a pipeline needs a plugin");
        let name = stages
            .iter()
            .map(|stage| stage.name())
            .collect::<Vec<_>>()
            .join(" → ");
        Pipeline {
            generation,
            stages,
            name,
        }
    }

    /// 1 for the chain loaded at start, one more for each live swap.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The plugins, in the order lines go through them.
    pub fn stages(&self) -> &[Arc<Plugin>] {
        &self.stages
    }

    /// `uppercase`, or `rot13 → uppercase` for a chain.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Idle instances pooled across the stages.
    pub fn idle_instances(&self) -> usize {
        self.stages.iter().map(|stage| stage.idle_instances()).sum()
    }

    /// Live instances (busy or idle) across the stages.
    pub fn live_instances(&self) -> usize {
        self.stages.iter().map(|stage| stage.live_instances()).sum()
    }

    /// Loads generation 1 of the chain `specs`.
    pub fn load(runtime: &PluginRuntime, specs: &[PluginSpec]) -> Result<Self> {
        let stages = specs
            .iter()
            .map(|spec| runtime.load(&spec.path, &spec.config).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        Ok(Pipeline::new(1, stages))
    }

    /// Transforms a batch of '\n'-ended lines through every stage; the
    /// reply's `ends` and `errors` refer to the lines of `lines`.
    pub async fn transform_batch(
        &self,
        conn: u64,
        lines: Bytes,
    ) -> Result<BatchReply, PluginError> {
        let mut reply = self.stage_batch(&self.stages[0], conn, lines).await?;
        for pair in self.stages.windows(2) {
            let (previous, stage) = (&pair[0], &pair[1]);
            if reply.output.is_empty() {
                // Everything was dropped (or failed): nothing for later stages.
                break;
            }
            let input_lines = check_lines(&reply.output)
                .and_then(|lines| check_ends(&reply).map(|()| lines))
                .map_err(|why| malformed(previous, why))?;
            let input = Bytes::from(std::mem::take(&mut reply.output));
            let next = self.stage_batch(stage, conn, input.clone()).await?;
            reply.output = input.into();
            reply = compose(&reply, input_lines, next).map_err(|why| malformed(stage, why))?;
        }
        Ok(reply)
    }

    /// One stage's reply to `lines`; in a chain, the errors of single lines
    /// name the stage (`ERR plugin: rot13: ...`).
    async fn stage_batch(
        &self,
        stage: &Plugin,
        conn: u64,
        lines: Bytes,
    ) -> Result<BatchReply, PluginError> {
        let mut reply = self.in_stage(stage, stage.transform_batch(conn, lines).await)?;
        if self.stages.len() > 1 {
            for error in &mut reply.errors {
                error.message = format!("{}: {}", stage.name(), error.message);
            }
        }
        Ok(reply)
    }

    /// Transforms a raw chunk through every stage; an empty result ends the
    /// chain early.
    pub async fn transform_raw(&self, conn: u64, chunk: Bytes) -> Result<Vec<u8>, PluginError> {
        let first = &self.stages[0];
        let mut out = self.in_stage(first, first.transform_raw(conn, chunk).await)?;
        for stage in &self.stages[1..] {
            if out.is_empty() {
                break;
            }
            let input = Bytes::from(out);
            out = self.in_stage(stage, stage.transform_raw(conn, input).await)?;
        }
        Ok(out)
    }

    /// In a chain, a failed call names the plugin that failed; a lone
    /// plugin needs no name.
    fn in_stage<R>(
        &self,
        stage: &Plugin,
        result: Result<R, PluginError>,
    ) -> Result<R, PluginError> {
        if self.stages.len() == 1 {
            return result;
        }
        result.map_err(|error| PluginError::InStage {
            stage: stage.name().into(),
            error: Box::new(error),
        })
    }

    /// The greetings of every stage, in chain order, as each wrote it (a
    /// greeting is for the client, not input for the next stage).
    pub async fn connection_opened(&self, conn: u64) -> Result<Vec<u8>, PluginError> {
        let mut greeting = Vec::new();
        for stage in &self.stages {
            let words = self.in_stage(stage, stage.connection_opened(conn).await)?;
            greeting.extend_from_slice(&words);
        }
        Ok(greeting)
    }

    /// Tells every stage the connection ended, even after one fails, so
    /// that all of them can forget it; their last words in chain order, or
    /// the first failure.
    pub async fn connection_closed(&self, conn: u64) -> Result<Vec<u8>, PluginError> {
        let mut last_words = Vec::new();
        let mut first_error = None;
        for stage in &self.stages {
            match self.in_stage(stage, stage.connection_closed(conn).await) {
                Ok(words) => last_words.extend_from_slice(&words),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(last_words),
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        // The last batch using this generation is done. Its plugins'
        // instances go with it, unless the next generation kept a plugin
        // whose file did not change.
        tracing::debug!("plugin generation {} retired", self.generation);
    }
}

fn malformed(stage: &Plugin, why: String) -> PluginError {
    PluginError::Refused(format!("malformed reply from {}: {why}", stage.name()))
}

/// The number of lines in `output`, which must be '\n'-ended lines to be
/// the next stage's input.
fn check_lines(output: &[u8]) -> Result<usize, String> {
    if output.last().is_some_and(|&b| b != b'\n') {
        return Err("the last reply line has no '\\n'".into());
    }
    Ok(memchr::memchr_iter(b'\n', output).count())
}

/// A stage's reply `ends` must be in order and within its output, or the
/// reply lines cannot be mapped back to the input lines.
fn check_ends(reply: &BatchReply) -> Result<(), String> {
    let in_order = reply.ends.windows(2).all(|pair| pair[0] <= pair[1]);
    let within = reply
        .ends
        .last()
        .is_none_or(|&end| end as usize <= reply.output.len());
    if in_order && within {
        Ok(())
    } else {
        Err("line ends out of order or past the output".into())
    }
}

/// Maps `next`, the reply of a stage to the `middle_lines` lines of
/// `before.output`, back onto the input lines `before` answered.
///
/// Input line `i` owned the middle lines its range of `before.output` holds;
/// its new range ends where the reply to its last middle line ends (or where
/// the previous range ended, if it had none). It fails if it failed before or
/// if `next` failed on any of its middle lines (the first message is kept).
pub fn compose(
    before: &BatchReply,
    middle_lines: usize,
    next: BatchReply,
) -> Result<BatchReply, String> {
    if next.ends.len() != middle_lines {
        return Err(format!(
            "{} line ends for {middle_lines} lines",
            next.ends.len()
        ));
    }
    if next.ends.windows(2).any(|w| w[0] > w[1])
        || next.ends.last().map_or(0, |&e| e as usize) != next.output.len()
    {
        return Err("line ends out of order or not covering the output".into());
    }
    // For each input line, how many middle lines come before its end.
    let mut middle_before_end = Vec::with_capacity(before.ends.len());
    let mut start = 0usize;
    let mut counted = 0usize;
    for &end in &before.ends {
        let end = (end as usize).min(before.output.len());
        counted += memchr::memchr_iter(b'\n', &before.output[start.min(end)..end]).count();
        middle_before_end.push(counted);
        start = end;
    }
    let ends = middle_before_end
        .iter()
        .map(|&middle| match middle {
            0 => 0,
            n => next.ends[n - 1],
        })
        .collect();
    let mut errors = before.errors.clone();
    for error in next.errors {
        let middle = error.line as usize;
        if middle >= middle_lines {
            return Err(format!("error for line {middle} of {middle_lines}"));
        }
        // The input line whose range holds middle line `middle`.
        let line = middle_before_end.partition_point(|&n| n <= middle) as u32;
        if !errors.iter().any(|e| e.line == line) {
            errors.push(LineError {
                line,
                message: error.message,
            });
        }
    }
    errors.sort_by_key(|e| e.line);
    Ok(BatchReply {
        output: next.output,
        ends,
        errors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(output: &str, ends: &[u32], errors: &[(u32, &str)]) -> BatchReply {
        BatchReply {
            output: output.as_bytes().to_vec(),
            ends: ends.to_vec(),
            errors: errors
                .iter()
                .map(|&(line, message)| LineError {
                    line,
                    message: message.into(),
                })
                .collect(),
        }
    }

    #[test]
    fn one_to_one_stages_keep_the_ends_of_the_second() {
        let first = reply("A\nB\n", &[2, 4], &[]);
        let second = reply("a\nb\n", &[2, 4], &[]);
        let composed = compose(&first, 2, second).unwrap();
        assert_eq!(composed.output, b"a\nb\n");
        assert_eq!(composed.ends, [2, 4]);
        assert!(composed.errors.is_empty());
    }

    #[test]
    fn fan_out_then_drop_maps_back_to_input_lines() {
        // Input lines: "a b", "", "c". The splitter made "a","b" / - / "c".
        let first = reply("a\nb\nc\n", &[4, 4, 6], &[]);
        // The next stage dropped "b" and doubled "c".
        let second = reply("a\nc\nc\n", &[2, 2, 6], &[]);
        let composed = compose(&first, 3, second).unwrap();
        assert_eq!(composed.ends, [2, 2, 6]);
    }

    #[test]
    fn a_failure_on_any_line_fails_its_input_line() {
        let first = reply("a\nb\nc\n", &[4, 4, 6], &[(1, "first stage")]);
        let second = reply("a\n", &[2, 2, 2], &[(1, "second stage"), (2, "again")]);
        let composed = compose(&first, 3, second).unwrap();
        let errors: Vec<_> = composed
            .errors
            .iter()
            .map(|e| (e.line, e.message.as_str()))
            .collect();
        assert_eq!(
            errors,
            [(0, "second stage"), (1, "first stage"), (2, "again")]
        );
    }

    #[test]
    fn ends_out_of_order_are_malformed() {
        assert!(check_ends(&reply("a\nb\nc\n", &[6, 2, 6], &[])).is_err());
        assert!(check_ends(&reply("a\n", &[4], &[])).is_err());
        assert!(check_ends(&reply("a\nb\n", &[2, 4], &[])).is_ok());
    }

    #[test]
    fn a_wrong_count_of_ends_is_malformed() {
        let first = reply("a\nb\n", &[2, 4], &[]);
        assert!(compose(&first, 2, reply("a\n", &[2], &[])).is_err());
        assert!(compose(&first, 2, reply("a\n", &[2, 1], &[])).is_err());
        assert!(compose(&first, 2, reply("a\n", &[2, 2], &[(5, "x")])).is_err());
    }
}
