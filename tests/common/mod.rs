//! Shared by the integration tests: start the real `yell-host` binary on
//! 127.0.0.1:0 and talk bytes to it.

#![allow(dead_code)] // each test file uses a different part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Longest any single step of a test may wait on the server.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_yell-host")
}

/// Where `just build-plugins` puts the plugin components.
pub fn plugin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/plugins")
}

/// A running `yell-host` process, killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// Everything the server printed on stdout after its listening line.
    stdout: mpsc::Receiver<String>,
    /// The server's log lines (stderr), also echoed to the test's stderr.
    stderr: mpsc::Receiver<String>,
}

impl ServerProcess {
    /// Starts `yell-host` with `args` on 127.0.0.1:0 and waits until it
    /// listens.
    pub fn start(args: &[&str]) -> Self {
        Self::start_logging(args, "warn")
    }

    /// Like [`ServerProcess::start`], with `RUST_LOG` set to `log_filter`.
    pub fn start_logging(args: &[&str], log_filter: &str) -> Self {
        let mut child = Command::new(binary())
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", log_filter)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start yell-host");
        let lines = forward_lines(child.stdout.take().unwrap(), false);
        let stderr = forward_lines(child.stderr.take().unwrap(), true);
        let first = lines
            .recv_timeout(STEP_TIMEOUT)
            .expect("yell-host printed no listening line");
        let addr = first
            .strip_prefix("yell-host listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .parse()
            .expect("listening address");
        ServerProcess {
            child,
            addr,
            stdout: lines,
            stderr,
        }
    }

    /// Waits for a log line containing all of `needles`; returns it.
    pub fn wait_for_log(&self, needles: &[&str]) -> String {
        let deadline = std::time::Instant::now() + STEP_TIMEOUT;
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            let Ok(line) = self.stderr.recv_timeout(left) else {
                break;
            };
            if needles.iter().all(|needle| line.contains(needle)) {
                return line;
            }
        }
        panic!("no log line with {needles:?}");
    }

    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
    }

    /// Sends SIGTERM and returns the exit status and what was printed on
    /// stdout after the listening line.
    pub fn terminate(mut self) -> (ExitStatus, String) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = wait_with_timeout(&mut self.child, STEP_TIMEOUT);
        let mut printed = Vec::new();
        while let Ok(line) = self.stdout.recv_timeout(Duration::from_secs(1)) {
            printed.push(line);
        }
        (status, printed.join("\n"))
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `from` line by line on a thread into a channel (echoing each line
/// to stderr when `echo`, so failing tests show the server's log).
fn forward_lines(from: impl Read + Send + 'static, echo: bool) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(from).lines() {
            let Ok(line) = line else { break };
            if echo {
                eprintln!("[yell-host] {line}");
            }
            if tx.send(line).is_err() && !echo {
                break;
            }
        }
    });
    rx
}

/// Connects with read and write timeouts, so a test never hangs.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(STEP_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(STEP_TIMEOUT)).unwrap();
    stream
}

pub fn wait_with_timeout(child: &mut Child, timeout: Duration) -> ExitStatus {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "process did not exit within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `input`, closes the sending side, and reads everything the server
/// sends until it closes.
pub fn exchange(server: &ServerProcess, input: &[u8]) -> Vec<u8> {
    let mut stream = server.connect();
    stream.write_all(input).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    read_to_end(&mut stream)
}

pub fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    stream
        .read_to_end(&mut out)
        .expect("read until the server closes");
    out
}

/// Reads exactly `len` bytes.
pub fn read_exact(stream: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    stream.read_exact(&mut out).expect("read reply");
    out
}
