//! One client connection: read bytes, frame them, hand each batch of lines to
//! the plugin, write the replies back with one write per batch.
//!
//! Reading stops while a batch's replies are written, so a client that does
//! not read its replies is slowed down instead of making the server buffer
//! without end. Errors stay local to the connection: they end at most this
//! connection, never the server. What a plugin failure does to the
//! connection is the [`ErrorPolicy`]'s to say; the connection carries it out.
//!
//! Owns: serving one connection. Uses: the runtime (framing, the pipeline),
//! the live pipeline, the error policy, the PROXY header and the stats.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use yell_runtime::{
    encode_replies, push_error_line, FailureKind, FrameError, Framing, LineFramer, Pipeline,
    PluginError,
};

use crate::error_policy::{AfterFailure, ErrorPolicy};
use crate::proxy_protocol::{read_header, ConnectionAddrs, HeaderError};
use crate::reload::LivePipeline;
use crate::stats::Stats;

/// Most that is read from a socket at a time. A pipelining client's lines
/// arrive in reads of up to this size, which are the plugin's batches.
const READ_CHUNK: usize = 64 * 1024;

/// What a connection first reads at a time. Reads grow towards
/// [`READ_CHUNK`] only for clients that fill them, so a client that sends a
/// line now and then reads into a small buffer (and a quiet one holds none,
/// see `release_buffers_while_idle`).
const FIRST_READ: usize = 4 * 1024;

/// The largest write buffer a quiet connection keeps (see
/// `release_buffers_while_idle`).
const KEPT_WRITE_BUFFER: usize = 1024;

/// How long a connection closed on an error keeps reading (and discarding)
/// so that the client gets the error line rather than a reset.
const ERROR_LINGER: std::time::Duration = std::time::Duration::from_secs(1);

/// What every connection of a server shares.
pub struct ConnectionContext {
    /// The plugin chain; it may be swapped while connections run.
    pub pipeline: Arc<LivePipeline>,
    pub framing: Framing,
    pub framer: LineFramer,
    /// What a plugin failure does to a connection.
    pub on_plugin_error: ErrorPolicy,
    /// Close a connection that completes no line, or reads none of its
    /// replies, for this long.
    pub idle_timeout: Option<Duration>,
    pub stats: Arc<Stats>,
    /// With `--proxy-protocol`: how long a connection's PROXY header may
    /// take to arrive; `None`: no header expected.
    pub proxy_header_timeout: Option<Duration>,
    /// Cancelled when the server stops serving (after the drain grace):
    /// every line read is answered, then last words and a clean close.
    pub shutdown: CancellationToken,
}

/// Serves one client until it closes, fails, or the server shuts down.
/// `active` is this connection's place in the count of open connections.
pub async fn serve_connection(
    mut stream: TcpStream,
    id: u64,
    context: Arc<ConnectionContext>,
    active: ActiveConnection,
) {
    let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
        // Already gone.
        return;
    };
    let mut read_buffer = BytesMut::new();
    let mut addrs = ConnectionAddrs { peer, local };
    if let Some(timeout) = context.proxy_header_timeout {
        match read_header(&mut stream, &mut read_buffer, addrs, timeout).await {
            Ok(told) => addrs = told,
            // Connected and closed without a byte: a balancer's TCP health
            // check (an NLB's sends no header), not a bad client.
            Err(HeaderError::Closed) if read_buffer.is_empty() => {
                tracing::debug!(connection = id, %peer, "closed before a PROXY header: a health check");
                return;
            }
            Err(error) => {
                context.stats.proxy_header_refused();
                tracing::warn!(connection = id, %peer, "connection closed: {error}");
                let _ = stream.shutdown().await;
                return;
            }
        }
    }
    let peer = addrs.peer;
    tracing::debug!(connection = id, %peer, local = %addrs.local, "connection opened");
    // Plugins may ask whom the connection is for while it is served.
    let _open = context
        .pipeline
        .runtime()
        .connections()
        .open(id, peer, addrs.local);
    let mut connection = Connection {
        id,
        peer,
        stream,
        read_buffer,
        read_size: FIRST_READ,
        write_buffer: Vec::new(),
        context: context.clone(),
        told_closed: false,
    };
    let end = connection.run().await;
    if !connection.told_closed {
        // The plugin hears of every connection's end, so it can forget it;
        // last words have nobody to go to here.
        let _ = context.pipeline.current().connection_closed(id).await;
    }
    match end {
        Ok(end) => tracing::debug!(connection = id, %peer, ?end, "connection closed"),
        Err(error) => tracing::debug!(connection = id, %peer, %error, "connection failed"),
    }
    drop(active);
}

/// Counts a connection as open until dropped, whatever way its task ends.
pub struct ActiveConnection {
    stats: Arc<Stats>,
}

