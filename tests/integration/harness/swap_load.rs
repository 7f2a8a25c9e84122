//! A load client for swaps: lines pipelined on one connection until
//! stopped, each reply checked to be what uppercase or reverse makes of
//! its line, in order, none lost or repeated.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::net::connect;

/// `line` reversed, as the reverse plugin answers it.
pub fn reversed(line: &str) -> String {
    line.chars().rev().collect()
}

/// A client pipelining batches of lines on one connection until stopped,
/// checking each reply is what uppercase or reverse makes of its line, in
/// order.
pub struct LoadClient {
    thread: std::thread::JoinHandle<(u64, u64, Vec<String>)>,
}

impl LoadClient {
    const BATCH: usize = 16;

    pub fn start(addr: SocketAddr, id: usize, stop: Arc<AtomicBool>) -> Self {
        let thread = std::thread::spawn(move || {
            let mut stream = connect(addr);
            let mut replies = BufReader::new(stream.try_clone().unwrap());
            let (mut sent, mut answered) = (0u64, 0u64);
            let mut problems = Vec::new();
            let mut reply = String::new();
            while !stop.load(Ordering::Relaxed) && problems.is_empty() {
                let lines: Vec<String> = (0..Self::BATCH)
                    .map(|i| format!("client{id}-line{}-abc xyz", answered + i as u64))
                    .collect();
                let batch: String = lines.iter().map(|line| format!("{line}\n")).collect();
                if let Err(error) = stream.write_all(batch.as_bytes()) {
                    problems.push(format!("write: {error}"));
                    break;
                }
                sent += lines.len() as u64;
                for line in &lines {
                    reply.clear();
                    match replies.read_line(&mut reply) {
                        Ok(0) => problems.push("the server closed the connection".into()),
                        Err(error) => problems.push(format!("read: {error}")),
                        Ok(_) => {
                            let reply = reply.trim_end_matches('\n');
                            if reply == line.to_uppercase() || reply == reversed(line) {
                                answered += 1;
                            } else {
                                problems.push(format!("sent {line:?}, got {reply:?}"));
                            }
                        }
                    }
                    if !problems.is_empty() {
                        break;
                    }
                }
            }
            // Nothing more may come: every line was answered once.
            if let Err(error) = stream.shutdown(std::net::Shutdown::Write) {
                problems.push(format!("shutdown: {error}"));
            }
            let mut rest = String::new();
            let _ = std::io::Read::read_to_string(&mut replies, &mut rest);
            if !rest.is_empty() {
                problems.push(format!("unexpected replies after the last: {rest:?}"));
            }
            (sent, answered, problems)
        });
        LoadClient { thread }
    }

    /// Lines sent and lines answered right.
    pub fn finish(self) -> (u64, u64) {
        let (sent, answered, problems) = self.thread.join().expect("load client panicked");
        assert!(problems.is_empty(), "a load client saw: {problems:?}");
        (sent, answered)
    }
}
