//! The state a server's plugins share: the backend the operator chose,
//! with the limits every call is held to (key and value sizes, a timeout
//! of its own), and the failures it logs (rate-limited, so a dead Redis
//! does not flood the log).
//!
//! Owns: [`StateStore`], [`KeyValueLimits`]. Uses: the backend interface.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::backend::{KeyValueBackend, Pending, Quota, StoreError};

/// What every state call is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyValueLimits {
    /// Longest key, in bytes.
    pub max_key_bytes: usize,
    /// Longest value, in bytes.
    pub max_value_bytes: usize,
    /// Longest a call may wait for the backend; past it the plugin gets an
    /// error (well below the plugin's own wall-clock ceiling, which would
    /// drop the whole call).
    pub timeout: Duration,
    /// What one bucket may hold.
    pub quota: Quota,
}

impl Default for KeyValueLimits {
    fn default() -> Self {
        KeyValueLimits {
            max_key_bytes: 1024,
            max_value_bytes: 1024 * 1024,
            timeout: Duration::from_millis(200),
            quota: Quota {
                keys: 1_000_000,
                bytes: 1024 * 1024 * 1024,
            },
        }
    }
}

/// A backend and its limits.
pub struct StateStore {
    backend: Arc<dyn KeyValueBackend>,
    limits: KeyValueLimits,
    failures: FailureLog,
}

impl StateStore {
    /// `backend`, every call held to `limits`.
    pub fn new(backend: Arc<dyn KeyValueBackend>, limits: KeyValueLimits) -> StateStore {
        StateStore {
            backend,
            limits,
            failures: FailureLog::default(),
        }
    }

    /// The backend, for calls made on the plugin's behalf.
    pub fn backend(&self) -> &dyn KeyValueBackend {
        self.backend.as_ref()
    }

    /// The limits.
    pub fn limits(&self) -> &KeyValueLimits {
        &self.limits
    }

    /// Refuses a key longer than the limit, or empty.
    pub fn check_key(&self, key: &str) -> Result<(), StoreError> {
        if key.is_empty() {
            return Err(StoreError::Refused("a key cannot be empty".into()));
        }
        if key.len() > self.limits.max_key_bytes {
            return Err(StoreError::Refused(format!(
                "a key of {} bytes is longer than the {} allowed (--keyvalue-max-key)",
                key.len(),
                self.limits.max_key_bytes
            )));
        }
        Ok(())
    }

    /// Refuses a value longer than the limit.
    pub fn check_value(&self, value: &[u8]) -> Result<(), StoreError> {
        if value.len() > self.limits.max_value_bytes {
            return Err(StoreError::Refused(format!(
                "a value of {} bytes is longer than the {} allowed (--keyvalue-max-value)",
                value.len(),
                self.limits.max_value_bytes
            )));
        }
        Ok(())
    }

    /// Waits for `call` up to the timeout; a failure of the backend (not a
    /// refusal, which is the plugin's doing) is logged.
    pub async fn bounded<T>(&self, plugin: &str, call: Pending<'_, T>) -> Result<T, StoreError> {
        let result = match tokio::time::timeout(self.limits.timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Backend(format!(
                "{}: no answer within {:?} (--keyvalue-timeout)",
                self.backend.describe(),
                self.limits.timeout
            ))),
        };
        if let Err(StoreError::Backend(message)) = &result {
            self.failures.log(plugin, message);
        }
        result
    }
}

/// Logs backend failures at most once a second, with how many were not
/// logged since.
#[derive(Default)]
struct FailureLog {
    /// Milliseconds since `start` of the last line logged, plus one (0:
    /// none yet).
    last: AtomicU64,
    unlogged: AtomicU64,
    start: std::sync::OnceLock<Instant>,
}

impl FailureLog {
    fn log(&self, plugin: &str, message: &str) {
        let start = *self.start.get_or_init(Instant::now);
        let now = start.elapsed().as_millis() as u64 + 1;
        let last = self.last.load(Ordering::Relaxed);
        if last != 0 && now - last < 1000
            || self
                .last
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            self.unlogged.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let unlogged = self.unlogged.swap(0, Ordering::Relaxed);
        if unlogged > 0 {
            tracing::warn!(
                plugin,
                "state call failed: {message} ({unlogged} more failures since the last line)"
            );
        } else {
            tracing::warn!(plugin, "state call failed: {message}");
        }
    }
}