impl ActiveConnection {
    pub fn new(stats: Arc<Stats>) -> Self {
        stats.connection_opened();
        ActiveConnection { stats }
    }
}

impl Drop for ActiveConnection {
    fn drop(&mut self) {
        self.stats.connection_closed();
    }
}

/// Why a connection ended without an I/O error.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The client sent end of file; everything was answered.
    ClientFinished,
    /// The server shut down: every line read was answered, last words
    /// sent, the connection closed cleanly.
    Drained,
    /// The connection was closed after an error line.
    ClosedOnError,
    /// No line was completed within the idle timeout.
    IdleTimeout,
}

struct Connection {
    id: u64,
    /// The client (as the PROXY header told, behind a balancer).
    peer: std::net::SocketAddr,
    stream: TcpStream,
    read_buffer: BytesMut,
    /// How much the next read asks for; grows while reads fill it.
    read_size: usize,
    /// The replies of one read, sent with one write.
    write_buffer: Vec<u8>,
    context: Arc<ConnectionContext>,
    /// The plugin was told the connection ended (`connection_closed`).
    told_closed: bool,
}

impl Connection {
    /// The connection in logs: its id and its client.
    fn who(&self) -> (u64, std::net::SocketAddr) {
        (self.id, self.peer)
    }

    async fn run(&mut self) -> std::io::Result<End> {
        self.stream.set_nodelay(true)?;
        let opened = self
            .context
            .pipeline
            .current()
            .connection_opened(self.id)
            .await;
        match opened {
            Ok(greeting) => self.write_buffer.extend_from_slice(&greeting),
            Err(error) if error.kind() == FailureKind::Overloaded => {
                // No instance was free to greet: the client sent nothing
                // yet, so an error line would answer nothing it sent.
                note_unanswered_failure(&self.context, self.who(), &error);
            }
            Err(error) => {
                if answer_plugin_failure(
                    &self.context,
                    self.who(),
                    &error,
                    &[],
                    &mut self.write_buffer,
                ) {
                    self.flush().await?;
                    return Ok(End::ClosedOnError);
                }
            }
        }
        self.flush().await?;

        // Made once: registering interest in the token on every read would
        // take its lock once per batch.
        let shutdown = self.context.shutdown.clone();
        let mut shutdown = std::pin::pin!(shutdown.cancelled());
        // The idle timer is re-armed lazily: answering a batch only notes
        // the time, and an expiry before the noted time plus the timeout
        // just sleeps again.
        let idle_timeout = self.context.idle_timeout;
        let mut last_progress = Instant::now();
        let mut idle = std::pin::pin!(tokio::time::sleep(
            idle_timeout.unwrap_or(Duration::MAX / 4)
        ));
        // Bytes that came in with a PROXY header are answered before the
        // first read.
        let mut came_with_header = !self.read_buffer.is_empty();
        loop {
            self.read_buffer.reserve(self.read_size);
            let want = self.read_buffer.capacity() - self.read_buffer.len();
            let read = if std::mem::take(&mut came_with_header) {
                self.read_buffer.len()
            } else if let Some(read) = self.read_available(want)? {
                read
            } else {
                // Nothing there: wait for it without buffers, so a quiet
                // connection holds no memory for bytes that may never come.
                self.release_buffers_while_idle();
                tokio::select! {
                    biased;
                    _ = &mut shutdown => return self.drain().await,
                    readable = self.stream.readable() => {
                        readable?;
                        continue;
                    }
                    _ = &mut idle, if idle_timeout.is_some() => {
                        let timeout = idle_timeout.unwrap_or_default();
                        let due = last_progress + timeout;
                        if Instant::now() < due {
                            idle.as_mut().reset(due);
                            continue;
                        }
                        push_error_line(
                            &mut self.write_buffer,
                            &format!("idle timeout: no complete line for {}", humantime::format_duration(timeout)),
                        );
                        self.context.stats.idle_timeout();
                        self.flush().await?;
                        self.close_after_error().await;
                        return Ok(End::IdleTimeout);
                    }
                }
            };
            if read == want && self.read_size < READ_CHUNK {
                self.read_size *= 2;
            }
            self.context.stats.bytes_read(read);
            let eof = read == 0;
            let (answered, close) = {
                // Loaded once per read: a swapped pipeline takes over at the
                // next batch boundary, and this read's batches finish on the
                // pipeline they started on.
                let pipeline = self.context.pipeline.current();
                match self.context.framing {
                    Framing::Lines => self.answer_lines(&pipeline, eof).await,
                    Framing::Raw => self.answer_raw(&pipeline).await,
                }
            };
            if let Some(answered) = answered {
                last_progress = Instant::from_std(answered);
            }
            self.flush().await?;
            if close {
                self.close_after_error().await;
                return Ok(End::ClosedOnError);
            }
            if eof {
                return self.finish().await;
            }
        }
    }

