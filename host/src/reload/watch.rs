//! Reload when a plugin file changes on disk.
//!
//! The folders holding the plugin files are watched (not the files: a
//! deployment that writes a new file and renames it over the old one
//! replaces the file the watch would be on). Both ways of deploying work:
//!
//! - copy then rename: the rename is the whole new file at once, so the
//!   reload follows it after [`SETTLE`];
//! - writing in place: the file is half-written until the writer closes it,
//!   so a reload waits for the close (then [`SETTLE`]), or for the file to
//!   be left alone for the debounce time. A half-written file that is
//!   loaded anyway fails to load, is reported, and leaves the old plugin
//!   serving; the writes that follow trigger a reload again.
//!
//! Kubernetes updates a mounted ConfigMap or Secret by swapping a `..data`
//! symlink (the plugin's own path, a symlink through it, gets no event):
//! a change to `..data` in a watched folder reloads too.
//!
//! Where plugins must be signed, a change to a signature file (`X.wasm.sig`)
//! reloads too, so a new plugin loads once both it and its signature are in
//! place, in whichever order they were written.
//!
//! Owns: watching plugin files. Uses: the reload queue and the reload causes.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{Event, EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use yell_runtime::signature_path;

use super::live::ReloadCause;
use super::queue::Reloads;

/// How long after a file is complete (closed after writing, or renamed into
/// place) the reload starts: lets a burst of such events become one reload.
const SETTLE: Duration = Duration::from_millis(2);

/// Starts watching the chain's plugin files; each change reloads the chain
/// (only changed files are compiled again). `debounce` is how long a file
/// that is being written must be left alone before it is loaded anyway.
pub fn watch_plugin_files(
    reloads: Arc<Reloads>,
    debounce: Duration,
    shutdown: CancellationToken,
) -> Result<()> {
    let mut files = HashSet::new();
    let mut folders = HashSet::new();
    let live = reloads.live();
    for spec in live.specs() {
        if crate::oci::is_reference(&spec.path) {
            // Followed by polling its registry (--oci-poll), not watched.
            continue;
        }
        let (folder, file) = watched_path(&spec.path)?;
        if live.runtime().requires_signatures() {
            // A new plugin and its signature are written one after the
            // other: whichever comes last completes the pair.
            files.insert(signature_path(&file));
        }
        folders.insert(folder);
        files.insert(file);
    }
    let (events, mut received) = mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
        // The receiver is gone only when the server is shutting down.
        let _ = events.send(event);
    })
    .context("cannot watch plugin files")?;
    for folder in &folders {
        watcher
            .watch(folder, RecursiveMode::NonRecursive)
            .with_context(|| format!("cannot watch {}", folder.display()))?;
    }
    tokio::spawn(async move {
        // The watcher stops when dropped, so the task keeps it.
        let _watcher = watcher;
        loop {
            // Wait for a change to a plugin file...
            let mut due = tokio::select! {
                _ = shutdown.cancelled() => return,
                event = received.recv() => match event {
                    None => return,
                    Some(event) => match settle_time(&event, &files, debounce) {
                        Some(wait) => Instant::now() + wait,
                        None => continue,
                    },
                },
            };
            // ...then for the changes to stop.
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep_until(due) => break,
                    event = received.recv() => match event {
                        None => return,
                        Some(event) => {
                            if let Some(wait) = settle_time(&event, &files, debounce) {
                                due = Instant::now() + wait;
                            }
                        }
                    },
                }
            }
            // Errors are logged by the reload, and the old plugin serves on.
            let _ = reloads.request(ReloadCause::FileChanged).await;
        }
    });
    Ok(())
}

/// The folder to watch for `path`, and the path events will name the file
/// by.
fn watched_path(path: &Path) -> Result<(PathBuf, PathBuf)> {
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file name", path.display()))?;
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let folder = std::fs::canonicalize(folder)
        .with_context(|| format!("cannot watch {}", folder.display()))?;
    let file = folder.join(name);
    Ok((folder, file))
}

/// Whether `path` is the symlink through which a Kubernetes volume's files
/// are reached (`..data`, made as `..data_tmp` and renamed over it).
fn is_kubernetes_data_link(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name == "..data" || name == "..data_tmp")
}

/// How long to wait after `event` before reloading, or `None` if it is not
/// a change to one of `files`.
fn settle_time(
    event: &notify::Result<Event>,
    files: &HashSet<PathBuf>,
    debounce: Duration,
) -> Option<Duration> {
    let event = match event {
        Ok(event) => event,
        Err(error) => {
            // An overflowed event queue, for one: a change may have been
            // missed, so reload to be sure.
            tracing::warn!("watching plugin files: {error}");
            return Some(debounce);
        }
    };
    if event.paths.iter().any(|path| is_kubernetes_data_link(path)) {
        // The whole volume moved to new files at once.
        return match event.kind {
            EventKind::Access(_) => None,
            _ => Some(SETTLE),
        };
    }
    if !event.paths.iter().any(|path| files.contains(path)) {
        return None;
    }
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => Some(SETTLE),
        EventKind::Access(_) => None,
        EventKind::Modify(ModifyKind::Name(_)) => Some(SETTLE),
        _ => Some(debounce),
    }
}
