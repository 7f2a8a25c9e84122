//! The reply contract: what a plugin's answer must be before any of it is
//! used. Every path checks here, once: a batch (a lone plugin or a stage of
//! a chain), a raw chunk, a greeting and last words.
//!
//! - A batch reply has one line end per input line, in order, the last at
//!   the end of its output; each input line's reply range is made of whole
//!   '\n'-ended lines; failed lines (by index) are in range, ascending, and
//!   have no reply lines.
//! - Greetings and last words are whole '\n'-ended lines, or nothing: a
//!   line without its end would run into the next reply.
//! - No reply is larger than the plugin's reply limit (error messages
//!   count: they reach the client too).
//!
//! Owns: [`CheckedReply`], [`MalformedReply`] and the checks. Uses: the
//! reply types of the bindings and the failure type.

use std::fmt;

use crate::bindings::asynchronous::yell::plugin::types;
use crate::failure::PluginError;

/// A plugin's reply to a batch of lines, as it gave it: `output` holds the
/// reply lines of all input lines, `ends[i]` is where input line `i`'s
/// replies end in it, and `errors` lists the lines that failed.
pub type BatchReply = types::BatchReply;

/// One input line a plugin failed on, with its message.
pub type LineError = types::LineError;

/// A plugin reply that does not fit its batch (a plugin bug, not a client's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MalformedReply(pub String);

impl fmt::Display for MalformedReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed reply: {}", self.0)
    }
}

impl std::error::Error for MalformedReply {}

/// A batch reply that passed the contract against the lines it answers:
/// only [`CheckedReply::check`] makes one, so whoever holds one may index
/// its ends and errors without looking again.
#[derive(Debug, Clone)]
pub struct CheckedReply(BatchReply);

impl CheckedReply {
    /// Checks `reply` against the `lines` input lines it answers.
    pub fn check(reply: BatchReply, lines: usize) -> Result<CheckedReply, MalformedReply> {
        check_shape(
            &reply.output,
            &reply.ends,
            reply.errors.iter().map(|error| error.line),
            lines,
        )?;
        Ok(CheckedReply(reply))
    }

    /// A reply made of checked replies (a chain's, composed stage by
    /// stage), which fits its lines by construction.
    pub(crate) fn composed(reply: BatchReply) -> CheckedReply {
        debug_assert!(check_shape(
            &reply.output,
            &reply.ends,
            reply.errors.iter().map(|error| error.line),
            reply.ends.len()
        )
        .is_ok());
        CheckedReply(reply)
    }

    /// The reply lines of all input lines, in order, each ended by '\n'.
    pub fn output(&self) -> &[u8] {
        &self.0.output
    }

    /// Per input line, where its reply lines end in [`output`](Self::output).
    pub fn ends(&self) -> &[u32] {
        &self.0.ends
    }

    /// The input lines that failed, by index, in increasing order.
    pub fn errors(&self) -> &[LineError] {
        &self.0.errors
    }

    /// The reply itself.
    pub fn into_inner(self) -> BatchReply {
        self.0
    }
}

/// Which of a connection's plugin-written lines outside batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Words {
    /// Written when a connection opens.
    Greeting,
    /// Written when it closes.
    LastWords,
}

impl Words {
    fn name(self) -> &'static str {
        match self {
            Words::Greeting => "greeting",
            Words::LastWords => "last words",
        }
    }
}

/// The contract one plugin's replies are held to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReplyContract {
    /// Largest reply, in bytes (error messages included).
    pub(crate) max_bytes: usize,
}

impl ReplyContract {
    /// A batch reply to `lines` input lines: its size, then its shape.
    pub(crate) fn batch(
        &self,
        reply: BatchReply,
        lines: usize,
    ) -> Result<CheckedReply, PluginError> {
        let messages: usize = reply.errors.iter().map(|error| error.message.len()).sum();
        self.size(reply.output.len() + messages)?;
        CheckedReply::check(reply, lines).map_err(|why| PluginError::Refused(why.to_string()))
    }

    /// A raw chunk's reply: any bytes, within the size limit.
    pub(crate) fn raw(&self, reply: &[u8]) -> Result<(), PluginError> {
        self.size(reply.len())
    }

    /// A greeting or last words: whole lines, within the size limit.
    pub(crate) fn words(&self, words: &[u8], which: Words) -> Result<(), PluginError> {
        self.size(words.len())?;
        if words.last().is_some_and(|&last| last != b'\n') {
            let why = MalformedReply(format!("{} without a final '\\n'", which.name()));
            return Err(PluginError::Refused(why.to_string()));
        }
        Ok(())
    }

    /// Refuses a reply larger than the limit. The host copied it out of
    /// the instance already, but that copy is bounded by the instance's
    /// memory cap; what is refused here never reaches a connection.
    fn size(&self, bytes: usize) -> Result<(), PluginError> {
        if bytes > self.max_bytes {
            return Err(PluginError::ReplyTooLarge {
                bytes,
                max: self.max_bytes,
            });
        }
        Ok(())
    }
}

