//! Shared by the integration tests: start the real `yell-host` binary on
//! 127.0.0.1:0 and talk bytes to it.

#![allow(dead_code)] // each test file uses a different part

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

/// Longest any single step of a test may wait on the server.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// Where the servers the tests start keep compiled plugins: inside the
/// build tree, not in the home folder.
pub fn compile_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("compile-cache")
}

/// The `yell-host` under test: the one cargo built for the tests, or
/// `YELL_HOST_BINARY` (how `just bench-swap` times a release build).
pub fn binary() -> String {
    std::env::var("YELL_HOST_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_yell-host").into())
}

/// Where `just build-plugins` puts the plugin components.
pub fn plugin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/plugins")
}

/// A plugin built for the tests only (plugins/testing/NAME), as a path
/// argument.
pub fn testing_plugin(name: &str) -> String {
    plugin_dir()
        .join(format!("testing/{name}.wasm"))
        .to_string_lossy()
        .into_owned()
}

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
        customize(&mut command);
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
        let deadline = std::time::Instant::now() + STEP_TIMEOUT;
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

    pub fn connect(&self) -> TcpStream {
        connect(self.addr)
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

/// Sends `request` (a whole HTTP/1.1 request) and returns the status line,
/// the header lines and the body.
pub fn http_exchange(addr: SocketAddr, request: &str) -> (String, Vec<String>, String) {
    let mut stream = connect(addr);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"));
    let mut lines = head.lines().map(str::to_string);
    let status = lines.next().unwrap();
    (status, lines.collect(), body.to_string())
}

/// Sends a GET and returns the status line and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = connect(addr);
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// Reads one line, up to and with its '\n'.
pub fn read_line(stream: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while !line.ends_with(b"\n") {
        match stream.read(&mut byte) {
            Ok(1) => line.push(byte[0]),
            Ok(_) => break,
            Err(error) => panic!(
                "reading a line: {error} (got {:?} so far)",
                String::from_utf8_lossy(&line)
            ),
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// A client on its own thread sending one line at a time and checking each
/// reply is the line upper-cased, until stopped; proves other connections
/// are unaffected by whatever a test does meanwhile.
pub struct SteadyClient {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<(u64, Vec<String>)>,
}

impl SteadyClient {
    pub fn start(addr: SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut stream = connect(addr);
                let mut answered = 0u64;
                let mut problems = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let line = format!("steady line {answered}\n");
                    if let Err(error) = stream.write_all(line.as_bytes()) {
                        problems.push(format!("write: {error}"));
                        break;
                    }
                    let reply = read_line(&mut stream);
                    if reply != line.to_uppercase() {
                        problems.push(format!("sent {line:?}, got {reply:?}"));
                        break;
                    }
                    answered += 1;
                }
                (answered, problems)
            }
        });
        SteadyClient { stop, thread }
    }

    /// Stops the client and asserts every one of its lines was answered
    /// right; returns how many.
    pub fn finish(self) -> u64 {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (answered, problems) = self.thread.join().expect("steady client panicked");
        assert!(problems.is_empty(), "the steady client saw: {problems:?}");
        assert!(answered > 0, "the steady client got no reply at all");
        answered
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

/// A fresh folder for one test's files: `group/test` in the build tree.
pub fn scratch(group: &str, test: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(group)
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The value of the sample `name` (with its labels, if any) in a
/// Prometheus scrape.
pub fn sample(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {name} in:\n{scrape}"))
        .trim()
        .parse()
        .unwrap()
}

/// Runs `yell-host pipe ARGS` on `input`, with the tests' compile cache.
pub fn pipe(args: &[&str], input: &[u8]) -> std::process::Output {
    let mut child = Command::new(binary())
        .arg("pipe")
        .args(args)
        .env("YELL_COMPILE_CACHE", compile_cache())
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
