//! Line framing: cutting a connection's bytes into batches of whole lines for
//! the plugin, and putting the plugin's replies back into bytes for the wire.
//!
//! The rules, which the book's wire protocol chapter repeats for users:
//! - Lines are bytes, not text. A line is everything up to a '\n'; it may hold
//!   any other byte, NUL and invalid UTF-8 included.
//! - A line ended by "\r\n" reaches the plugin without the '\r', and each of
//!   its reply lines is ended by "\r\n" again: the reply keeps the client's
//!   line ending.
//! - The empty line is a line like any other and is answered.
//! - At end of file, bytes after the last '\n' are a final line without a line
//!   ending: it is transformed, and its replies are sent without a line ending
//!   after the last one, before the connection closes.
//! - A line longer than the maximum (counted without its line ending) is an
//!   error: the lines before it are answered, then the client gets one error
//!   line and is closed. The framer never needs more than the maximum plus one
//!   read of buffered bytes to decide, so memory stays bounded.
//!
//! Everything here works on byte slices, so it is tested without sockets.
//!
//! Owns: [`LineFramer`], [`Batch`], [`encode_replies`]. Uses: the checked reply.

use std::fmt;

use crate::reply::CheckedReply;

/// How a connection's bytes are cut up for the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Lines ended by '\n' (or "\r\n"), handed over in batches.
    Lines,
    /// No framing: each chunk read is handed over as it came and the reply
    /// written as it is returned (the original asyncio tutorial's behaviour).
    Raw,
}

impl Framing {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Framing::Lines => "lines",
            Framing::Raw => "raw",
        }
    }
}

/// Why a connection's input cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// A line is longer than the configured maximum.
    LineTooLong {
        /// The longest line accepted, without its line ending.
        max: usize,
    },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::LineTooLong { max } => {
                write!(f, "line too long: longer than {max} bytes")
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// A run of whole lines at the front of a connection's read buffer.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// How many bytes of the read buffer the batch covers; the caller drops
    /// them from the buffer once the batch is answered.
    pub consumed: usize,
    /// How many lines the batch holds.
    pub lines: usize,
    /// Indices of the lines that were ended by "\r\n".
    pub crlf_lines: Vec<u32>,
    /// Whether the last line had no line ending (a final line at EOF).
    pub unterminated_last: bool,
    /// The plugin's input when it differs from the buffer's bytes (a '\r' was
    /// removed or a final '\n' added); `None` means `buffer[..consumed]`
    /// is handed over as it is, without a copy.
    rewritten: Option<Vec<u8>>,
}

impl Batch {
    /// The bytes to hand the plugin: every line ended by a single '\n'.
    pub fn plugin_input<'a>(&'a self, buffer: &'a [u8]) -> &'a [u8] {
        match &self.rewritten {
            Some(bytes) => bytes,
            None => &buffer[..self.consumed],
        }
    }

    /// [`plugin_input`](Self::plugin_input) as owned bytes, given the
    /// batch's bytes as read (`buffer[..consumed]`): no copy either way.
    pub fn take_plugin_input(&mut self, consumed: &bytes::Bytes) -> bytes::Bytes {
        match self.rewritten.take() {
            Some(bytes) => bytes.into(),
            None => consumed.clone(),
        }
    }

    /// Whether the replies need more than a plain copy: line endings to
    /// restore or a final line ending to leave out.
    pub fn needs_reply_rewrite(&self) -> bool {
        !self.crlf_lines.is_empty() || self.unterminated_last
    }
}

/// Cuts a read buffer into batches of whole lines.
#[derive(Debug, Clone, Copy)]
pub struct LineFramer {
    max_line: usize,
}

impl LineFramer {
    /// A framer refusing lines longer than `max_line` bytes (without the line
    /// ending).
    pub fn new(max_line: usize) -> Self {
        LineFramer { max_line }
    }

    /// Takes every whole line at the front of `buffer`, or the final
    /// unterminated line too when `eof` is set.
    ///
    /// Returns `Ok(None)` when no whole line is there yet. A line that is too
    /// long is reported only once every line before it was returned, so the
    /// client gets those replies before the error.
    pub fn next_batch(&self, buffer: &[u8], eof: bool) -> Result<Option<Batch>, FrameError> {
        self.next_batch_within(buffer, eof)
    }

