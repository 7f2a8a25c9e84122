//! `wasi:keyvalue@0.2.0-draft2` (`store`, `atomics`, `batch`) as host
//! functions for plugins, through the runtime's host-import extension
//! point. A plugin opens only the buckets the operator granted it (any
//! other name is `access-denied`); every call is checked against the
//! limits and bounded by the store's timeout, and a failure reaches the
//! plugin as `other(message)`, for it to decide what its line gets. A
//! plugin that does not import the interfaces never sees them.
//!
//! `cas` is a compare-and-swap on the value read when the handle was made:
//! `swap` writes only if the key still holds that value (or still does not
//! exist), atomically in the backend; otherwise it answers `cas-failed`
//! with a new handle holding the value now there.
//!
//! Owns: [`KeyValueImport`], the bucket and cas handles. Uses: the store,
//! the grants.

use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker, Resource};
use yell_runtime::{HostImport, PluginSpec, PluginState};

use super::backend::StoreError;
use super::grants::BucketGrants;
use super::store::StateStore;

mod generated {
    wasmtime::component::bindgen!({
        inline: "
            package yell:host-state;
            world state {
                import wasi:keyvalue/store@0.2.0-draft2;
                import wasi:keyvalue/atomics@0.2.0-draft2;
                                import wasi:keyvalue/batch@0.2.0-draft2;
                import yell:plugin/expiry@0.1.0;
            }
        ",
        path: "wit",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": crate::keyvalue::imports::OpenBucket,
            "wasi:keyvalue/atomics.cas": crate::keyvalue::imports::CasHandle,
        },
    });
}

use generated::wasi::keyvalue::{atomics, batch, store};
use generated::yell::plugin::expiry;

/// A bucket a plugin opened: its name.
pub struct OpenBucket {
    name: String,
}

/// A compare-and-swap in progress: the key, and the value it held when
/// the handle was made.
pub struct CasHandle {
    bucket: String,
    key: String,
    seen: Option<Vec<u8>>,
}

/// The key-value host import.
pub struct KeyValueImport {
    store: Option<Arc<StateStore>>,
    grants: BucketGrants,
}

impl KeyValueImport {
    /// Plugins get the buckets `grants` names, in `store` (`None`: no
    /// bucket is granted, and every open is `access-denied`).
    pub fn new(store: Option<Arc<StateStore>>, grants: BucketGrants) -> KeyValueImport {
        KeyValueImport { store, grants }
    }
}

/// What one plugin's instances know of the store: the buckets it may open.
struct PluginBuckets {
    plugin: String,
    store: Option<Arc<StateStore>>,
    granted: Vec<String>,
}

impl HostImport for KeyValueImport {
    fn name(&self) -> &str {
        "wasi:keyvalue"
    }

    fn offers(&self, import: &str) -> bool {
        ["wasi:keyvalue/", "yell:plugin/expiry@"]
            .iter()
            .any(|interface| import.starts_with(interface))
    }

    fn add_to_linker(&self, linker: &mut Linker<PluginState>) -> wasmtime::Result<()> {
        generated::State::add_to_linker::<PluginState, HasSelf<PluginState>>(linker, |state| state)
    }

    fn plugin_data(&self, plugin: &PluginSpec) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        let name = yell_runtime::plugin_name(&plugin.path);
        let granted = self.grants.for_plugin(&name);
        if !granted.is_empty() {
            tracing::info!(
                "plugin {name}: may open the state buckets {}",
                granted.join(", ")
            );
        }
        Some(Arc::new(PluginBuckets {
            granted,
            plugin: name,
            store: self.store.clone(),
        }))
    }
}

/// The plugin's buckets, and the store (cloned out of the state, so the
/// state's resource table can be used beside them).
fn access(state: &PluginState) -> (String, Option<Arc<StateStore>>, Vec<String>) {
    match state.extension::<PluginBuckets>() {
        Some(buckets) => (
            buckets.plugin.clone(),
            buckets.store.clone(),
            buckets.granted.clone(),
        ),
        None => (String::new(), None, Vec::new()),
    }
}

