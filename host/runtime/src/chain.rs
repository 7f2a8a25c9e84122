//! A chain of plugins applied in order: the reply lines of one are the input
//! lines of the next. One [`Pipeline`] is one generation of the chain; a live
//! swap replaces the whole pipeline (see [`crate::reload`]).
//!
//! A connection's line can become zero, one or several lines at each stage,
//! so the replies of stage N are mapped back to the connection's input lines
//! (`compose`) before the framer restores line endings. A line fails if
//! any stage fails on it or on a line it became.
//!
//! Owns: [`Pipeline`]. Uses: loaded plugins, the engine that loads them,
//! the reply types.

use std::sync::Arc;

use anyhow::Result;
use bytes::Bytes;

use crate::engine::PluginRuntime;
use crate::failure::PluginError;
use crate::plugin::Plugin;
use crate::reply::{BatchReply, CheckedReply, LineError};
use crate::spec::PluginSpec;

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

    /// The most lines one batch may hold: the least of the stages'.
    pub fn max_batch_lines(&self) -> Option<usize> {
        self.stages
            .iter()
            .filter_map(|stage| stage.max_batch_lines())
            .min()
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
            .map(|spec| runtime.load(spec).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        Ok(Pipeline::new(1, stages))
    }

    /// Transforms a batch of `lines` '\n'-ended lines through every stage;
    /// the reply's ends and errors refer to the lines of `input`, and each
    /// stage's reply passed the contract before the next stage saw it.
    pub async fn transform_batch(
        &self,
        conn: u64,
        input: Bytes,
        lines: usize,
    ) -> Result<CheckedReply, PluginError> {
        let mut reply = self
            .stage_batch(&self.stages[0], conn, input, lines)
            .await?;
        for stage in &self.stages[1..] {
            if reply.output().is_empty() {
                // Everything was dropped (or failed): nothing for later stages.
                break;
            }
            let middle_lines = memchr::memchr_iter(b'\n', reply.output()).count();
            let mut before = reply.into_inner();
            let middle = Bytes::from(std::mem::take(&mut before.output));
            let next = self
                .stage_batch(stage, conn, middle.clone(), middle_lines)
                .await?;
            before.output = middle.into();
            reply = CheckedReply::composed(compose(&before, next.into_inner()));
        }
        Ok(reply)
    }

    /// One stage's reply to `lines`; in a chain, a failure and the errors
    /// of single lines name the stage (`ERR plugin: rot13: ...`).
    async fn stage_batch(
        &self,
        stage: &Plugin,
        conn: u64,
        input: Bytes,
        lines: usize,
    ) -> Result<CheckedReply, PluginError> {
        let reply = self.in_stage(stage, stage.transform_batch(conn, input, lines).await)?;
        if self.stages.len() == 1 {
            return Ok(reply);
        }
        let mut reply = reply.into_inner();
        for error in &mut reply.errors {
            error.message = format!("{}: {}", stage.name(), error.message);
        }
        // Only messages changed: the shape is the one checked.
        Ok(CheckedReply::composed(reply))
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

/// Maps `next`, the reply of a stage to the lines of `before.output`, back
/// onto the input lines `before` answered. Both replies passed the contract.
///
/// Input line `i` owned the middle lines its range of `before.output` holds;
/// its new range ends where the reply to its last middle line ends (or where
/// the previous range ended, if it had none). It fails if it failed before or
/// if `next` failed on any of its middle lines (the first message is kept).
fn compose(before: &BatchReply, next: BatchReply) -> BatchReply {
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
    BatchReply {
        output: next.output,
        ends,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::reply::test_reply as reply;

    #[test]
    fn one_to_one_stages_keep_the_ends_of_the_second() {
        let first = reply("A\nB\n", &[2, 4], &[]);
        let second = reply("a\nb\n", &[2, 4], &[]);
        let composed = compose(&first, second);
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
        let composed = compose(&first, second);
        assert_eq!(composed.ends, [2, 2, 6]);
    }

    #[test]
    fn a_failure_on_any_line_fails_its_input_line() {
        let first = reply("a\nb\nc\n", &[4, 4, 6], &[(1, "first stage")]);
        let second = reply("a\n", &[2, 2, 2], &[(1, "second stage"), (2, "again")]);
        let composed = compose(&first, second);
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
}