    /// [`next_batch`](Self::next_batch), of at most `max_lines` lines
    /// (every whole line there is when `None`); the rest stays for the
    /// next batch.
    pub fn next_batch_at_most(
        &self,
        buffer: &[u8],
        eof: bool,
        max_lines: Option<usize>,
    ) -> Result<Option<Batch>, FrameError> {
        if let Some(max) = max_lines.filter(|max| *max > 0) {
            if let Some(end) = memchr::memchr_iter(b'\n', buffer).nth(max - 1) {
                if end + 1 < buffer.len() {
                    return self.next_batch_within(&buffer[..=end], false);
                }
            }
        }
        self.next_batch_within(buffer, eof)
    }

    fn next_batch_within(&self, buffer: &[u8], eof: bool) -> Result<Option<Batch>, FrameError> {
        let mut batch = Batch::default();
        let start = match self.count_plain_lines(buffer, &mut batch) {
            Some(start) => start,
            None => {
                let mut start = 0;
                for newline in memchr::memchr_iter(b'\n', buffer) {
                    let has_cr = newline > start && buffer[newline - 1] == b'\r';
                    let content = newline - start - usize::from(has_cr);
                    if content > self.max_line {
                        return self.stop_at_long_line(batch, start, buffer);
                    }
                    if has_cr {
                        batch.crlf_lines.push(batch.lines as u32);
                    }
                    batch.lines += 1;
                    start = newline + 1;
                }
                start
            }
        };
        batch.consumed = start;

        let tail = &buffer[start..];
        // A tail ending in '\r' may still become a "\r\n" line ending.
        let tail_content = tail.len() - usize::from(!eof && tail.last() == Some(&b'\r'));
        if tail_content > self.max_line {
            return self.stop_at_long_line(batch, start, buffer);
        }
        if eof && !tail.is_empty() {
            batch.lines += 1;
            batch.consumed = buffer.len();
            batch.unterminated_last = true;
        }
        if batch.lines == 0 {
            return Ok(None);
        }
        if batch.needs_reply_rewrite() {
            batch.rewritten = Some(rewrite_for_plugin(&buffer[..batch.consumed], &batch));
        }
        Ok(Some(batch))
    }

    /// The common case without visiting each line: when the whole lines
    /// hold no '\r' and are together no longer than one line may be (so
    /// none is too long), they only need counting, which takes one SIMD
    /// pass (a search per line costs several times more for short lines).
    /// Counts them into `batch` and returns where the last one ends; `None`
    /// when the lines must be looked at one by one.
    fn count_plain_lines(&self, buffer: &[u8], batch: &mut Batch) -> Option<usize> {
        let Some(last) = memchr::memrchr(b'\n', buffer) else {
            return Some(0);
        };
        // No line's content is longer than the last '\n''s offset.
        if last > self.max_line || memchr::memchr(b'\r', &buffer[..last]).is_some() {
            return None;
        }
        batch.lines = memchr::memchr_iter(b'\n', &buffer[..last]).count() + 1;
        Some(last + 1)
    }

    /// Ends a batch at a line that is too long, which starts at `start`.
    fn stop_at_long_line(
        &self,
        mut batch: Batch,
        start: usize,
        buffer: &[u8],
    ) -> Result<Option<Batch>, FrameError> {
        if batch.lines == 0 {
            return Err(FrameError::LineTooLong { max: self.max_line });
        }
        // Answer the lines before the long one first; the next call, which
        // starts at the long line, reports it.
        batch.consumed = start;
        batch.unterminated_last = false;
        if batch.needs_reply_rewrite() {
            batch.rewritten = Some(rewrite_for_plugin(&buffer[..start], &batch));
        }
        Ok(Some(batch))
    }
}

/// The batch's bytes as the plugin takes them: '\r' before '\n' removed, a
/// '\n' after an unterminated final line.
fn rewrite_for_plugin(bytes: &[u8], batch: &Batch) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 1);
    let mut start = 0;
    for newline in memchr::memchr_iter(b'\n', bytes) {
        let line_end = if newline > start && bytes[newline - 1] == b'\r' {
            newline - 1
        } else {
            newline
        };
        out.extend_from_slice(&bytes[start..line_end]);
        out.push(b'\n');
        start = newline + 1;
    }
    if batch.unterminated_last {
        out.extend_from_slice(&bytes[start..]);
        out.push(b'\n');
    }
    out
}

