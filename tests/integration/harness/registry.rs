//! A real OCI registry for the tests: Debian's `docker-registry` (the
//! CNCF distribution registry), on a free loopback port with its storage
//! in a folder of the test, over plain HTTP, over TLS with a test CA, or
//! behind `htpasswd` basic auth; stopped when dropped. Installed by
//! `scripts/test-tools.sh`.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tls::TestCa;

/// A running registry.
pub struct RegistryServer {
    child: Option<Child>,
    pub addr: SocketAddr,
    /// Its configuration and storage.
    dir: PathBuf,
}

/// How a registry is started.
pub enum RegistryMode<'a> {
    Plain,
    Tls(&'a TestCa),
    /// Basic auth, one user.
    Auth {
        user: &'a str,
        password: &'a str,
    },
}

impl RegistryServer {
    /// A registry over plain HTTP, its storage in `dir`.
    pub fn start(dir: PathBuf) -> RegistryServer {
        Self::start_as(dir, RegistryMode::Plain)
    }

    pub fn start_as(dir: PathBuf, mode: RegistryMode<'_>) -> RegistryServer {
        std::fs::create_dir_all(dir.join("storage")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            dir.join("storage").display()
        );
        match mode {
            RegistryMode::Plain => {}
            RegistryMode::Tls(ca) => config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                ca.server_cert.display(),
                ca.server_key.display()
            )),
            RegistryMode::Auth { user, password } => {
                let output = Command::new("htpasswd")
                    .args(["-Bbn", user, password])
                    .output()
                    .expect("run htpasswd (scripts/test-tools.sh installs it)");
                assert!(output.status.success());
                let file = dir.join("htpasswd");
                std::fs::write(&file, output.stdout).unwrap();
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: yell-test\n    path: {}\n",
                    file.display()
                ));
            }
        }
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let mut server = RegistryServer {
            child: None,
            addr,
            dir,
        };
        server.restart();
        server
    }

    /// `oci://127.0.0.1:PORT/REPO` (a tag or digest is the caller's).
    pub fn reference(&self, repository: &str) -> String {
        format!("oci://{}/{repository}", self.addr)
    }

    /// Where the registry keeps the blob `digest` (`sha256:HEX`).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
        self.dir
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and storage, and waits until it
    /// listens.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(self.dir.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry (scripts/test-tools.sh installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {}",
                self.addr
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        self.stop();
    }
}
