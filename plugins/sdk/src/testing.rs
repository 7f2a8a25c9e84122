//! Unit tests of a plugin, natively (`cargo test`, no wasm build): a
//! [`TestHost`] drives the plugin through the SDK's own batch entry, the
//! code the component runs, and answers the host's imports itself: log
//! lines are kept for the test to assert on, and a connection's addresses
//! are the ones the test set.
//!
//! ```
//! use yell_plugin::testing::TestHost;
//! use yell_plugin::{Config, LinePlugin, Reply};
//!
//! struct Shout;
//! impl LinePlugin for Shout {
//!     fn new(_: &Config) -> Result<Self, String> { Ok(Shout) }
//!     fn transform(&mut self, line: &[u8], reply: &mut Reply) -> Result<(), String> {
//!         if line.is_empty() { return Err("nothing to shout".into()); }
//!         reply.push(line.to_ascii_uppercase());
//!         Ok(())
//!     }
//! }
//!
//! let mut host = TestHost::<Shout>::new(&[]).unwrap();
//! assert_eq!(host.line(b"hi"), Ok(vec![b"HI".to_vec()]));
//! assert_eq!(host.line(b""), Err("nothing to shout".to_string()));
//! ```

use std::cell::RefCell;
use std::collections::HashMap;

use crate::host::Level;
use crate::runtime::{self, Slot};
use crate::{ConnectionId, ConnectionInfo, LinePlugin};

thread_local! {
    static LOGS: RefCell<Vec<(Level, String)>> = const { RefCell::new(Vec::new()) };
    static CONNECTIONS: RefCell<HashMap<u64, ConnectionInfo>> = RefCell::new(HashMap::new());
}

pub(crate) fn record_log(level: Level, message: &str) {
    LOGS.with(|logs| logs.borrow_mut().push((level, message.to_string())));
}

pub(crate) fn connection(conn: u64) -> Option<ConnectionInfo> {
    CONNECTIONS.with(|connections| connections.borrow().get(&conn).cloned())
}

/// A fake host with one plugin `P` loaded, as the real host loads it.
pub struct TestHost<P: LinePlugin> {
    slot: Slot<P>,
    conn: ConnectionId,
}

impl<P: LinePlugin> TestHost<P> {
    /// Loads the plugin with `config` (its `init`); an error is the
    /// plugin refusing it. The connection its lines come from is open,
    /// from `127.0.0.1:40000` to `127.0.0.1:1234`.
    pub fn new(config: &[(&str, &str)]) -> Result<Self, String> {
        let slot = Slot::empty();
        let config = config
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        runtime::init(&slot, config)?;
        let host = TestHost { slot, conn: 1 };
        host.set_peer("127.0.0.1:40000", "127.0.0.1:1234");
        Ok(host)
    }

    /// The connection lines come from now.
    pub fn connection(&self) -> ConnectionId {
        self.conn
    }

    /// What `connection_info` answers for the current connection.
    pub fn set_peer(&self, peer: &str, local: &str) {
        let info = ConnectionInfo {
            peer: peer.to_string(),
            local: local.to_string(),
        };
        CONNECTIONS.with(|connections| connections.borrow_mut().insert(self.conn, info));
    }

    /// A new connection opens (the current one is closed first, without
    /// its last words): returns its greeting lines.
    pub fn connect(&mut self) -> Vec<Vec<u8>> {
        let peer = connection(self.conn);
        CONNECTIONS.with(|connections| connections.borrow_mut().remove(&self.conn));
        self.conn += 1;
        if let Some(info) = peer {
            self.set_peer(&info.peer, &info.local);
        }
        split_lines(&runtime::connection_opened(&self.slot, self.conn))
    }

    /// The connection closes: returns its last words.
    pub fn close(&mut self) -> Vec<Vec<u8>> {
        split_lines(&runtime::connection_closed(&self.slot, self.conn))
    }

    /// One line (without its line ending): its reply lines, or the error it
    /// was answered with.
    pub fn line(&mut self, line: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        self.lines(&[line]).remove(0)
    }