/// Appends the wire bytes of a batch's replies to `out`, restoring each
/// input line's line ending on its reply lines. `reply` answers `batch`,
/// whose plugin input was `input` (its '\n'-ended lines). A failed line is
/// answered by the one line `failed_line` writes (without line ending),
/// given the plugin's message and the input line; with `stop_at_failure`
/// nothing after it is answered.
pub fn encode_replies(
    batch: &Batch,
    reply: &CheckedReply,
    input: &[u8],
    stop_at_failure: bool,
    mut failed_line: impl FnMut(&str, &[u8], &mut Vec<u8>),
    out: &mut Vec<u8>,
) {
    debug_assert_eq!(reply.ends().len(), batch.lines, "a reply to another batch");
    if !batch.needs_reply_rewrite() && reply.errors().is_empty() {
        // The common case: the plugin's output is already the wire bytes.
        out.extend_from_slice(reply.output());
        return;
    }
    let mut crlf = batch.crlf_lines.iter().peekable();
    let mut failed = reply.errors().iter().peekable();
    let mut input_lines = InputLines::new(input);
    let mut start = 0;
    for (index, &end) in reply.ends().iter().enumerate() {
        let end = end as usize;
        let ending: &[u8] = if crlf.next_if(|&&i| i as usize == index).is_some() {
            b"\r\n"
        } else {
            b"\n"
        };
        let is_unterminated = batch.unterminated_last && index + 1 == batch.lines;
        let line_start = out.len();
        if let Some(error) = failed.next_if(|error| error.line as usize == index) {
            failed_line(&error.message, input_lines.nth(index), out);
            out.extend_from_slice(ending);
            if stop_at_failure {
                return;
            }
        } else {
            for reply_line in reply.output()[start..end].split_inclusive(|&b| b == b'\n') {
                out.extend_from_slice(reply_line.strip_suffix(b"\n").unwrap_or(reply_line));
                out.extend_from_slice(ending);
            }
        }
        if is_unterminated && out.len() > line_start {
            out.truncate(out.len() - ending.len());
        }
        start = end;
    }
}

/// The lines of a plugin input looked up in increasing order: each lookup
/// goes on from where the last one stopped, so a batch's failed lines cost
/// one pass over the input in all, not one from the start each.
struct InputLines<'a> {
    rest: &'a [u8],
    /// The index of the line `rest` starts with.
    next: usize,
}

impl<'a> InputLines<'a> {
    fn new(input: &'a [u8]) -> Self {
        InputLines {
            rest: input,
            next: 0,
        }
    }

    /// Line `index` (at least the last one asked for), without its '\n';
    /// empty past the input's end.
    fn nth(&mut self, index: usize) -> &'a [u8] {
        while self.next < index {
            self.skip_line();
        }
        let line = match memchr::memchr(b'\n', self.rest) {
            Some(newline) => &self.rest[..newline],
            None => self.rest,
        };
        self.skip_line();
        line
    }

    fn skip_line(&mut self) {
        self.rest = match memchr::memchr(b'\n', self.rest) {
            Some(newline) => &self.rest[newline + 1..],
            None => &[],
        };
        self.next += 1;
    }
}

