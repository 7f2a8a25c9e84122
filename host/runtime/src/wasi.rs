//! WASI for plugins, granting nothing by default. Toolchains for Python,
//! JavaScript and C produce components that import WASI (their standard
//! libraries are built on it); the host links it so they load, and denies
//! what a sandboxed line transform has no business with:
//!
//! - no files (no preopened directory), no environment, no arguments;
//! - no network: TCP, UDP and name lookup are all refused;
//! - stdin is empty; stdout and stderr become the plugin's log lines (info
//!   and warn), under the same rate limit as its other log lines;
//! - randomness is allowed (hash seeds need it);
//! - clocks are allowed but coarse: the wall clock and the monotonic clock
//!   move in steps of [`CLOCK_STEP`], so untrusted code gets no fine timer
//!   to measure other clients' work with.
//!
//! An operator may grant one plugin more ([`Grants`]): environment
//! variables, directories to read (never to write), and TCP connections to
//! named addresses only (no listening, no UDP; name lookup comes with a
//! connect grant, as language runtimes resolve before they connect).
//!
//! Owns: the WASI context of an instance. Uses: the grants and the plugin log.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

use crate::log::{Level, PluginLog};
use crate::spec::Grants;

/// The step both clocks move in.
pub const CLOCK_STEP: Duration = Duration::from_millis(1);

/// Longest stdout or stderr line kept as one log line; the log cuts it
/// further.
const MAX_LINE: usize = 16 * 1024;

/// A plugin instance's WASI context: everything denied but randomness,
/// coarse clocks and what `grants` allows; stdout and stderr to `log`.
pub fn context(log: &Arc<PluginLog>, grants: &Grants) -> Result<WasiCtx> {
    let mut builder = WasiCtxBuilder::new();
    builder
        .stdout(LogStream::new(log.clone(), Level::Info))
        .stderr(LogStream::new(log.clone(), Level::Warn))
        .wall_clock(CoarseWallClock)
        .monotonic_clock(CoarseMonotonicClock::new())
        .envs(&grants.env)
        .allow_tcp(!grants.connect.is_empty())
        .allow_udp(false)
        // Toolchains resolve even numeric addresses before connecting
        // (Python's socket module does), so a plugin that may connect may
        // look names up; it still connects only where it was granted.
        .allow_ip_name_lookup(!grants.connect.is_empty());
    for dir in &grants.read_only_dirs {
        builder
            .preopened_dir(dir.open_path(), &dir.guest, FsPerms::ReadOnly)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("opening granted directory {}", dir.host.display()))?;
    }
    let allowed = Arc::new(grants.connect.clone());
    builder.socket_addr_check(move |addr, usage| {
        let allowed = connect_allowed(&allowed, addr, usage);
        Box::pin(std::future::ready(allowed)) as Pin<Box<dyn Future<Output = bool> + Send + Sync>>
    });
    Ok(builder.build())
}

/// Whether a socket may use `addr` for `usage`: only connecting to a
/// granted address, and the implicit bind to an unspecified address that
/// connecting makes. No listening, no UDP.
fn connect_allowed(granted: &[SocketAddr], addr: SocketAddr, usage: SocketAddrUse) -> bool {
    match usage {
        SocketAddrUse::TcpConnect => granted.contains(&addr),
        SocketAddrUse::TcpBind => {
            !granted.is_empty() && addr.ip().is_unspecified() && addr.port() == 0
        }
        _ => false,
    }
}

/// Standard output or error of a plugin, written to its log a line at a
/// time.
#[derive(Clone)]
struct LogStream {
    log: Arc<PluginLog>,
    level: Level,
    /// The line being written, until its '\n'. Shared by every stream the
    /// guest opens on it, as they are one logical output.
    pending: Arc<Mutex<Vec<u8>>>,
}

impl LogStream {
    fn new(log: Arc<PluginLog>, level: Level) -> LogStream {
        LogStream {
            log,
            level,
            pending: Arc::default(),
        }
    }

    fn write(&self, bytes: &[u8]) {
        let mut pending = self.pending.lock().expect("plugin output lock");
        for &byte in bytes {
            if byte == b'\n' || pending.len() >= MAX_LINE {
                let line = String::from_utf8_lossy(&pending).into_owned();
                pending.clear();
                self.log.write(self.level, &line);
                if byte == b'\n' {
                    continue;
                }
            }
            pending.push(byte);
        }
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for LogStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.write(bytes);
        Poll::Ready(Ok(bytes.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Rounds `nanos` down to a whole number of [`CLOCK_STEP`]s.
fn coarse(nanos: u128) -> u128 {
    let step = CLOCK_STEP.as_nanos();
    nanos / step * step
}

/// The wall clock, to the millisecond.
struct CoarseWallClock;

impl HostWallClock for CoarseWallClock {
    fn resolution(&self) -> Duration {
        CLOCK_STEP
    }

    fn now(&self) -> Duration {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let nanos = coarse(since_epoch.as_nanos());
        Duration::new(
            (nanos / 1_000_000_000) as u64,
            (nanos % 1_000_000_000) as u32,
        )
    }
}

/// The monotonic clock, to the millisecond.
struct CoarseMonotonicClock {
    start: Instant,
}

impl CoarseMonotonicClock {
    fn new() -> Self {
        CoarseMonotonicClock {
            start: Instant::now(),
        }
    }
}

impl HostMonotonicClock for CoarseMonotonicClock {
    fn resolution(&self) -> u64 {
        CLOCK_STEP.as_nanos() as u64
    }

    fn now(&self) -> u64 {
        coarse(self.start.elapsed().as_nanos()) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_granted_addresses_connect() {
        let granted: Vec<SocketAddr> = vec!["127.0.0.1:7000".parse().unwrap()];
        let at = |text: &str| text.parse::<SocketAddr>().unwrap();
        assert!(connect_allowed(
            &granted,
            at("127.0.0.1:7000"),
            SocketAddrUse::TcpConnect
        ));
        assert!(!connect_allowed(
            &granted,
            at("127.0.0.1:7001"),
            SocketAddrUse::TcpConnect
        ));
        assert!(connect_allowed(
            &granted,
            at("0.0.0.0:0"),
            SocketAddrUse::TcpBind
        ));
        assert!(!connect_allowed(
            &granted,
            at("127.0.0.1:7000"),
            SocketAddrUse::TcpBind
        ));
        assert!(!connect_allowed(
            &granted,
            at("0.0.0.0:0"),
            SocketAddrUse::TcpListen
        ));
        assert!(!connect_allowed(
            &granted,
            at("127.0.0.1:7000"),
            SocketAddrUse::UdpBind
        ));
        assert!(!connect_allowed(
            &[],
            at("0.0.0.0:0"),
            SocketAddrUse::TcpBind
        ));
    }

    #[test]
    fn clocks_move_in_whole_steps() {
        let wall = CoarseWallClock.now();
        assert_eq!(wall.as_nanos() % CLOCK_STEP.as_nanos(), 0);
        let monotonic = CoarseMonotonicClock::new();
        std::thread::sleep(Duration::from_micros(1500));
        let now = monotonic.now();
        assert_eq!(u128::from(now) % CLOCK_STEP.as_nanos(), 0);
        assert!(now >= CLOCK_STEP.as_nanos() as u64);
        assert_eq!(coarse(2_999_999), 2_000_000);
    }
}
