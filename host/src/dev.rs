//! `yell-host dev`: a plugin project served while its author edits it. The
//! project is built, served, and its sources watched; a save rebuilds it,
//! and the new component replaces the served one by the server's own live
//! swap (open connections go on, on the new plugin). A build that fails
//! prints the compiler's messages and changes nothing: the plugin that
//! built last keeps serving.
//!
//! Owns: watching a project's sources and rebuilding. Uses: the project
//! builder and the server.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use anyhow::{Context, Result};
use notify::{EventKind, RecursiveMode, Watcher};

use crate::project::{self, BuildOptions};
use crate::server::{self, ServerConfig};
use crate::stats::Summary;

/// How long the sources must be left alone before a rebuild starts: an
/// editor's save is often several writes.
const QUIET: Duration = Duration::from_millis(300);

/// Serves `config` (whose plugin is the project's component, built once
/// already) until Ctrl-C or SIGTERM, rebuilding the project in `dir` at
/// each change of its sources.
pub async fn run(dir: PathBuf, options: BuildOptions, config: ServerConfig) -> Result<Summary> {
    // Events name paths under the folder as watched: an absolute one, so
    // that what is under target/ is told apart whatever the folder given.
    let dir = std::fs::canonicalize(&dir).with_context(|| format!("{}", dir.display()))?;
    let (changes, changed) = mpsc::channel();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event {
            let _ = changes.send(event);
        }
    })
    .context("watching the project's sources")?;
    watcher
        .watch(&dir, RecursiveMode::Recursive)
        .with_context(|| format!("watching {}", dir.display()))?;
    eprintln!(
        "yell-host dev: watching {}: a change rebuilds the plugin and swaps it live",
        dir.display()
    );
    let root = dir.clone();
    std::thread::Builder::new()
        .name("dev-rebuild".into())
        .spawn(move || rebuild_on_change(&root, options, &changed))
        .context("starting the rebuild thread")?;
    let shutdown = server::shutdown_signal()?;
    let summary = server::run(config, shutdown).await;
    drop(watcher);
    summary
}

/// Rebuilds after each burst of source changes, until the watch ends.
fn rebuild_on_change(dir: &Path, options: BuildOptions, changed: &mpsc::Receiver<notify::Event>) {
    while let Ok(event) = changed.recv() {
        if !is_source_change(dir, &event) {
            continue;
        }
        // The rest of the burst.
        while changed.recv_timeout(QUIET).is_ok() {}
        match project::build(dir, &options) {
            Ok(path) => eprintln!("yell-host dev: rebuilt {}", path.display()),
            Err(error) => eprintln!(
                "yell-host dev: the build failed, the last plugin that built keeps serving: {error:#}"
            ),
        }
    }
}

/// Whether `event` changed a source of the project: not its build output
/// (`target/`, JavaScript's `.build/`), installed or cached modules
/// (`node_modules/`, `__pycache__/`), its lock file, or an editor's hidden
/// or backup files.
fn is_source_change(dir: &Path, event: &notify::Event) -> bool {
    let writes = matches!(
        event.kind,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
    );
    writes
        && event.paths.iter().any(|path| {
            let relative = path.strip_prefix(dir).unwrap_or(path);
            let name = relative
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            let generated = relative.components().any(|part| {
                matches!(
                    part.as_os_str().to_str(),
                    Some("target" | ".build" | "node_modules" | "__pycache__")
                )
            });
            !generated
                && name != "Cargo.lock"
                && !name.starts_with('.')
                && !name.ends_with('~')
                && !name.ends_with(".swp")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(path: &str) -> notify::Event {
        notify::Event::new(EventKind::Modify(notify::event::ModifyKind::Any))
            .add_path(PathBuf::from("/p").join(path))
    }

    #[test]
    fn sources_count_and_build_output_does_not() {
        let dir = Path::new("/p");
        assert!(is_source_change(dir, &event("src/lib.rs")));
        assert!(is_source_change(dir, &event("sdk/src/reply.rs")));
        assert!(!is_source_change(dir, &event("target/shout.wasm")));
        assert!(!is_source_change(dir, &event("Cargo.lock")));
        assert!(is_source_change(dir, &event("app.py")));
        assert!(!is_source_change(
            dir,
            &event("__pycache__/app.cpython-311.pyc")
        ));
        assert!(!is_source_change(dir, &event(".build/app.js.entry.js")));
        assert!(!is_source_change(dir, &event("node_modules/x/index.js")));
        assert!(!is_source_change(dir, &event("src/.lib.rs.swp")));
        assert!(!is_source_change(dir, &event("src/lib.rs~")));
    }
}
