//! What the embedder says about one plugin: where it is, its configuration,
//! the digest it is pinned to, what it is granted beyond the sandbox and
//! the limits of its own. Plain values: the command line (or any other
//! embedder) fills them in.
//!
//! Owns: [`PluginSpec`], [`Grants`], [`DirGrant`], [`OwnLimits`]. Uses: the
//! digest type and every plugin's limits.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cache::Digest256;
use crate::limits::PluginLimits;

/// One plugin of a chain, as the embedder gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSpec {
    /// The component file.
    pub path: PathBuf,
    /// Handed to the plugin's `init`.
    pub config: Vec<(String, String)>,
    /// The SHA-256 its content must have (`--plugin-sha256`), at start and
    /// at every swap.
    pub sha256: Option<Digest256>,
    /// What it may reach through WASI besides randomness and coarse clocks.
    pub grants: Grants,
    /// Its own limits, where they differ from every plugin's.
    pub limits: OwnLimits,
}

impl PluginSpec {
    /// The plugin at `path`, with no configuration, no pin, no grant and
    /// every plugin's limits.
    pub fn new(path: PathBuf) -> PluginSpec {
        PluginSpec {
            path,
            config: Vec::new(),
            sha256: None,
            grants: Grants::default(),
            limits: OwnLimits::default(),
        }
    }
}

/// What one plugin may reach through WASI beyond the sandbox, which grants
/// nothing but randomness and coarse clocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Environment variables it sees (`--plugin-env`).
    pub env: Vec<(String, String)>,
    /// Directories it may read, nothing else (`--plugin-dir-ro`).
    pub read_only_dirs: Vec<DirGrant>,
    /// The only addresses it may open TCP connections to
    /// (`--plugin-connect`).
    pub connect: Vec<SocketAddr>,
}

impl Grants {
    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        self.env.is_empty() && self.read_only_dirs.is_empty() && self.connect.is_empty()
    }

    /// For the log, in one line. Environment values are not shown: they
    /// are where secrets go.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.env.is_empty() {
            let keys: Vec<&str> = self.env.iter().map(|(key, _)| key.as_str()).collect();
            parts.push(format!("environment {}", keys.join(", ")));
        }
        for dir in &self.read_only_dirs {
            parts.push(format!(
                "read-only directory {} as {}",
                dir.host.display(),
                dir.guest
            ));
        }
        if !self.connect.is_empty() {
            let addrs: Vec<String> = self.connect.iter().map(ToString::to_string).collect();
            parts.push(format!("TCP connections to {}", addrs.join(", ")));
        }
        parts.join("; ")
    }
}

/// A host directory a plugin may read (`--plugin-dir-ro`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// Where it is on the host (made absolute at start).
    pub host: PathBuf,
    /// Where the plugin sees it.
    pub guest: String,
    /// The directory itself, opened at start.
    pub held: Option<HeldDir>,
}

impl DirGrant {
    /// The path every instance's preopen is opened from: the directory
    /// opened at start, through `/proc/self/fd`, so that replacing a part
    /// of its path later (a symbolic link to `/`...) cannot widen the
    /// grant; the path itself where `/proc` is missing.
    pub fn open_path(&self) -> PathBuf {
        use std::os::fd::AsRawFd;
        match &self.held {
            Some(held) if Path::new("/proc/self/fd").is_dir() => {
                PathBuf::from(format!("/proc/self/fd/{}", held.0.as_raw_fd()))
            }
            _ => self.host.clone(),
        }
    }
}

/// A granted directory, held open for the life of the process.
#[derive(Debug, Clone)]
pub struct HeldDir(std::sync::Arc<std::fs::File>);

impl HeldDir {
    /// Holds `dir`, an open directory, for every instance's preopen.
    pub fn new(dir: std::fs::File) -> HeldDir {
        HeldDir(std::sync::Arc::new(dir))
    }
}

impl PartialEq for HeldDir {
    fn eq(&self, other: &Self) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for HeldDir {}

impl OwnLimits {
    /// `every_plugins` with this plugin's own limits in place.
    pub fn over(&self, every_plugins: PluginLimits) -> PluginLimits {
        PluginLimits {
            memory_bytes: self.memory_bytes.unwrap_or(every_plugins.memory_bytes),
            call_timeout: self.call_timeout.unwrap_or(every_plugins.call_timeout),
            wall_timeout: self.wall_timeout.unwrap_or(every_plugins.wall_timeout),
            ..every_plugins
        }
    }

    /// For the log, in one line; empty when there is none.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(bytes) = self.memory_bytes {
            parts.push(format!("memory {} MiB", bytes as f64 / f64::from(1 << 20)));
        }
        if let Some(limit) = self.call_timeout {
            parts.push(format!(
                "running time {}",
                humantime::format_duration(limit)
            ));
        }
        if let Some(limit) = self.wall_timeout {
            parts.push(format!(
                "wall-clock time {}",
                humantime::format_duration(limit)
            ));
        }
        parts.join(", ")
    }
}

/// The limits of one plugin that differ from every plugin's
/// (`--plugin-memory NAME:SIZE`, `--plugin-timeout NAME:TIME`,
/// `--plugin-wall-timeout NAME:TIME`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OwnLimits {
    /// Most linear memory one instance may hold.
    pub memory_bytes: Option<usize>,
    /// Most running time one call may use.
    pub call_timeout: Option<Duration>,
    /// Most wall-clock time one call may take.
    pub wall_timeout: Option<Duration>,
}