    /// Lines sent in one batch, as the host sends them: each one's reply
    /// lines or its error, in order. Panics if the reply breaks the
    /// contract (one end per line, in order, within the output), as the
    /// host would refuse it.
    pub fn lines(&mut self, lines: &[&[u8]]) -> Vec<Result<Vec<Vec<u8>>, String>> {
        let mut batch = Vec::new();
        for line in lines {
            assert!(!line.contains(&b'\n'), "a line holds no '\\n': {line:?}");
            batch.extend_from_slice(line);
            batch.push(b'\n');
        }
        let reply = runtime::transform_batch(&self.slot, self.conn, &batch);
        assert_eq!(reply.ends.len(), lines.len(), "one line end per line");
        let mut results: Vec<Result<Vec<Vec<u8>>, String>> = Vec::new();
        let mut start = 0usize;
        for &end in &reply.ends {
            let end = end as usize;
            assert!(
                start <= end && end <= reply.output.len(),
                "line ends in order, within the output"
            );
            results.push(Ok(split_lines(&reply.output[start..end])));
            start = end;
        }
        for error in reply.errors {
            results[error.line as usize] = Err(error.message);
        }
        results
    }

    /// A chunk in raw framing: the bytes answered, or the error.
    pub fn raw(&mut self, chunk: &[u8]) -> Result<Vec<u8>, String> {
        runtime::transform_raw(&self.slot, self.conn, chunk)
    }

    /// The log lines the plugin wrote since the last look, with their
    /// levels (`"info: message"`).
    pub fn take_logs(&self) -> Vec<String> {
        LOGS.with(|logs| logs.borrow_mut().drain(..).collect::<Vec<_>>())
            .into_iter()
            .map(|(level, message)| format!("{}: {message}", level_name(level)))
            .collect()
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Trace => "trace",
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

/// Reply bytes as lines, without their '\n'.
fn split_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    bytes
        .split_inclusive(|&byte| byte == b'\n')
        .map(|line| line.strip_suffix(b"\n").unwrap_or(line).to_vec())
        .collect()
}

/// The in-memory store a plugin's [`crate::state`] calls reach in a
/// native build: the buckets granted with [`grant_bucket`], per test
/// thread.
pub mod state {
    use std::cell::RefCell;
    use std::collections::{BTreeMap, BTreeSet};

    use std::time::{Duration, Instant};

    use crate::state::StateError;

    thread_local! {
        static GRANTED: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
                static ENTRIES: RefCell<BTreeMap<(String, String), Vec<u8>>> = const { RefCell::new(BTreeMap::new()) };
        static EXPIRES: RefCell<BTreeMap<(String, String), Instant>> = const { RefCell::new(BTreeMap::new()) };
    }

    /// Lets the plugin open bucket `name`, as `--plugin-bucket` does.
    pub fn grant_bucket(name: &str) {
        GRANTED.with(|granted| granted.borrow_mut().insert(name.to_string()));
    }

    /// What `key` of `bucket` holds, for a test to look at (nothing once
    /// it expired).
    pub fn value(bucket: &str, key: &str) -> Option<Vec<u8>> {
        let entry = entry(bucket, key);
        let expired = EXPIRES.with(|expires| {
            expires
                .borrow()
                .get(&entry)
                .is_some_and(|at| *at <= Instant::now())
        });
        if expired {
            EXPIRES.with(|expires| expires.borrow_mut().remove(&entry));
            ENTRIES.with(|entries| entries.borrow_mut().remove(&entry));
        }
        ENTRIES.with(|entries| {
            entries
                .borrow()
                .get(&(bucket.to_string(), key.to_string()))
                .cloned()
        })
    }

    /// Empties every bucket and takes every grant back.
    pub fn reset() {
        GRANTED.with(|granted| granted.borrow_mut().clear());
        ENTRIES.with(|entries| entries.borrow_mut().clear());
        EXPIRES.with(|expires| expires.borrow_mut().clear());
    }

    pub(crate) fn open(name: &str) -> Result<(), StateError> {
        if GRANTED.with(|granted| granted.borrow().contains(name)) {
            Ok(())
        } else {
            Err(StateError::AccessDenied(name.to_string()))
        }
    }

    fn entry(bucket: &str, key: &str) -> (String, String) {
        (bucket.to_string(), key.to_string())
    }

    pub(crate) fn get(bucket: &str, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        Ok(value(bucket, key))
    }

