//! State outside the instance: the host's `wasi:keyvalue` store, in the
//! buckets the operator grants the plugin (`--plugin-bucket`). A swap,
//! another instance and another host on the same store see what is
//! written here; `self` does not outlive its instance.
//!
//! ```ignore
//! use yell_plugin::state::Bucket;
//!
//! let hits = Bucket::open("hits")?;
//! let total = hits.increment("all", 1)?;          // atomic, across the fleet
//! hits.update("last", |_old| Some(b"now".to_vec()))?; // compare-and-swap, retried
//! ```
//!
//! A plugin that never calls this module does not import the store, and
//! loads where no store is offered. In a native build (`cargo test`) the
//! calls go to an in-memory store of [`crate::testing`], with the buckets
//! the test granted.

/// Why a state call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateError {
    /// The bucket is not granted to this plugin.
    AccessDenied(String),
    /// The host has no such store.
    NoSuchStore(String),
    /// The store failed, timed out, or refused the call (a key or value
    /// too long, a bucket full, a counter that is not a number).
    Other(String),
}

impl std::fmt::Display for StateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StateError::AccessDenied(bucket) => {
                write!(f, "bucket {bucket}: access denied (the operator grants buckets with --plugin-bucket)")
            }
            StateError::NoSuchStore(bucket) => write!(f, "bucket {bucket}: no such store"),
            StateError::Other(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for StateError {}

impl From<StateError> for String {
    fn from(error: StateError) -> String {
        error.to_string()
    }
}

/// How many times [`Bucket::update`] tries before it gives up.
const UPDATE_TRIES: usize = 1000;

/// An open bucket.
pub struct Bucket {
    name: String,
    #[cfg(target_arch = "wasm32")]
    handle: wasm::store::Bucket,
}

impl Bucket {
    /// Opens the bucket `name`; only granted buckets open.
    pub fn open(name: &str) -> Result<Bucket, StateError> {
        #[cfg(target_arch = "wasm32")]
        {
            let handle = wasm::store::open(name).map_err(|error| wasm::error(name, error))?;
            Ok(Bucket {
                name: name.to_string(),
                handle,
            })
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            crate::testing::state::open(name)?;
            Ok(Bucket {
                name: name.to_string(),
            })
        }
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StateError> {
        #[cfg(target_arch = "wasm32")]
        return self
            .handle
            .get(key)
            .map_err(|error| wasm::error(&self.name, error));
        #[cfg(not(target_arch = "wasm32"))]
        return crate::testing::state::get(&self.name, key);
    }

    /// Sets `key` to `value`.
    pub fn set(&self, key: &str, value: &[u8]) -> Result<(), StateError> {
        #[cfg(target_arch = "wasm32")]
        return self
            .handle
            .set(key, value)
            .map_err(|error| wasm::error(&self.name, error));
        #[cfg(not(target_arch = "wasm32"))]
        return crate::testing::state::set(&self.name, key, value);
    }

    /// Sets `key` to `value`, to expire `ttl` from now (at least a
    /// millisecond); a later [`set`](Self::set) makes it last again.
    pub fn set_with_ttl(
        &self,
        key: &str,
        value: &[u8],
        ttl: std::time::Duration,
    ) -> Result<(), StateError> {
        let ttl_ms = (ttl.as_millis() as u64).max(1);
        #[cfg(target_arch = "wasm32")]
        return wasm::expiry::set_with_ttl(&self.handle, key, value, ttl_ms)
            .map_err(|error| wasm::error(&self.name, error));
        #[cfg(not(target_arch = "wasm32"))]
        return crate::testing::state::set_with_ttl(&self.name, key, value, ttl_ms);
    }

    /// Makes `key` expire `ttl` from now (zero: at once); false when it is
    /// not set.
    pub fn expire(&self, key: &str, ttl: std::time::Duration) -> Result<bool, StateError> {
        let ttl_ms = ttl.as_millis() as u64;
        #[cfg(target_arch = "wasm32")]
        return wasm::expiry::expire(&self.handle, key, ttl_ms)
            .map_err(|error| wasm::error(&self.name, error));
        #[cfg(not(target_arch = "wasm32"))]
        return crate::testing::state::expire(&self.name, key, ttl_ms);
    }

    /// Removes `key`.
    pub fn delete(&self, key: &str) -> Result<(), StateError> {
        #[cfg(target_arch = "wasm32")]
        return self
            .handle
            .delete(key)
            .map_err(|error| wasm::error(&self.name, error));
        #[cfg(not(target_arch = "wasm32"))]
        return crate::testing::state::delete(&self.name, key);
    }

    /// Whether `key` is set.
    pub fn exists(&self, key: &str) -> Result<bool, StateError> {
        #[cfg(target_arch = "wasm32")]
        return self
            .handle
            .exists(key)
            .map_err(|error| wasm::error(&self.name, error));
        #[cfg(not(target_arch = "wasm32"))]
        return crate::testing::state::exists(&self.name, key);
    }

    /// One page of keys after `cursor` (from the first when `None`), and
    /// the cursor of the next page, if there may be one.
    pub fn list_keys(
        &self,
        cursor: Option<&str>,
    ) -> Result<(Vec<String>, Option<String>), StateError> {
        #[cfg(target_arch = "wasm32")]
        return self
            .handle
            .list_keys(cursor)
            .map(|page| (page.keys, page.cursor))
            .map_err(|error| wasm::error(&self.name, error));
        #[cfg(not(target_arch = "wasm32"))]
        return crate::testing::state::list_keys(&self.name, cursor);
    }

    /// Every key, page after page.
    pub fn keys(&self) -> Result<Vec<String>, StateError> {
        let mut all = Vec::new();
        let mut cursor = None;
        loop {
            let (keys, next) = self.list_keys(cursor.as_deref())?;
            all.extend(keys);
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(all),
            }
        }
    }

    /// Adds `delta` to the counter `key` (0 when unset), atomically in the
    /// store; the new value. The value is kept as decimal text.
    pub fn increment(&self, key: &str, delta: i64) -> Result<i64, StateError> {
        #[cfg(target_arch = "wasm32")]
        return wasm::atomics::increment(&self.handle, key, delta)
            .map_err(|error| wasm::error(&self.name, error));
        #[cfg(not(target_arch = "wasm32"))]
        return crate::testing::state::increment(&self.name, key, delta);
    }

    /// Replaces the value of `key` by `change(current)` (`None`: leave it
    /// as it is), by compare-and-swap: when another writer changed it in
    /// between, `change` is called again with the newer value. Returns
    /// what was written, or `None` when `change` left it.
    pub fn update(
        &self,
        key: &str,
        mut change: impl FnMut(Option<&[u8]>) -> Option<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, StateError> {
        #[cfg(target_arch = "wasm32")]
        {
            let mut cas = wasm::atomics::Cas::new(&self.handle, key)
                .map_err(|error| wasm::error(&self.name, error))?;
            for _ in 0..UPDATE_TRIES {
                let current = cas
                    .current()
                    .map_err(|error| wasm::error(&self.name, error))?;
                let Some(new) = change(current.as_deref()) else {
                    return Ok(None);
                };
                match wasm::atomics::swap(cas, &new) {
                    Ok(()) => return Ok(Some(new)),
                    Err(wasm::atomics::CasError::CasFailed(newer)) => cas = newer,
                    Err(wasm::atomics::CasError::StoreError(error)) => {
                        return Err(wasm::error(&self.name, error))
                    }
                }
            }
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            for _ in 0..UPDATE_TRIES {
                let current = crate::testing::state::get(&self.name, key)?;
                let Some(new) = change(current.as_deref()) else {
                    return Ok(None);
                };
                if crate::testing::state::compare_and_swap(&self.name, key, current, &new)? {
                    return Ok(Some(new));
                }
            }
        }
        Err(StateError::Other(format!(
            "{}/{key}: still changing under {UPDATE_TRIES} tries of compare-and-swap",
            self.name
        )))
    }

    /// The values of `keys`, in order.
    pub fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>, StateError> {
        #[cfg(target_arch = "wasm32")]
        {
            let owned: Vec<String> = keys.iter().map(|key| key.to_string()).collect();
            let found = wasm::batch::get_many(&self.handle, &owned)
                .map_err(|error| wasm::error(&self.name, error))?;
            Ok(found
                .into_iter()
                .map(|entry| entry.map(|(_, value)| value))
                .collect())
        }
        #[cfg(not(target_arch = "wasm32"))]
        keys.iter().map(|key| self.get(key)).collect()
    }

    /// Sets every key of `entries`.
    pub fn set_many(&self, entries: &[(&str, &[u8])]) -> Result<(), StateError> {
        #[cfg(target_arch = "wasm32")]
        {
            let owned: Vec<(String, Vec<u8>)> = entries
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_vec()))
                .collect();
            wasm::batch::set_many(&self.handle, &owned)
                .map_err(|error| wasm::error(&self.name, error))
        }
        #[cfg(not(target_arch = "wasm32"))]
        entries
            .iter()
            .try_for_each(|(key, value)| self.set(key, value))
    }

    /// Removes every key of `keys`.
    pub fn delete_many(&self, keys: &[&str]) -> Result<(), StateError> {
        #[cfg(target_arch = "wasm32")]
        {
            let owned: Vec<String> = keys.iter().map(|key| key.to_string()).collect();
            wasm::batch::delete_many(&self.handle, &owned)
                .map_err(|error| wasm::error(&self.name, error))
        }
        #[cfg(not(target_arch = "wasm32"))]
        keys.iter().try_for_each(|key| self.delete(key))
    }
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    pub(super) use crate::bindings::wasi::keyvalue::{atomics, batch, store};
    pub(super) use crate::bindings::yell::plugin::expiry;

    use super::StateError;

    pub(super) fn error(bucket: &str, error: store::Error) -> StateError {
        match error {
            store::Error::AccessDenied => StateError::AccessDenied(bucket.to_string()),
            store::Error::NoSuchStore => StateError::NoSuchStore(bucket.to_string()),
            store::Error::Other(message) => StateError::Other(message),
        }
    }
}
