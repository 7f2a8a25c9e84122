//! A client that proves other connections are unaffected by whatever a
//! test does meanwhile.

use std::io::Write;
use std::net::SocketAddr;

use super::net::{connect, read_line};

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