    pub(crate) fn set(bucket: &str, key: &str, value: &[u8]) -> Result<(), StateError> {
        ENTRIES.with(|entries| {
            entries
                .borrow_mut()
                .insert(entry(bucket, key), value.to_vec())
        });
        EXPIRES.with(|expires| expires.borrow_mut().remove(&entry(bucket, key)));
        Ok(())
    }

    pub(crate) fn set_with_ttl(
        bucket: &str,
        key: &str,
        value: &[u8],
        ttl_ms: u64,
    ) -> Result<(), StateError> {
        set(bucket, key, value)?;
        let at = Instant::now() + Duration::from_millis(ttl_ms);
        EXPIRES.with(|expires| expires.borrow_mut().insert(entry(bucket, key), at));
        Ok(())
    }

    pub(crate) fn expire(bucket: &str, key: &str, ttl_ms: u64) -> Result<bool, StateError> {
        if value(bucket, key).is_none() {
            return Ok(false);
        }
        if ttl_ms == 0 {
            delete(bucket, key)?;
        } else {
            let at = Instant::now() + Duration::from_millis(ttl_ms);
            EXPIRES.with(|expires| expires.borrow_mut().insert(entry(bucket, key), at));
        }
        Ok(true)
    }

    pub(crate) fn delete(bucket: &str, key: &str) -> Result<(), StateError> {
        ENTRIES.with(|entries| entries.borrow_mut().remove(&entry(bucket, key)));
        EXPIRES.with(|expires| expires.borrow_mut().remove(&entry(bucket, key)));
        Ok(())
    }

    pub(crate) fn exists(bucket: &str, key: &str) -> Result<bool, StateError> {
        Ok(value(bucket, key).is_some())
    }

    pub(crate) fn list_keys(
        bucket: &str,
        cursor: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), StateError> {
        let keys = ENTRIES.with(|entries| {
            entries
                .borrow()
                .keys()
                .filter(|(b, key)| b == bucket && cursor.is_none_or(|after| key.as_str() > after))
                .filter(|(b, key)| {
                    EXPIRES.with(|expires| {
                        expires
                            .borrow()
                            .get(&(b.clone(), key.clone()))
                            .is_none_or(|at| *at > Instant::now())
                    })
                })
                .map(|(_, key)| key.clone())
                .collect()
        });
        Ok((keys, None))
    }

    pub(crate) fn increment(bucket: &str, key: &str, delta: i64) -> Result<i64, StateError> {
        let current = match value(bucket, key) {
            None => 0,
            Some(bytes) => std::str::from_utf8(&bytes)
                .ok()
                .and_then(|text| text.parse::<i64>().ok())
                .ok_or_else(|| StateError::Other(format!("{bucket}/{key} is not a counter")))?,
        };
        let new = current
            .checked_add(delta)
            .ok_or_else(|| StateError::Other(format!("{bucket}/{key} overflows")))?;
        set(bucket, key, new.to_string().as_bytes())?;
        Ok(new)
    }

    pub(crate) fn compare_and_swap(
        bucket: &str,
        key: &str,
        expected: Option<Vec<u8>>,
        new: &[u8],
    ) -> Result<bool, StateError> {
        if value(bucket, key) != expected {
            return Ok(false);
        }
        set(bucket, key, new)?;
        Ok(true)
    }
}

/// The metrics a plugin's [`crate::metrics`] calls record in a native
/// build, per test thread, for a test to read. Mistakes the host traps on
/// (a name defined twice differently, the wrong number of label values)
/// panic here, with the host's reason.
pub mod metrics {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use crate::metrics::{Kind, Operation};

    struct Defined {
        name: String,
        kind: Kind,
        labels: Vec<String>,
        buckets: Vec<f64>,
        /// By label values: a counter's or gauge's value, or a histogram's
        /// observations.
        series: BTreeMap<Vec<String>, Vec<f64>>,
    }

    thread_local! {
        static DEFINED: RefCell<Vec<Defined>> = const { RefCell::new(Vec::new()) };
    }

    /// The value of counter or gauge `name` for `labels`, if it was
    /// recorded.
    pub fn value(name: &str, labels: &[&str]) -> Option<f64> {
        observations(name, labels).and_then(|values| values.first().copied())
    }

    /// What histogram `name` observed for `labels`, in order.
    pub fn observed(name: &str, labels: &[&str]) -> Vec<f64> {
        observations(name, labels).unwrap_or_default()
    }