/// Writes `ERR <what>` as one line: line breaks in the message become
/// spaces so the client sees exactly one line.
pub fn write_error_text(out: &mut Vec<u8>, what: &str) {
    out.extend_from_slice(b"ERR ");
    out.extend(
        what.bytes()
            .map(|b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
    );
}

/// Appends the error line `ERR <what>\n`.
pub fn push_error_line(out: &mut Vec<u8>, what: &str) {
    write_error_text(out, what);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 16;

    fn framer() -> LineFramer {
        LineFramer::new(MAX)
    }

    #[test]
    fn a_batch_of_at_most_n_lines_leaves_the_rest_for_the_next() {
        let buffer = b"a\r\nb\nc\nd";
        let first = framer()
            .next_batch_at_most(buffer, true, Some(2))
            .unwrap()
            .unwrap();
        assert_eq!(
            (first.lines, first.consumed, first.unterminated_last),
            (2, 5, false)
        );
        let rest = &buffer[first.consumed..];
        let second = framer()
            .next_batch_at_most(rest, true, Some(2))
            .unwrap()
            .unwrap();
        assert_eq!(
            (second.lines, second.consumed, second.unterminated_last),
            (2, 3, true)
        );
        // Exactly N lines, or no cap: every line at once.
        assert_eq!(
            framer()
                .next_batch_at_most(b"a\nb\n", false, Some(2))
                .unwrap()
                .unwrap()
                .lines,
            2
        );
        assert_eq!(
            framer()
                .next_batch_at_most(buffer, true, None)
                .unwrap()
                .unwrap()
                .lines,
            4
        );
    }

    fn plugin_input(buffer: &[u8], eof: bool) -> (Batch, Vec<u8>) {
        let batch = framer().next_batch(buffer, eof).unwrap().unwrap();
        let input = batch.plugin_input(buffer).to_vec();
        (batch, input)
    }

    /// Upper-cases every line, one reply line per input line: what the
    /// default plugin does, computed here without wasm.
    fn uppercase(input: &[u8]) -> (Vec<u8>, Vec<u32>) {
        let output = input.to_ascii_uppercase();
        let ends = memchr::memchr_iter(b'\n', &output)
            .map(|i| i as u32 + 1)
            .collect();
        (output, ends)
    }

    fn round_trip(buffer: &[u8], eof: bool) -> Vec<u8> {
        let (batch, input) = plugin_input(buffer, eof);
        let (output, ends) = uppercase(&input);
        let mut out = Vec::new();
        let reply = checked(&output, &ends, &[], batch.lines);
        encode_replies(&batch, &reply, &input, false, |_, _, _| {}, &mut out);
        out
    }

    /// A reply to `lines` lines, checked as every plugin's is.
    fn checked(output: &[u8], ends: &[u32], errors: &[(u32, &str)], lines: usize) -> CheckedReply {
        CheckedReply::check(crate::reply::test_reply(output, ends, errors), lines).unwrap()
    }

    #[test]
    fn no_whole_line_yet() {
        assert_eq!(framer().next_batch(b"", false), Ok(None));
        assert_eq!(framer().next_batch(b"hel", false), Ok(None));
        assert_eq!(framer().next_batch(b"", true), Ok(None));
    }

    #[test]
    fn whole_lines_are_taken_and_the_tail_left() {
        let (batch, input) = plugin_input(b"one\ntwo\nthr", false);
        assert_eq!(batch.lines, 2);
        assert_eq!(batch.consumed, 8);
        assert_eq!(input, b"one\ntwo\n");
        assert!(!batch.needs_reply_rewrite());
    }

    #[test]
    fn plain_lines_are_handed_over_without_a_copy() {
        let buffer = b"a\nb\n";
        let batch = framer().next_batch(buffer, false).unwrap().unwrap();
        assert!(std::ptr::eq(batch.plugin_input(buffer), &buffer[..]));
    }

    #[test]
    fn empty_lines_are_lines() {
        let (batch, input) = plugin_input(b"\n\nx\n", false);
        assert_eq!(batch.lines, 3);
        assert_eq!(input, b"\n\nx\n");
        assert_eq!(round_trip(b"\n\nx\n", false), b"\n\nX\n");
    }

    #[test]
    fn crlf_is_removed_for_the_plugin_and_restored_on_replies() {
        let (batch, input) = plugin_input(b"a\r\nb\nc\r\n", false);
        assert_eq!(batch.crlf_lines, vec![0, 2]);
        assert_eq!(input, b"a\nb\nc\n");
        assert_eq!(round_trip(b"a\r\nb\nc\r\n", false), b"A\r\nB\nC\r\n");
    }

    #[test]
    fn a_lone_cr_inside_a_line_is_content() {
        assert_eq!(round_trip(b"a\rb\n", false), b"A\rB\n");
    }

    #[test]
    fn final_line_without_newline_is_taken_only_at_eof() {
        assert_eq!(
            framer().next_batch(b"a\nbc", false).unwrap().unwrap().lines,
            1
        );
        let (batch, input) = plugin_input(b"a\nbc", true);
        assert_eq!(batch.lines, 2);
        assert!(batch.unterminated_last);
        assert_eq!(batch.consumed, 4);
        assert_eq!(input, b"a\nbc\n");
        assert_eq!(round_trip(b"a\nbc", true), b"A\nBC");
        assert_eq!(round_trip(b"bc", true), b"BC");
    }

    #[test]
    fn a_final_cr_at_eof_is_content() {
        assert_eq!(round_trip(b"ab\r", true), b"AB\r");
    }

    #[test]
    fn nul_and_invalid_utf8_are_just_bytes() {
        assert_eq!(round_trip(b"a\0\xff\xfe\n", false), b"A\0\xff\xfe\n");
    }

    #[test]
    fn line_of_exactly_the_maximum_is_accepted() {
        let line = [b'x'; MAX];
        let mut buffer = line.to_vec();
        buffer.extend_from_slice(b"\r\n");
        assert_eq!(
            framer().next_batch(&buffer, false).unwrap().unwrap().lines,
            1
        );
        // A tail of the maximum plus a '\r' may still become a valid line.
        assert_eq!(framer().next_batch(&buffer[..MAX + 1], false), Ok(None));
    }

    #[test]
    fn line_past_the_maximum_is_an_error_after_the_lines_before_it() {
        let too_long = [b'x'; MAX + 1];
        let mut buffer = b"ok\n".to_vec();
        buffer.extend_from_slice(&too_long);
        buffer.push(b'\n');
        let batch = framer().next_batch(&buffer, false).unwrap().unwrap();
        assert_eq!((batch.lines, batch.consumed), (1, 3));
        let rest = &buffer[batch.consumed..];
        assert_eq!(
            framer().next_batch(rest, false),
            Err(FrameError::LineTooLong { max: MAX })
        );
    }

    #[test]
    fn unterminated_tail_past_the_maximum_is_an_error_before_its_newline() {
        let tail = [b'x'; MAX + 1];
        assert_eq!(
            framer().next_batch(&tail, false),
            Err(FrameError::LineTooLong { max: MAX })
        );
        let mut buffer = b"ok\r\n".to_vec();
        buffer.extend_from_slice(&tail);
        let batch = framer().next_batch(&buffer, true).unwrap().unwrap();
        assert_eq!((batch.lines, batch.consumed), (1, 4));
        assert!(!batch.unterminated_last);
        assert_eq!(batch.plugin_input(&buffer), b"ok\n");
    }

    #[test]
    fn zero_one_or_many_replies_per_line() {
        let buffer = b"drop\r\nkeep\r\nsplit\r\n";
        let (batch, input) = plugin_input(buffer, false);
        let reply = checked(b"KEEP\nS\nPLIT\n", &[0, 5, 12], &[], batch.lines);
        let mut out = Vec::new();
        encode_replies(&batch, &reply, &input, false, |_, _, _| {}, &mut out);
        assert_eq!(out, b"KEEP\r\nS\r\nPLIT\r\n");
    }

    #[test]
    fn failed_lines_get_one_line_in_their_place() {
        let (batch, input) = plugin_input(b"a\nb\r\nc\n", false);
        let reply = checked(b"A\nC\n", &[2, 2, 4], &[(1, "no b")], batch.lines);
        let mut out = Vec::new();
        encode_replies(
            &batch,
            &reply,
            &input,
            false,
            |message, line, out| {
                out.extend_from_slice(format!("ERR {message} ").as_bytes());
                out.extend_from_slice(line);
            },
            &mut out,
        );
        assert_eq!(out, b"A\nERR no b b\r\nC\n");

        let mut out = Vec::new();
        encode_replies(&batch, &reply, &input, true, |_, _, _| {}, &mut out);
        assert_eq!(out, b"A\n\r\n");
    }

    #[test]
    fn each_failed_line_is_given_its_own_input_line() {
        let (batch, input) = plugin_input(b"one\ntwo\nthree\nfour\n", false);
        let reply = checked(
            b"TWO\n",
            &[0, 4, 4, 4],
            &[(0, "x"), (2, "y"), (3, "z")],
            batch.lines,
        );
        let mut out = Vec::new();
        encode_replies(
            &batch,
            &reply,
            &input,
            false,
            |_, line, out| out.extend_from_slice(line),
            &mut out,
        );
        assert_eq!(out, b"one\nTWO\nthree\nfour\n");
    }
}