fn other(error: StoreError) -> store::Error {
    store::Error::Other(error.to_string())
}

/// The store and plugin name behind an open bucket handle.
fn opened(
    state: &mut PluginState,
    bucket: &Resource<OpenBucket>,
) -> wasmtime::Result<(String, Arc<StateStore>, String)> {
    let (plugin, store, _) = access(state);
    let name = state.resources().get(bucket)?.name.clone();
    // A bucket opens only with a store behind it.
    let store = store.ok_or_else(|| wasmtime::Error::msg("a bucket is open without a store"))?;
    Ok((plugin, store, name))
}

impl store::Host for PluginState {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<OpenBucket>, store::Error>> {
        let (_, store, granted) = access(self);
        if store.is_none() || !granted.contains(&identifier) {
            return Ok(Err(store::Error::AccessDenied));
        }
        Ok(Ok(self
            .resources()
            .push(OpenBucket { name: identifier })?))
    }
}

impl store::HostBucket for PluginState {
    async fn get(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, store::Error>> {
        let (plugin, store, name) = opened(self, &bucket)?;
        if let Err(refused) = store.check_key(&key) {
            return Ok(Err(other(refused)));
        }
        Ok(store
            .bounded(&plugin, store.backend().get(&name, &key))
            .await
            .map_err(other))
    }

    async fn set(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        let (plugin, store, name) = opened(self, &bucket)?;
        if let Err(refused) = store
            .check_key(&key)
            .and_then(|()| store.check_value(&value))
        {
            return Ok(Err(other(refused)));
        }
        Ok(store
            .bounded(&plugin, store.backend().set(&name, &key, value))
            .await
            .map_err(other))
    }

    async fn delete(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        let (plugin, store, name) = opened(self, &bucket)?;
        if let Err(refused) = store.check_key(&key) {
            return Ok(Err(other(refused)));
        }
        Ok(store
            .bounded(&plugin, store.backend().delete(&name, &key))
            .await
            .map_err(other))
    }

    async fn exists(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, store::Error>> {
        let (plugin, store, name) = opened(self, &bucket)?;
        if let Err(refused) = store.check_key(&key) {
            return Ok(Err(other(refused)));
        }
        Ok(store
            .bounded(&plugin, store.backend().exists(&name, &key))
            .await
            .map_err(other))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<OpenBucket>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<store::KeyResponse, store::Error>> {
        let (plugin, store, name) = opened(self, &bucket)?;
        let page = store
            .bounded(&plugin, store.backend().list_keys(&name, cursor))
            .await;
        Ok(page
            .map(|page| store::KeyResponse {
                keys: page.keys,
                cursor: page.cursor,
            })
            .map_err(other))
    }

    async fn drop(&mut self, bucket: Resource<OpenBucket>) -> wasmtime::Result<()> {
        self.resources().delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for PluginState {
    async fn increment(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, store::Error>> {
        let (plugin, store, name) = opened(self, &bucket)?;
        if let Err(refused) = store.check_key(&key) {
            return Ok(Err(other(refused)));
        }
        Ok(store
            .bounded(&plugin, store.backend().increment(&name, &key, delta))
            .await
            .map_err(other))
    }

    async fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let (plugin, store, _) = access(self);
        let handle = self.resources().delete(cas)?;
        let store = store.ok_or_else(|| wasmtime::Error::msg("a cas exists without a store"))?;
        if let Err(refused) = store.check_value(&value) {
            return Ok(Err(atomics::CasError::StoreError(other(refused))));
        }
        let swapped = store
            .bounded(
                &plugin,
                store
                    .backend()
                    .compare_and_swap(&handle.bucket, &handle.key, handle.seen, value),
            )
            .await;
        match swapped {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                // A new handle on what is there now, for the retry.
                let now = store
                    .bounded(&plugin, store.backend().get(&handle.bucket, &handle.key))
                    .await;
                match now {
                    Ok(seen) => {
                        let retry = self.resources().push(CasHandle {
                            bucket: handle.bucket,
                            key: handle.key,
                            seen,
                        })?;
                        Ok(Err(atomics::CasError::CasFailed(retry)))
                    }
                    Err(error) => Ok(Err(atomics::CasError::StoreError(other(error)))),
                }
            }
            Err(error) => Ok(Err(atomics::CasError::StoreError(other(error)))),
        }
    }
}

impl atomics::HostCas for PluginState {
    async fn new(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<CasHandle>, store::Error>> {
        let (plugin, store, name) = opened(self, &bucket)?;
        if let Err(refused) = store.check_key(&key) {
            return Ok(Err(other(refused)));
        }
        match store
            .bounded(&plugin, store.backend().get(&name, &key))
            .await
        {
            Ok(seen) => Ok(Ok(self.resources().push(CasHandle {
                bucket: name,
                key,
                seen,
            })?)),
            Err(error) => Ok(Err(other(error))),
        }
    }

    async fn current(
        &mut self,
        cas: Resource<CasHandle>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, store::Error>> {
        Ok(Ok(self.resources().get(&cas)?.seen.clone()))
    }

    async fn drop(&mut self, cas: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.resources().delete(cas)?;
        Ok(())
    }
}

impl batch::Host for PluginState {
    async fn get_many(
        &mut self,
        bucket: Resource<OpenBucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<Option<(String, Vec<u8>)>>, store::Error>> {
        let (plugin, store, name) = opened(self, &bucket)?;
        if let Err(refused) = keys.iter().try_for_each(|key| store.check_key(key)) {
            return Ok(Err(other(refused)));
        }
        let values = store
            .bounded(&plugin, store.backend().get_many(&name, keys.clone()))
            .await;
        Ok(values
            .map(|values| {
                keys.into_iter()
                    .zip(values)
                    .map(|(key, value)| value.map(|value| (key, value)))
                    .collect()
            })
            .map_err(other))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<OpenBucket>,
        entries: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        let (plugin, store, name) = opened(self, &bucket)?;
        let checked = entries.iter().try_for_each(|(key, value)| {
            store.check_key(key).and_then(|()| store.check_value(value))
        });
        if let Err(refused) = checked {
            return Ok(Err(other(refused)));
        }
        Ok(store
            .bounded(&plugin, store.backend().set_many(&name, entries))
            .await
            .map_err(other))
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<OpenBucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        let (plugin, store, name) = opened(self, &bucket)?;
        if let Err(refused) = keys.iter().try_for_each(|key| store.check_key(key)) {
            return Ok(Err(other(refused)));
        }
        Ok(store
            .bounded(&plugin, store.backend().delete_many(&name, keys))
            .await
            .map_err(other))
    }
}

impl expiry::Host for PluginState {
    async fn set_with_ttl(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
        value: Vec<u8>,
        ttl_ms: u64,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        let (plugin, store, name) = opened(self, &bucket)?;
        if let Err(refused) = store
            .check_key(&key)
            .and_then(|()| store.check_value(&value))
        {
            return Ok(Err(other(refused)));
        }
        if ttl_ms == 0 {
            return Ok(Err(store::Error::Other(
                "a time to live is at least 1 ms".into(),
            )));
        }
        let ttl = std::time::Duration::from_millis(ttl_ms);
        Ok(store
            .bounded(
                &plugin,
                store.backend().set_with_ttl(&name, &key, value, ttl),
            )
            .await
            .map_err(other))
    }

    async fn expire(
        &mut self,
        bucket: Resource<OpenBucket>,
        key: String,
        ttl_ms: u64,
    ) -> wasmtime::Result<Result<bool, store::Error>> {
        let (plugin, store, name) = opened(self, &bucket)?;
        if let Err(refused) = store.check_key(&key) {
            return Ok(Err(other(refused)));
        }
        let ttl = std::time::Duration::from_millis(ttl_ms);
        Ok(store
            .bounded(&plugin, store.backend().expire(&name, &key, ttl))
            .await
            .map_err(other))
    }
}