/// Checks a plugin's reply to `lines` input lines against the contract: one
/// line end per input line, in order, the last at the end of `output`; each
/// line's reply range made of whole '\n'-ended lines; failed lines (by index)
/// in range, ascending, and without reply lines.
fn check_shape(
    output: &[u8],
    ends: &[u32],
    failed: impl IntoIterator<Item = u32>,
    lines: usize,
) -> Result<(), MalformedReply> {
    let bad = |why: String| Err(MalformedReply(why));
    if ends.len() != lines {
        return bad(format!("{} line ends for {lines} lines", ends.len()));
    }
    let mut start = 0usize;
    for (line, &end) in ends.iter().enumerate() {
        let end = end as usize;
        if end < start {
            return bad(format!(
                "the end of line {line} comes before the one of line {}",
                line - 1
            ));
        }
        if end > output.len() {
            return bad(format!(
                "the end of line {line} is past the output ({end} > {} bytes)",
                output.len()
            ));
        }
        if end > start && output[end - 1] != b'\n' {
            return bad(format!(
                "the replies to line {line} do not end with a whole line ('\\n')"
            ));
        }
        start = end;
    }
    if start != output.len() {
        return bad(format!(
            "{} bytes of output after the last line's end",
            output.len() - start
        ));
    }
    let mut previous: Option<u32> = None;
    let mut answered_yet_failed = None;
    for line in failed {
        if line as usize >= lines {
            return bad(format!("an error for line {line} of {lines}"));
        }
        if let Some(previous) = previous.filter(|&previous| previous >= line) {
            return bad(format!(
                "errors out of order (line {line} after line {previous})"
            ));
        }
        let index = line as usize;
        let range_start = if index == 0 { 0 } else { ends[index - 1] };
        if ends[index] != range_start {
            answered_yet_failed.get_or_insert(line);
        }
        previous = Some(line);
    }
    match answered_yet_failed {
        Some(line) => bad(format!("line {line} both failed and has replies")),
        None => Ok(()),
    }
}

/// A reply as tests write one: its output, its ends, and `(line, message)`
/// for each failed line.
#[cfg(test)]
pub(crate) fn test_reply(
    output: impl AsRef<[u8]>,
    ends: &[u32],
    errors: &[(u32, &str)],
) -> BatchReply {
    BatchReply {
        output: output.as_ref().to_vec(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(output: &str, ends: &[u32], errors: &[(u32, &str)]) -> BatchReply {
        test_reply(output, ends, errors)
    }

    #[test]
    fn every_broken_shape_is_malformed() {
        let malformed = |output: &str, ends: &[u32], errors: &[(u32, &str)], lines| {
            CheckedReply::check(reply(output, ends, errors), lines).is_err()
        };
        assert!(malformed("a\nb\nc\n", &[4, 2, 6], &[], 3), "out of order");
        assert!(malformed("a\n", &[4], &[], 1), "past the output");
        assert!(malformed("a\nb\n", &[2], &[], 2), "too few ends");
        assert!(malformed("a\n", &[2, 2], &[], 1), "too many ends");
        assert!(malformed("a", &[1], &[], 1), "no final newline");
        assert!(malformed("ab\ncd\n", &[1, 6], &[], 2), "an end mid-line");
        assert!(
            malformed("a\nb\n", &[2, 2], &[], 2),
            "output past the last end"
        );
        assert!(
            malformed("a\n", &[2, 2], &[(5, "x")], 2),
            "error out of range"
        );
        assert!(
            malformed("", &[0, 0], &[(1, "x"), (0, "y")], 2),
            "errors unsorted"
        );
        assert!(
            malformed("a\n", &[2], &[(0, "x")], 1),
            "failed yet answered"
        );
        assert!(!malformed("a\nb\n", &[2, 2, 4], &[(1, "x")], 3));
        assert!(!malformed("", &[], &[], 0));
    }

    #[test]
    fn a_batch_reply_is_held_to_its_size_then_its_shape() {
        let contract = ReplyContract { max_bytes: 4 };
        let checked = contract.batch(reply("A\nB\n", &[2, 4], &[]), 2).unwrap();
        assert_eq!(checked.ends(), [2, 4]);
        // Error messages count towards the size.
        let too_large = contract.batch(reply("A\n", &[2, 2], &[(1, "abc")]), 2);
        assert!(matches!(
            too_large,
            Err(PluginError::ReplyTooLarge { bytes: 5, max: 4 })
        ));
        let malformed = contract.batch(reply("A\n", &[2], &[]), 2).unwrap_err();
        assert_eq!(
            malformed.to_string(),
            "malformed reply: 1 line ends for 2 lines"
        );
    }

    #[test]
    fn greetings_and_last_words_are_whole_lines() {
        let contract = ReplyContract { max_bytes: 8 };
        assert!(contract.words(b"", Words::Greeting).is_ok());
        assert!(contract.words(b"hi\nyo\n", Words::Greeting).is_ok());
        assert_eq!(
            contract
                .words(b"bye", Words::LastWords)
                .unwrap_err()
                .to_string(),
            "malformed reply: last words without a final '\\n'"
        );
        assert!(matches!(
            contract.words(b"123456789\n", Words::Greeting),
            Err(PluginError::ReplyTooLarge { .. })
        ));
    }

    #[test]
    fn a_raw_reply_is_any_bytes_within_the_limit() {
        let contract = ReplyContract { max_bytes: 3 };
        assert!(contract.raw(b"a\0c").is_ok());
        assert!(contract.raw(b"abcd").is_err());
    }
}
