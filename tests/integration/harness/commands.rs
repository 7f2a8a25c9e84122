//! The binary's commands other than serving, run to completion.

use std::io::Write;
use std::process::Stdio;

use super::paths::{compile_cache, yell_host};

/// Runs `yell-host pipe ARGS` on `input`, with the tests' compile cache.
pub fn pipe(args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = yell_host()
        .arg("pipe")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    // Written from a thread: a large input could fill the pipe while the
    // output is not read yet.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    output
}

/// Compiles plugins into the tests' compile cache before any server needs
/// them: runs `yell-host pipe ARGS` on no input for each of `pipe_args`
/// (`--plugin P`, and the configuration it needs to start), once per test
/// process. An interpreter's component takes seconds to compile, more
/// than a server start may take; every server after this finds it cached.
pub fn compiled_once<'a>(pipe_args: &[impl AsRef<[&'a str]>]) {
    static COMPILED: std::sync::Mutex<Vec<Vec<String>>> = std::sync::Mutex::new(Vec::new());
    let mut compiled = COMPILED.lock().unwrap();
    // One test process compiles at a time (tests run as processes side by
    // side): the others wait for it, then find the cache warm, instead of
    // compiling the same components at once.
    let _warming = CacheLock::exclusive();
    for args in pipe_args {
        let args = args.as_ref();
        let key: Vec<String> = args.iter().map(|arg| arg.to_string()).collect();
        if compiled.contains(&key) {
            continue;
        }
        let output = pipe(args, b"");
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        compiled.push(key);
    }
}

/// An exclusive lock on a folder the tests share, across processes (an
/// advisory `flock`), released when dropped.
pub struct CacheLock {
    /// Held, not read: closing it releases the lock.
    _file: std::fs::File,
}

impl CacheLock {
    /// The lock on the tests' compile cache.
    fn exclusive() -> Self {
        Self::exclusive_on(&compile_cache())
    }

    /// The lock on `dir`, made if missing.
    pub fn exclusive_on(dir: &std::path::Path) -> Self {
        use std::os::fd::AsRawFd;
        std::fs::create_dir_all(dir).unwrap();
        let file = std::fs::File::create(dir.join(".lock")).unwrap();
        // SAFETY: flock on a file descriptor this process owns.
        assert_eq!(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) }, 0);
        CacheLock { _file: file }
    }
}
