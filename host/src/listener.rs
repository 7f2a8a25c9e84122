//! The data listener: accepts client connections, gives each a task, and
//! shuts down gracefully (stop accepting, let connections finish what they
//! read, wait for them a bounded time).
//!
//! Owns: binding and accepting, admission of connections. Uses: the connection and the
//! stats.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::net::{TcpListener, TcpSocket};
use tokio_util::task::TaskTracker;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::connection::{serve_connection, ActiveConnection, ConnectionContext};
use crate::stats::Summary;
use yell_runtime::push_error_line;

/// Where the listener's socket comes from.
#[derive(Debug)]
pub enum ListenOn {
    /// Bind this address; with `reuse_port`, several processes may bind it
    /// and the kernel spreads connections between them (`SO_REUSEPORT`).
    Address { addr: SocketAddr, reuse_port: bool },
    /// A listening socket this process was given: by systemd socket
    /// activation, or by whatever started it the same way (`LISTEN_FDS`).
    /// Connections wait in its queue while one process hands over to the
    /// next, so an upgrade refuses none.
    Inherited(std::net::TcpListener),
}

/// The listening socket passed by socket activation (`LISTEN_FDS=1`, the
/// socket as file descriptor 3), if any. Call it before threads start: it
/// reads and clears the environment variables, so child processes do not
/// inherit them.
pub fn inherited_socket() -> Result<Option<std::net::TcpListener>> {
    let mut passed = listenfd::ListenFd::from_env();
    if passed.len() > 1 {
        bail!(
            "{} sockets were passed (LISTEN_FDS): yell-host serves one; give the socket unit one ListenStream",
            passed.len()
        );
    }
    let Some(socket) = passed
        .take_tcp_listener(0)
        .context("the socket passed by LISTEN_FDS is not a TCP socket")?
    else {
        return Ok(None);
    };
    // A connected socket (a socket unit with Accept=yes) or one bound but
    // not listening would fail every accept.
    if !socket2::SockRef::from(&socket)
        .is_listener()
        .context("the socket passed by LISTEN_FDS")?
    {
        bail!("the socket passed by LISTEN_FDS is not listening (a socket unit needs Accept=no)");
    }
    Ok(Some(socket))
}

/// Connections waiting to be accepted, at most: the kernel's queue.
const BACKLOG: u32 = 1024;

/// A bound listener, not yet accepting.
pub struct Listener {
    listener: TcpListener,
    context: Arc<ConnectionContext>,
    /// Connections served at once; those past it are refused.
    max_connections: u64,
}

impl Listener {
    /// Binds (or takes) the socket; the plugin in `context` is already
    /// loaded, so a bad plugin fails before anything listens.
    pub async fn bind(
        listen_on: ListenOn,
        context: ConnectionContext,
        max_connections: u64,
    ) -> Result<Self> {
        let listener = match listen_on {
            ListenOn::Inherited(socket) => {
                socket.set_nonblocking(true)?;
                TcpListener::from_std(socket).context("using the inherited socket")?
            }
            ListenOn::Address { addr, reuse_port } => bind_address(addr, reuse_port)
                .with_context(|| format!("cannot listen on {addr}"))?,
        };
        Ok(Listener {
            listener,
            context: Arc::new(context),
            max_connections,
        })
    }

    /// The address actually bound (the port chosen for `:0`).
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.listener.local_addr()?)
    }

    /// Serves until the context's shutdown token is cancelled, then stops
    /// accepting, waits up to `finish_within()` (asked then) for the
    /// connections to answer what they read and close, and returns the
    /// final counters (a client that never reads its replies is given up
    /// on then).
    pub async fn run(self, finish_within: impl FnOnce() -> Duration) -> Summary {
        let tracker = TaskTracker::new();
        let next_id = AtomicU64::new(1);
        let shutdown = self.context.shutdown.clone();
        loop {
            let accepted = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, peer)) => {
                    let stats = &self.context.stats;
                    if stats.connections_active() >= self.max_connections {
                        stats.connection_refused();
                        tracing::debug!(%peer, "refused: too many connections");
                        tracker.spawn(refuse(stream, self.max_connections));
                        continue;
                    }
                    // Counted here, not in the task, so a burst of accepts
                    // cannot overshoot the limit.
                    let active = ActiveConnection::new(stats.clone());
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    tracker.spawn(serve_connection(stream, id, self.context.clone(), active));
                }
                Err(error) => {
                    // Out of file descriptors and the like: keep serving the
                    // connections there are, and try again shortly.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        drop(self.listener);
        let finish_within = finish_within();
        tracker.close();
        let active = self.context.stats.connections_active();
        if active > 0 {
            tracing::info!(active, "shutting down: finishing open connections");
        }
        if tokio::time::timeout(finish_within, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                left = self.context.stats.connections_active(),
                "connections still open after {finish_within:?}; closing them"
            );
        }
        self.context
            .stats
            .summary(self.context.pipeline.generation())
    }
}

fn bind_address(addr: SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As a plain bind does: a restart may reuse the port at once.
    socket.set_reuseaddr(true)?;
    if reuse_port {
        socket.set_reuseport(true)?;
    }
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Tells a connection past the limit why it is closed, and closes it.
async fn refuse(mut stream: TcpStream, max_connections: u64) {
    let mut line = Vec::new();
    push_error_line(
        &mut line,
        &format!("too many connections: the limit is {max_connections}"),
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(&line).await?;
        stream.shutdown().await
    })
    .await;
}
