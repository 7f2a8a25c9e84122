//! One conversation with a plugin chain without a socket: bytes in, the
//! bytes a client would receive out, through the host's own framing and
//! reply contract. It is what `pipe` streams stdin through and what a
//! plugin's tests check fixtures with, so a plugin that passes them is
//! answered the same way by the server.
//!
//! What a client that sent the input and then closed would receive: the
//! greeting, each line's replies with its own line ending (`\n` or `\r\n`,
//! none for a final unterminated line), `ERR plugin: ...` for a line that
//! failed (the server's default `--on-plugin-error error`), an error line
//! for a line too long (after which nothing more is read), and the last
//! words.
//!
//! Owns: [`LineSession`], [`Conversation`] and [`SessionFailure`]. Uses: the framing, the
//! pipeline and the reply encoding.

use std::fmt;

use bytes::BytesMut;

use crate::chain::Pipeline;
use crate::framing::{encode_replies, push_error_line, write_error_text, LineFramer};

/// One thing that went wrong in a session, as a person reads it:
/// `line 3: too many vowels`, `lines 1-4: plugin: trapped: ...`,
/// `greeting: ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionFailure {
    what: String,
    kind: FailureOf,
}

/// Whose doing a [`SessionFailure`] was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOf {
    /// The plugin answered a line with an error of its own: its decision,
    /// within the contract.
    Line,
    /// A plugin call failed: a trap, a deadline, a reply that breaks the
    /// contract, a greeting or last words refused.
    Call,
    /// The input broke the framing (a line past the maximum length).
    Input,
}

impl SessionFailure {
    /// Whose doing it was.
    pub fn kind(&self) -> FailureOf {
        self.kind
    }
}

impl fmt::Display for SessionFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.what)
    }
}

/// A whole conversation at once: what [`LineSession::converse`] gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// What the client received, byte for byte.
    pub output: Vec<u8>,
    /// What went wrong on the way, in order.
    pub failures: Vec<SessionFailure>,
}

/// A conversation with `pipeline` as connection `conn`.
pub struct LineSession<'a> {
    pipeline: &'a Pipeline,
    framer: LineFramer,
    conn: u64,
    /// Input not yet framed into whole lines.
    buffer: BytesMut,
    /// Lines answered so far: the next line's number is this plus one.
    lines: u64,
    /// A line was too long: the session reads nothing more.
    stopped: bool,
    failures: Vec<SessionFailure>,
}

impl<'a> LineSession<'a> {
    /// A session with `pipeline`, framed by `framer`; the plugin sees
    /// connection id `conn`.
    pub fn new(pipeline: &'a Pipeline, framer: LineFramer, conn: u64) -> Self {
        LineSession {
            pipeline,
            framer,
            conn,
            buffer: BytesMut::new(),
            lines: 0,
            stopped: false,
            failures: Vec::new(),
        }
    }

    /// Sends all of `input` on a new connection and closes it: the
    /// greeting, the replies and the last words, and what failed.
    pub async fn converse(
        pipeline: &Pipeline,
        framer: LineFramer,
        conn: u64,
        input: &[u8],
    ) -> Conversation {
        let mut session = LineSession::new(pipeline, framer, conn);
        let mut output = Vec::new();
        session.open(&mut output).await;
        session.feed(input, true, &mut output).await;
        session.close(&mut output).await;
        Conversation {
            output,
            failures: session.take_failures(),
        }
    }

    /// The connection opens: appends the greeting to `out`.
    pub async fn open(&mut self, out: &mut Vec<u8>) {
        match self.pipeline.connection_opened(self.conn).await {
            Ok(greeting) => out.extend_from_slice(&greeting),
            Err(error) => {
                self.failed(FailureOf::Call, format!("greeting: {error}"));
                push_error_line(out, &format!("plugin: {error}"));
            }
        }
    }

    /// Input arrives (`eof`: it is the last): appends the replies to every
    /// whole line to `out` (and to the final line without a line ending,
    /// at `eof`). After a line too long, input is ignored.
    pub async fn feed(&mut self, input: &[u8], eof: bool, out: &mut Vec<u8>) {
        if self.stopped {
            return;
        }
        self.buffer.extend_from_slice(input);
        loop {
            let max_lines = self.pipeline.max_batch_lines();
            let mut batch = match self.framer.next_batch_at_most(&self.buffer, eof, max_lines) {
                Ok(Some(batch)) => batch,
                Ok(None) => return,
                Err(error) => {
                    self.failed(
                        FailureOf::Input,
                        format!("line {}: {error}", self.lines + 1),
                    );
                    push_error_line(out, &error.to_string());
                    self.stopped = true;
                    return;
                }
            };
            let consumed = self.buffer.split_to(batch.consumed).freeze();
            let input = batch.take_plugin_input(&consumed);
            let first = self.lines + 1;
            self.lines += batch.lines as u64;
            let reply = self
                .pipeline
                .transform_batch(self.conn, input.clone(), batch.lines)
                .await;
            match reply {
                Ok(reply) => {
                    encode_replies(
                        &batch,
                        &reply,
                        &input,
                        false,
                        |message, _, out| write_error_text(out, &format!("plugin: {message}")),
                        out,
                    );
                    for error in reply.errors() {
                        let number = first + u64::from(error.line);
                        self.failed(FailureOf::Line, format!("line {number}: {}", error.message));
                    }
                }
                Err(error) => {
                    let lines = span(first, self.lines);
                    self.failed(FailureOf::Call, format!("{lines}: plugin: {error}"));
                    push_error_line(out, &format!("plugin: {error}"));
                }
            }
        }
    }

    /// The connection closes: the plugin is told, and its last words are
    /// appended to `out` (none after a line too long, as on the server,
    /// where such a connection is closed at once).
    pub async fn close(&mut self, out: &mut Vec<u8>) {
        let closed = self.pipeline.connection_closed(self.conn).await;
        match closed {
            _ if self.stopped => {}
            Ok(last_words) => out.extend_from_slice(&last_words),
            Err(error) => {
                self.failed(FailureOf::Call, format!("last words: {error}"));
                push_error_line(out, &format!("plugin: {error}"));
            }
        }
    }

    /// Whether a line was too long: the session reads nothing more.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// The failures seen since the last time they were taken, in order.
    pub fn take_failures(&mut self) -> Vec<SessionFailure> {
        std::mem::take(&mut self.failures)
    }

    fn failed(&mut self, kind: FailureOf, what: String) {
        self.failures.push(SessionFailure { what, kind });
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
