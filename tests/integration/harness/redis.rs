//! A real Redis for the state tests: Debian's `redis-server` (installed by
//! scripts/test-tools.sh), started on a free loopback port with a folder
//! of its own (append-only file on, so a restart keeps the data), stopped
//! when dropped; or speaking only TLS, with a certificate of a test CA.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tls::TestCa;

/// A running `redis-server`.
pub struct RedisServer {
    child: Option<Child>,
    addr: SocketAddr,
    dir: PathBuf,
    /// The certificate, key and CA certificate it serves TLS with, if it
    /// does.
    tls: Option<(PathBuf, PathBuf, PathBuf)>,
}

impl RedisServer {
    /// Starts one in `dir` on a free port.
    pub fn start(dir: PathBuf) -> RedisServer {
        Self::start_with(dir, None)
    }

    /// Starts one in `dir` on a free port that speaks only TLS, with the
    /// server certificate of `ca`.
    pub fn start_tls(dir: PathBuf, ca: &TestCa) -> RedisServer {
        let files = (
            ca.server_cert.clone(),
            ca.server_key.clone(),
            ca.ca_cert.clone(),
        );
        Self::start_with(dir, Some(files))
    }

    fn start_with(dir: PathBuf, tls: Option<(PathBuf, PathBuf, PathBuf)>) -> RedisServer {
        std::fs::create_dir_all(&dir).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut server = RedisServer {
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            dir,
            tls,
        };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:PORT` (`rediss://` over TLS).
    pub fn url(&self) -> String {
        match self.tls {
            Some(_) => format!("rediss://{}", self.addr),
            None => format!("redis://{}", self.addr),
        }
    }

    /// Stops it (SIGKILL: as a crash or a lost host would).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and folder, and waits until it
    /// answers.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.addr.port().to_string();
        let mut command = Command::new("redis-server");
        command.args(["--bind", "127.0.0.1"]);
        match &self.tls {
            None => command.args(["--port", &port]),
            // Redis wants a CA even when it asks clients for no certificate.
            Some((cert, key, ca)) => command
                .args([
                    "--port",
                    "0",
                    "--tls-port",
                    &port,
                    "--tls-auth-clients",
                    "no",
                ])
                .arg("--tls-cert-file")
                .arg(cert)
                .arg("--tls-key-file")
                .arg(key)
                .arg("--tls-ca-cert-file")
                .arg(ca),
        };
        let child = command
            .arg("--dir")
            .arg(&self.dir)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
            ])
            .args([
                "--protected-mode",
                "yes",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (scripts/test-tools.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer on {}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200))
        else {
            return false;
        };
        if self.tls.is_some() {
            // Listening is ready enough: a PING would need TLS.
            return true;
        }
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
