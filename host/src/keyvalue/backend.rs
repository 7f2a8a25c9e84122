//! The one interface every state backend implements (in process, the
//! embedded file, Redis), and what all of them share: the errors a plugin
//! can be given, a page of keys, and the one format of a counter (decimal
//! text, as Redis's `INCRBY` keeps it), so a plugin reads the same bytes
//! whatever the backend.
//!
//! Owns: [`KeyValueBackend`], [`StoreError`], [`KeyPage`], [`Quota`].
//! Uses: nothing of this crate.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// What a backend call gives back, later.
pub type Pending<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Why a state call failed; a plugin gets it as `other(message)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The backend failed, or gave no answer in time: names the backend
    /// and the cause.
    Backend(String),
    /// The call asked for more than is allowed (a key or value too long, a
    /// bucket over its quota, a counter that is not a number).
    Refused(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Backend(message) | StoreError::Refused(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for StoreError {}

/// One page of a bucket's keys, in order, and where the next begins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPage {
    /// The keys of this page.
    pub keys: Vec<String>,
    /// The last key of this page, when more may follow: the next page is
    /// the keys after it.
    pub cursor: Option<String>,
}

impl KeyPage {
    /// The page of `keys`, fetched in order up to one more than
    /// [`KEYS_PER_PAGE`]: that one, if there, says a next page follows.
    pub fn from_fetched(mut keys: Vec<String>) -> KeyPage {
        let more = keys.len() > KEYS_PER_PAGE;
        keys.truncate(KEYS_PER_PAGE);
        let cursor = if more { keys.last().cloned() } else { None };
        KeyPage { keys, cursor }
    }
}

/// How many keys, and bytes of keys and values, one bucket may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Most keys.
    pub keys: u64,
    /// Most bytes of keys and values together.
    pub bytes: u64,
}

impl Quota {
    /// Refuses a bucket that would hold `keys` keys and `bytes` bytes.
    pub fn check(&self, bucket: &str, keys: u64, bytes: u64) -> Result<(), StoreError> {
        if keys > self.keys {
            return Err(StoreError::Refused(format!(
                "bucket {bucket} is full: at most {} keys (--keyvalue-quota)",
                self.keys
            )));
        }
        if bytes > self.bytes {
            return Err(StoreError::Refused(format!(
                "bucket {bucket} is full: at most {} bytes of keys and values (--keyvalue-quota)",
                self.bytes
            )));
        }
        Ok(())
    }
}

/// How many keys `list-keys` returns at most per page.
pub const KEYS_PER_PAGE: usize = 1000;

/// A store of buckets of keys and values. Every call is bounded by the
/// caller's timeout; a backend that blocks runs its calls off the async
/// workers.
pub trait KeyValueBackend: Send + Sync {
    /// Names the backend in errors and logs (`embedded store FILE`).
    fn describe(&self) -> String;

    /// The value of `key`, if it is set.
    fn get<'a>(&'a self, bucket: &'a str, key: &'a str) -> Pending<'a, Option<Vec<u8>>>;

    /// Sets `key` to `value`.
    fn set<'a>(&'a self, bucket: &'a str, key: &'a str, value: Vec<u8>) -> Pending<'a, ()>;

    /// Sets `key` to `value`, to expire after `ttl` (a later `set` makes
    /// it last again).
    fn set_with_ttl<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Pending<'a, ()>;

    /// Makes `key` expire after `ttl` (zero: at once); whether it was set.
    fn expire<'a>(&'a self, bucket: &'a str, key: &'a str, ttl: Duration) -> Pending<'a, bool>;

    /// Removes `key` (nothing if it is not set).
    fn delete<'a>(&'a self, bucket: &'a str, key: &'a str) -> Pending<'a, ()>;

    /// Whether `key` is set.
    fn exists<'a>(&'a self, bucket: &'a str, key: &'a str) -> Pending<'a, bool>;

    /// The keys after `after` (from the first when `None`), in order, at
    /// most [`KEYS_PER_PAGE`].
    fn list_keys<'a>(&'a self, bucket: &'a str, after: Option<String>) -> Pending<'a, KeyPage>;

    /// Adds `delta` to the counter `key` (0 when not set), atomically;
    /// returns the new value. The value is kept as decimal text.
    fn increment<'a>(&'a self, bucket: &'a str, key: &'a str, delta: i64) -> Pending<'a, i64>;

    /// Sets `key` to `value` if its value is still `expected` (`None`: not
    /// set), atomically; whether it did.
    fn compare_and_swap<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> Pending<'a, bool>;

    /// The values of `keys`, in their order.
    fn get_many<'a>(
        &'a self,
        bucket: &'a str,
        keys: Vec<String>,
    ) -> Pending<'a, Vec<Option<Vec<u8>>>>;

    /// Sets every key of `entries`.
    fn set_many<'a>(&'a self, bucket: &'a str, entries: Vec<(String, Vec<u8>)>) -> Pending<'a, ()>;

    /// Removes every key of `keys`.
    fn delete_many<'a>(&'a self, bucket: &'a str, keys: Vec<String>) -> Pending<'a, ()>;

    /// The buckets that hold at least one key, in order.
    fn buckets(&self) -> Pending<'_, Vec<String>>;
}

/// The counter in `value` (decimal text), for [`KeyValueBackend::increment`].
pub fn parse_counter(bucket: &str, key: &str, value: Option<&[u8]>) -> Result<i64, StoreError> {
    let Some(value) = value else {
        return Ok(0);
    };
    std::str::from_utf8(value)
        .ok()
        .and_then(|text| text.parse::<i64>().ok())
        .ok_or_else(|| {
            StoreError::Refused(format!(
                "{bucket}/{key} is not a counter: its value is not a decimal integer"
            ))
        })
}

/// `current + delta`, refused when it overflows.
pub fn add_to_counter(
    bucket: &str,
    key: &str,
    current: i64,
    delta: i64,
) -> Result<i64, StoreError> {
    current.checked_add(delta).ok_or_else(|| {
        StoreError::Refused(format!(
            "{bucket}/{key}: {current} + {delta} overflows a 64-bit counter"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_decimal_text_and_anything_else_is_refused() {
        assert_eq!(parse_counter("b", "k", None), Ok(0));
        assert_eq!(parse_counter("b", "k", Some(b"-42")), Ok(-42));
        assert!(parse_counter("b", "k", Some(b"4x")).is_err());
        assert!(parse_counter("b", "k", Some(b"\xff")).is_err());
        assert!(add_to_counter("b", "k", i64::MAX, 1).is_err());
        assert_eq!(add_to_counter("b", "k", 40, 2), Ok(42));
    }

    #[test]
    fn a_quota_names_what_is_full() {
        let quota = Quota { keys: 2, bytes: 10 };
        assert!(quota.check("b", 2, 10).is_ok());
        assert!(quota
            .check("b", 3, 1)
            .unwrap_err()
            .to_string()
            .contains("at most 2 keys"));
        assert!(quota
            .check("b", 1, 11)
            .unwrap_err()
            .to_string()
            .contains("at most 10 bytes"));
    }
}