    /// Answers every whole line in the read buffer (and the final line at
    /// EOF). Returns when the last line was answered (if any was), and
    /// whether the connection must be closed.
    async fn answer_lines(
        &mut self,
        pipeline: &Pipeline,
        eof: bool,
    ) -> (Option<std::time::Instant>, bool) {
        let framer = self.context.framer;
        let mut answered = None;
        loop {
            let max_lines = pipeline.max_batch_lines();
            let mut batch = match framer.next_batch_at_most(&self.read_buffer, eof, max_lines) {
                Ok(Some(batch)) => batch,
                Ok(None) => return (answered, false),
                Err(error @ FrameError::LineTooLong { .. }) => {
                    self.context.stats.line_too_long();
                    push_error_line(&mut self.write_buffer, &error.to_string());
                    return (answered, true);
                }
            };
            // The batch's bytes leave the read buffer without a copy: the
            // call owns its input, so it can finish on another thread.
            let consumed = self.read_buffer.split_to(batch.consumed).freeze();
            let input = batch.take_plugin_input(&consumed);
            let started = std::time::Instant::now();
            let result = pipeline
                .transform_batch(self.id, input.clone(), batch.lines)
                .await;
            // One clock read times the call and notes the progress.
            let finished = std::time::Instant::now();
            answered = Some(finished);
            self.context
                .stats
                .plugin_called(batch.lines, finished - started);
            let policy = self.context.on_plugin_error;
            let close = match result {
                Ok(reply) => {
                    encode_replies(
                        &batch,
                        &reply,
                        &input,
                        policy.stops_at_failed_line(),
                        |message, line, out| policy.answer_failed_line(message, line, out),
                        &mut self.write_buffer,
                    );
                    let failed = reply.errors().len();
                    self.context.stats.lines_failed(failed);
                    policy.stops_at_failed_line() && failed > 0
                }
                Err(error) => answer_plugin_failure(
                    &self.context,
                    self.who(),
                    &error,
                    &consumed,
                    &mut self.write_buffer,
                ),
            };
            self.context.stats.lines_answered(batch.lines);
            if close {
                return (answered, true);
            }
        }
    }

    /// Answers the whole read buffer as one raw chunk. Returns when it was
    /// answered (if there was anything), and whether the connection must
    /// be closed.
    async fn answer_raw(&mut self, pipeline: &Pipeline) -> (Option<std::time::Instant>, bool) {
        if self.read_buffer.is_empty() {
            return (None, false);
        }
        self.context.stats.lines_answered(1);
        let chunk: Bytes = self.read_buffer.split().freeze();
        let started = std::time::Instant::now();
        let result = pipeline.transform_raw(self.id, chunk.clone()).await;
        let finished = std::time::Instant::now();
        self.context.stats.plugin_called(1, finished - started);
        let close = match result {
            Ok(reply) => {
                self.write_buffer.extend_from_slice(&reply);
                false
            }
            Err(error) => answer_plugin_failure(
                &self.context,
                self.who(),
                &error,
                &chunk,
                &mut self.write_buffer,
            ),
        };
        (Some(finished), close)
    }

    /// The client sent EOF and every line is answered: last words, then
    /// close our side too.
    async fn finish(&mut self) -> std::io::Result<End> {
        self.say_last_words().await?;
        self.stream.shutdown().await?;
        Ok(End::ClientFinished)
    }

    /// The server is shutting down, and every line read so far is answered
    /// (a line not yet whole was never read as a line): last words, end of
    /// file, and input that arrives meanwhile is read and dropped, so the
    /// close is clean rather than a reset. A client that resends what was
    /// not answered (`yell-host client --reconnect`) loses nothing.
    async fn drain(&mut self) -> std::io::Result<End> {
        // A client gone already cannot hear them; the close is clean anyway.
        let said = self.say_last_words().await;
        self.close_after_error().await;
        said.map(|()| End::Drained)
    }

    /// Tells the plugin the connection ends and writes its last words.
    async fn say_last_words(&mut self) -> std::io::Result<()> {
        self.told_closed = true;
        let closed = self
            .context
            .pipeline
            .current()
            .connection_closed(self.id)
            .await;
        match closed {
            Ok(last_words) => self.write_buffer.extend_from_slice(&last_words),
            Err(error) if error.kind() == FailureKind::Overloaded => {
                note_unanswered_failure(&self.context, self.who(), &error);
            }
            Err(error) => {
                answer_plugin_failure(
                    &self.context,
                    self.who(),
                    &error,
                    &[],
                    &mut self.write_buffer,
                );
            }
        }
        self.flush().await
    }