    /// Forgets every metric.
    pub fn reset() {
        DEFINED.with(|defined| defined.borrow_mut().clear());
    }

    fn observations(name: &str, labels: &[&str]) -> Option<Vec<f64>> {
        let key: Vec<String> = labels.iter().map(|label| label.to_string()).collect();
        DEFINED.with(|defined| {
            defined
                .borrow()
                .iter()
                .find(|metric| metric.name == name)
                .and_then(|metric| metric.series.get(&key).cloned())
        })
    }

    pub(crate) fn define(
        name: &str,
        help: &str,
        kind: Kind,
        labels: &[&str],
        buckets: &[f64],
    ) -> u32 {
        let valid = |word: &str| {
            word.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        assert!(valid(name), "metric {name:?}: a name is [a-z][a-z0-9_]*");
        assert!(
            !help.trim().is_empty(),
            "metric {name:?}: a metric needs a help text"
        );
        for label in labels {
            assert!(
                valid(label),
                "metric {name:?}: label {label:?}: a label name is [a-z][a-z0-9_]*"
            );
        }
        assert_eq!(
            kind == Kind::Histogram,
            !buckets.is_empty(),
            "metric {name:?}: a histogram has bucket bounds, a counter or a gauge none"
        );
        let labels: Vec<String> = labels.iter().map(|label| label.to_string()).collect();
        DEFINED.with(|defined| {
            let mut defined = defined.borrow_mut();
            if let Some(index) = defined.iter().position(|metric| metric.name == name) {
                let had = &defined[index];
                assert!(
                    had.kind == kind && had.labels == labels && had.buckets == buckets,
                    "metric {name:?}: already defined as a {:?} with labels {:?}, here as a {kind:?} with labels {labels:?}",
                    had.kind,
                    had.labels
                );
                return index as u32;
            }
            defined.push(Defined {
                name: name.to_string(),
                kind,
                labels,
                buckets: buckets.to_vec(),
                series: BTreeMap::new(),
            });
            (defined.len() - 1) as u32
        })
    }

    pub(crate) fn record(metric: u32, labels: &[&str], value: f64, operation: Operation) {
        DEFINED.with(|defined| {
            let mut defined = defined.borrow_mut();
            let metric = defined
                .get_mut(metric as usize)
                .expect("a metric defined (metrics are per test thread: define it in this test)");
            let allowed = match metric.kind {
                Kind::Counter => operation == Operation::Add,
                Kind::Gauge => operation != Operation::Observe,
                Kind::Histogram => operation == Operation::Observe,
            };
            assert!(
                allowed,
                "metric {:?} is a {:?}: it has no {operation:?}",
                metric.name, metric.kind
            );
            assert_eq!(
                labels.len(),
                metric.labels.len(),
                "metric {:?} has labels {:?}",
                metric.name,
                metric.labels
            );
            if metric.kind == Kind::Counter && !(value.is_finite() && value >= 0.0) {
                return; // The host records nothing, and warns.
            }
            let key = labels.iter().map(|label| label.to_string()).collect();
            let series = metric.series.entry(key).or_default();
            match operation {
                Operation::Observe => series.push(value),
                Operation::Set => *series = vec![value],
                Operation::Add => match series.first_mut() {
                    Some(total) => *total += value,
                    None => series.push(value),
                },
            }
        });
    }
}

/// The clock [`crate::clock`] reads in a native build: the machine's,
/// until a test sets its own (per test thread).
pub mod clock {
    use std::cell::Cell;
    use std::time::Duration;

    thread_local! {
        static SET: Cell<Option<u64>> = const { Cell::new(None) };
    }

    /// From now on the clock reads `ms` (milliseconds since 1970), and
    /// moves only by [`advance`].
    pub fn set(ms: u64) {
        SET.with(|set| set.set(Some(ms)));
    }

    /// Moves a set clock on by `by` (a clock not set is set first).
    pub fn advance(by: Duration) {
        let now = now_ms();
        SET.with(|set| set.set(Some(now + by.as_millis() as u64)));
    }

    /// Back to the machine's clock.
    pub fn reset() {
        SET.with(|set| set.set(None));
    }

    pub(crate) fn now_ms() -> u64 {
        SET.with(|set| set.get()).unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_millis() as u64)
        })
    }
}
