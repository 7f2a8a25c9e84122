//! The real `yell-host` binary as a child process: for what needs a
//! process of its own (signals, exit codes, stdout, socket activation,
//! open-file limits) and for every test that reads the server's log.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use super::net::{connect, Endpoint, STEP_TIMEOUT};
use super::paths::{binary, compile_cache, plugin_dir, yell_host};

/// A running `yell-host` process, killed when dropped.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    /// Everything the server printed on stdout after its listening line.
    stdout: Mutex<mpsc::Receiver<String>>,
    /// The server's log lines (stderr), also echoed to the test's stderr.
    stderr: Mutex<mpsc::Receiver<String>>,
}

impl ServerProcess {
    /// Starts `yell-host` with `args` on 127.0.0.1:0 and waits until it
    /// listens.
    pub fn start(args: &[&str]) -> Self {
        Self::start_logging(args, "warn")
    }

    /// Like [`ServerProcess::start`], with `RUST_LOG` set to `log_filter`.
    pub fn start_logging(args: &[&str], log_filter: &str) -> Self {
        Self::start_under(&[], args, log_filter)
    }

    /// Like [`ServerProcess::start_logging`], run by `wrapper` (a command
    /// that execs the rest of its arguments, such as `prlimit ... --`).
    pub fn start_under(wrapper: &[&str], args: &[&str], log_filter: &str) -> Self {
        Self::start_customized(wrapper, args, log_filter, |_| {})
    }