    /// Closes so that the client can read everything sent (an error line,
    /// last words): closing with unread input would send a reset, and a
    /// reset makes the client's system drop what it had received. So: send
    /// end of file, then read and discard what the client still sends, for
    /// a bounded time, before closing.
    async fn close_after_error(&mut self) {
        if self.stream.shutdown().await.is_err() {
            return;
        }
        // On the heap: every connection's task is as large as its largest
        // state, so a buffer here would be held by every open connection.
        let mut sink = vec![0u8; 16 * 1024];
        let _ = tokio::time::timeout(ERROR_LINGER, async {
            while let Ok(1..) = self.stream.read(&mut sink).await {}
        })
        .await;
    }

    /// Reads what the socket holds into the read buffer (`want` bytes at
    /// most): `None` when it holds nothing yet, `Some(0)` at end of file.
    fn read_available(&mut self, want: usize) -> std::io::Result<Option<usize>> {
        match self.stream.try_read_buf(&mut self.read_buffer) {
            Ok(read) => {
                if 0 < read && read < want {
                    // A short read emptied the socket: the next one waits
                    // for the kernel to say more came, rather than asking it
                    // in vain (as tokio's own reads do).
                    let _ = self.stream.try_io(Interest::READABLE, || {
                        Err::<(), _>(std::io::ErrorKind::WouldBlock.into())
                    });
                }
                Ok(Some(read))
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Gives back the read buffer's memory while the connection waits for
    /// its client, unless it holds part of a line, and a write buffer grown
    /// past a small reply's size: ten thousand quiet connections then hold
    /// next to nothing. A connection that waits between lines pays one
    /// allocation per read for it; a small write buffer is kept, since
    /// growing one again from nothing reallocates it several times a batch.
    fn release_buffers_while_idle(&mut self) {
        if self.read_buffer.is_empty() && self.read_buffer.capacity() > 0 {
            self.read_buffer = BytesMut::new();
        }
        if self.write_buffer.capacity() > KEPT_WRITE_BUFFER {
            self.write_buffer = Vec::new();
        }
    }

    /// Writes the pending replies. A client that reads none of them for the
    /// idle timeout is given up on: the server stops reading from a client
    /// while its replies wait (backpressure), but not forever.
    async fn flush(&mut self) -> std::io::Result<()> {
        if self.write_buffer.is_empty() {
            return Ok(());
        }
        // Usually the socket takes it all at once; only a full socket needs
        // the waiting (and the timer) below.
        let written = match self.stream.try_write(&self.write_buffer) {
            Ok(written) => written,
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => 0,
            Err(error) => return Err(error),
        };
        if written < self.write_buffer.len() {
            let rest = &self.write_buffer[written..];
            match self.context.idle_timeout {
                None => self.stream.write_all(rest).await?,
                Some(timeout) => tokio::time::timeout(timeout, self.stream.write_all(rest))
                    .await
                    .map_err(|_| {
                        std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            "the client read none of its replies for the idle timeout",
                        )
                    })??,
            }
        }
        let lines = memchr::memchr_iter(b'\n', &self.write_buffer).count();
        self.context.stats.written(self.write_buffer.len(), lines);
        self.write_buffer.clear();
        // Keep a burst's large buffer from staying with an idle connection.
        if self.write_buffer.capacity() > 4 * READ_CHUNK {
            self.write_buffer = Vec::new();
        }
        Ok(())
    }
}

/// Answers a failed plugin call on `input` by the error policy, into `out`.
/// Returns whether the connection must be closed.
fn answer_plugin_failure(
    context: &ConnectionContext,
    (connection, peer): (u64, std::net::SocketAddr),
    error: &PluginError,
    input: &[u8],
    out: &mut Vec<u8>,
) -> bool {
    context.stats.plugin_failed(error.kind());
    tracing::warn!(
        connection,
        %peer,
        plugin = context.pipeline.current().name(),
        kind = error.kind().name(),
        "plugin call failed: {error}"
    );
    context
        .on_plugin_error
        .answer_failed_call(error, input, out)
        == AfterFailure::Close
}

/// Counts and logs a failed greeting or last words that gets no error line.
fn note_unanswered_failure(
    context: &ConnectionContext,
    (connection, peer): (u64, std::net::SocketAddr),
    error: &PluginError,
) {
    context.stats.plugin_failed(error.kind());
    tracing::debug!(
        connection,
        %peer,
        kind = error.kind().name(),
        "no greeting or last words: {error}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_are_one_line() {
        let mut out = Vec::new();
        push_error_line(&mut out, "plugin: trapped:\nwasm backtrace:\r\n  0: f");
        assert_eq!(out, b"ERR plugin: trapped: wasm backtrace:    0: f\n");
    }
}