    /// Like [`ServerProcess::start_under`], with `customize` applied to the
    /// command before it runs (extra environment, file descriptors...).
    pub fn start_customized(
        wrapper: &[&str],
        args: &[&str],
        log_filter: &str,
        customize: impl FnOnce(&mut Command),
    ) -> Self {
        let mut command = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(binary());
                command
            }
            None => Command::new(binary()),
        };
        command.env("YELL_PLUGIN_DIR", plugin_dir());
        customize(&mut command);
        Self::spawn(command, args, log_filter)
    }

    /// Runs `command` (a `yell-host`, set up by the caller) with `args` on
    /// 127.0.0.1:0 and waits until it listens.
    pub fn spawn(mut command: Command, args: &[&str], log_filter: &str) -> Self {
        let mut child = command
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", log_filter)
            .env("YELL_COMPILE_CACHE", compile_cache())
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
            stdout: Mutex::new(lines),
            stderr: Mutex::new(stderr),
        }
    }

    /// A server with its admin endpoint on a free port, logging at info:
    /// the server and the endpoint's address.
    pub fn start_with_admin(extra: &[&str]) -> (Self, SocketAddr) {
        let mut args = vec!["--metrics-addr", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let server = Self::start_logging(&args, "info");
        let admin = server.metrics_addr();
        (server, admin)
    }

    /// A connection to the server, with the step timeouts set.
    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
    }

    /// The next line the server prints on stdout.
    pub fn next_stdout_line(&self) -> String {
        self.stdout
            .lock()
            .unwrap()
            .recv_timeout(STEP_TIMEOUT)
            .expect("a line on the server's stdout")
    }

    /// Waits for a log line containing all of `needles`; returns it.
    pub fn wait_for_log(&self, needles: &[&str]) -> String {
        self.wait_for_log_within(needles, STEP_TIMEOUT)
    }

    /// [`ServerProcess::wait_for_log`], waiting up to `timeout` (for what
    /// takes longer than a step, such as a build).
    pub fn wait_for_log_within(&self, needles: &[&str], timeout: Duration) -> String {
        let deadline = std::time::Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            let Ok(line) = self.stderr.lock().unwrap().recv_timeout(left) else {
                break;
            };
            if needles.iter().all(|needle| line.contains(needle)) {
                return line;
            }
        }
        panic!("no log line with {needles:?}");
    }

    /// Every log line the server wrote since the last look, without waiting.
    pub fn drain_log(&self) -> Vec<String> {
        self.stderr.lock().unwrap().try_iter().collect()
    }

    /// The admin endpoint's address, from the line after the listening line
    /// (for a server started with `--metrics-addr`).
    pub fn metrics_addr(&self) -> SocketAddr {
        let line = self.next_stdout_line();
        line.strip_prefix("yell-host metrics on http://")
            .and_then(|rest| rest.strip_suffix("/metrics"))
            .unwrap_or_else(|| panic!("unexpected line: {line}"))
            .parse()
            .unwrap()
    }

    /// Sends the server the signal `signal`.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: sending a signal to our own child process.
        assert_eq!(
            unsafe { libc::kill(self.child.id() as libc::pid_t, signal) },
            0
        );
    }

    /// The CPU time the server has used so far (user and system).
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .expect("read /proc stat");
        // Fields after the command name (in parentheses, which may hold spaces).
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .expect("a stat line")
            .1
            .split_whitespace()
            .collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf has no preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        Duration::from_millis(ticks * 1000 / per_second)
    }

    /// How many times the server's thread named `name` has slept so far
    /// (its voluntary context switches), or `None` if it has none.
    pub fn thread_sleeps(&self, name: &str) -> Option<u64> {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).ok()?;
        tasks.flatten().find_map(|task| {
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            if comm.trim_end() != name {
                return None;
            }
            let status = std::fs::read_to_string(task.path().join("status")).ok()?;
            status
                .lines()
                .find_map(|line| line.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|count| count.trim().parse().ok())
        })
    }

    /// The server's resident memory now, in KiB.
    pub fn rss_kib(&self) -> u64 {
        proc_status_kib(self.child.id(), "VmRSS")
    }

    /// The server's peak resident memory so far, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        proc_status_kib(self.child.id(), "VmHWM")
    }

    /// Sends SIGTERM and returns the exit status and what was printed on
    /// stdout after the listening line.
    pub fn terminate(self) -> (ExitStatus, String) {
        self.stop_with(libc::SIGTERM)
    }

    /// Sends `signal`, waits for the exit, and returns the exit status and
    /// what was printed on stdout after the listening line.
    pub fn stop_with(self, signal: libc::c_int) -> (ExitStatus, String) {
        self.signal(signal);
        self.wait_for_exit()
    }

    /// Waits for the server to exit by itself (after a signal sent with
    /// [`ServerProcess::signal`]); returns the exit status and what was
    /// printed on stdout after the listening line.
    pub fn wait_for_exit(mut self) -> (ExitStatus, String) {
        let status = wait_with_timeout(&mut self.child, STEP_TIMEOUT);
        let mut printed = Vec::new();
        let stdout = self.stdout.lock().unwrap();
        while let Ok(line) = stdout.recv_timeout(Duration::from_secs(1)) {
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

/// A `KiB` figure of /proc/PID/status.
fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

impl Endpoint for ServerProcess {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Waits up to `timeout` for `child` to exit; fails the test past it.
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

/// Runs `yell-host --listen 127.0.0.1:0 ARGS`, expects it to exit with
/// code 1 before it listens, and returns what it printed on stderr.
pub fn refused(args: &[&str]) -> String {
    refused_with(1, args)
}

/// Like [`refused`], expecting exit code `code` (2: refused by the
/// argument parser itself).
pub fn refused_with(code: i32, args: &[&str]) -> String {
    refused_with_env(code, args, |_| {})
}

/// Like [`refused_with`], with `customize` applied to the command first
/// (its environment, say).
pub fn refused_with_env(code: i32, args: &[&str], customize: impl FnOnce(&mut Command)) -> String {
    let mut command = yell_host();
    customize(&mut command);
    let mut child = command
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("YELL_COMPILE_CACHE", compile_cache())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_with_timeout(&mut child, STEP_TIMEOUT);
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(
        status.code(),
        Some(code),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        !stdout.contains("listening"),
        "it listened before refusing: {stdout}"
    );
    stderr
}

/// Asserts that `text` mentions each of `needles`.
pub fn assert_mentions(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} not in: {text}");
    }
}

/// Reads `from` line by line on a thread into a channel (echoing each line
/// to stderr when `echo`, so failing tests show the server's log).
fn forward_lines(from: impl Read + Send + 'static, echo: bool) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Lines as bytes: one that is not UTF-8 is forwarded as best it
        // can be, not the end of forwarding.
        for line in BufReader::new(from).split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).into_owned();
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
