//! `--keyvalue redis://HOST:PORT[/DB]`: state shared by a fleet of hosts,
//! on the tokio runtime through the `redis` crate's connection manager
//! (one multiplexed connection, reconnecting on its own after Redis
//! restarts; a call while it is down fails, and the store's timeout bounds
//! every call).
//!
//! Keys live under the deployment's prefix (`--keyvalue-prefix`, default
//! `yell:`): a value at `PREFIX v:BUCKET:KEY`, the bucket's keys in order
//! in the sorted set `PREFIX i:BUCKET` (so `list-keys` pages by key, as the
//! other backends do), and what the bucket holds in the hash `PREFIX
//! u:BUCKET`, with the sizes of the keys that expire in `PREFIX s:BUCKET`
//! (Redis drops an expired value by itself; the first script that meets
//! its name in the index then takes it out of the usage, and a sweep of
//! the granted buckets every 10 s catches the rest). Every write is one
//! Lua script, atomic in Redis: the value,
//! the index and the usage change together, and the quota is checked
//! against the fleet-wide usage. `increment` is `INCRBY` (decimal text);
//! compare-and-swap compares and sets in one script (not `WATCH`/`MULTI`,
//! which belong to a connection and are unsafe on a multiplexed one);
//! `get-many` is `MGET`.
//!
//! Owns: [`RedisBackend`]. Uses: the backend interface.

use std::time::Duration;

use anyhow::{Context, Result};
use redis::aio::ConnectionManager;

use super::backend::{KeyPage, KeyValueBackend, Pending, Quota, StoreError, KEYS_PER_PAGE};

/// Forgets an expired key that the index and the usage still count: Redis
/// dropped its value, and its size was kept in the sizes hash.
const FORGET_EXPIRED: &str = r#"
local function forget_expired(value_key, index, usage, sizes, name)
  if redis.call('EXISTS', value_key) == 0 and redis.call('ZSCORE', index, name) then
    local size = tonumber(redis.call('HGET', sizes, name) or '0')
    redis.call('ZREM', index, name)
    redis.call('HDEL', sizes, name)
    if redis.call('HINCRBY', usage, 'keys', -1) <= 0 then redis.call('DEL', usage)
    else redis.call('HINCRBY', usage, 'bytes', -size) end
  end
end
"#;

/// Sets the value keys KEYS[4..] (names ARGV[4], ARGV[6], ..., values
/// ARGV[5], ARGV[7], ...) within the quota ARGV[1] keys, ARGV[2] bytes,
/// to expire after ARGV[3] ms ('0': lasting). KEYS[1] is the index,
/// KEYS[2] the usage, KEYS[3] the sizes of expiring keys. All or nothing.
const SET_MANY: &str = r#"
for i = 4, #KEYS do forget_expired(KEYS[i], KEYS[1], KEYS[2], KEYS[3], ARGV[2 * i - 4]) end
local keys = tonumber(redis.call('HGET', KEYS[2], 'keys') or '0')
local bytes = tonumber(redis.call('HGET', KEYS[2], 'bytes') or '0')
local seen = {}
for i = 4, #KEYS do
  local name, value = ARGV[2 * i - 4], ARGV[2 * i - 3]
  local old = seen[name]
  if old == nil then
    if redis.call('EXISTS', KEYS[i]) == 1 then old = redis.call('STRLEN', KEYS[i]) else old = false end
  end
  if old then bytes = bytes - old + #value else keys = keys + 1; bytes = bytes + #name + #value end
  seen[name] = #value
end
if keys > tonumber(ARGV[1]) then return redis.error_reply('QUOTA keys') end
if bytes > tonumber(ARGV[2]) then return redis.error_reply('QUOTA bytes') end
local ttl = tonumber(ARGV[3])
for i = 4, #KEYS do
  local name, value = ARGV[2 * i - 4], ARGV[2 * i - 3]
  if ttl > 0 then
    redis.call('SET', KEYS[i], value, 'PX', ttl)
    redis.call('HSET', KEYS[3], name, #name + #value)
  else
    redis.call('SET', KEYS[i], value)
    redis.call('HDEL', KEYS[3], name)
  end
  redis.call('ZADD', KEYS[1], 0, name)
end
redis.call('HSET', KEYS[2], 'keys', keys, 'bytes', bytes)
return 1
"#;

/// Removes the value keys KEYS[4..] (names ARGV[1..]); KEYS[1] is the
/// index, KEYS[2] the usage, KEYS[3] the sizes.
const DELETE_MANY: &str = r#"
for i = 4, #KEYS do forget_expired(KEYS[i], KEYS[1], KEYS[2], KEYS[3], ARGV[i - 3]) end
local keys, bytes = 0, 0
for i = 4, #KEYS do
  local len = redis.call('STRLEN', KEYS[i])
  if redis.call('DEL', KEYS[i]) == 1 then keys = keys + 1; bytes = bytes + len + #ARGV[i - 3] end
  redis.call('ZREM', KEYS[1], ARGV[i - 3])
  redis.call('HDEL', KEYS[3], ARGV[i - 3])
end
if keys > 0 then
  if redis.call('HINCRBY', KEYS[2], 'keys', -keys) <= 0 then redis.call('DEL', KEYS[2])
  else redis.call('HINCRBY', KEYS[2], 'bytes', -bytes) end
end
return keys
"#;

/// INCRBY of KEYS[1] (name ARGV[1]) by ARGV[2] (its time to live, if any,
/// stays); KEYS[2] the index, KEYS[3] the usage, KEYS[4] the sizes,
/// ARGV[3] the quota's keys.
const INCREMENT: &str = r#"
forget_expired(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1])
local existed = redis.call('EXISTS', KEYS[1]) == 1
if not existed and tonumber(redis.call('HGET', KEYS[3], 'keys') or '0') + 1 > tonumber(ARGV[3]) then
  return redis.error_reply('QUOTA keys')
end
local before = redis.call('STRLEN', KEYS[1])
local new = redis.call('INCRBY', KEYS[1], ARGV[2])
local after = redis.call('STRLEN', KEYS[1])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
if redis.call('HEXISTS', KEYS[4], ARGV[1]) == 1 then redis.call('HSET', KEYS[4], ARGV[1], #ARGV[1] + after) end
if existed then
  redis.call('HINCRBY', KEYS[3], 'bytes', after - before)
else
  redis.call('HINCRBY', KEYS[3], 'keys', 1)
  redis.call('HINCRBY', KEYS[3], 'bytes', #ARGV[1] + after)
end
return new
"#;

/// Sets KEYS[1] (name ARGV[1]) to ARGV[4] if it holds ARGV[3] (ARGV[2] =
/// '1'), or does not exist (ARGV[2] = '0'); KEYS[2] the index, KEYS[3]
/// the usage, KEYS[4] the sizes, ARGV[5], ARGV[6] the quota. 1 if it
/// did, 0 if not. The key lasts after (as SET makes it).
const COMPARE_AND_SWAP: &str = r#"
forget_expired(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1])
local current = redis.call('GET', KEYS[1])
if ARGV[2] == '0' then
  if current then return 0 end
elseif (not current) or current ~= ARGV[3] then
  return 0
end
local keys = tonumber(redis.call('HGET', KEYS[3], 'keys') or '0')
local bytes = tonumber(redis.call('HGET', KEYS[3], 'bytes') or '0')
if current then bytes = bytes - #current + #ARGV[4] else keys = keys + 1; bytes = bytes + #ARGV[1] + #ARGV[4] end
if keys > tonumber(ARGV[5]) then return redis.error_reply('QUOTA keys') end
if bytes > tonumber(ARGV[6]) then return redis.error_reply('QUOTA bytes') end
redis.call('SET', KEYS[1], ARGV[4])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('ZADD', KEYS[2], 0, ARGV[1])
redis.call('HSET', KEYS[3], 'keys', keys, 'bytes', bytes)
return 1
"#;

/// Makes KEYS[1] (name ARGV[1]) expire after ARGV[2] ms ('0': now);
/// KEYS[2] the index, KEYS[3] the usage, KEYS[4] the sizes. 1 if the key
/// was set, 0 if not.
const EXPIRE: &str = r#"
forget_expired(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(ARGV[2]) == 0 then
  local len = redis.call('STRLEN', KEYS[1])
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
  if redis.call('HINCRBY', KEYS[3], 'keys', -1) <= 0 then redis.call('DEL', KEYS[3])
  else redis.call('HINCRBY', KEYS[3], 'bytes', -(len + #ARGV[1])) end
  return 1
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[4], ARGV[1], #ARGV[1] + redis.call('STRLEN', KEYS[1]))
return 1
"#;

/// One page of the index KEYS[1] after ARGV[1] ('-' from the start), at
/// most ARGV[2] keys, leaving out (and forgetting) expired ones; ARGV[3]
/// is the prefix of the bucket's value keys, KEYS[2] the usage, KEYS[3]
/// the sizes.
const LIST_PAGE: &str = r#"
local out, start, count = {}, ARGV[1], tonumber(ARGV[2])
while #out < count do
  local page = redis.call('ZRANGEBYLEX', KEYS[1], start, '+', 'LIMIT', 0, count)
  if #page == 0 then break end
  for _, name in ipairs(page) do
    local value_key = ARGV[3] .. name
    if redis.call('EXISTS', value_key) == 1 then
      if #out < count then table.insert(out, name) end
    else
      forget_expired(value_key, KEYS[1], KEYS[2], KEYS[3], name)
    end
  end
  start = '(' .. page[#page]
end
return out
"#;

/// How often the buckets granted are swept of expired keys that no call
/// met (so they leave the quota).
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The Redis backend.
pub struct RedisBackend {
    url: String,
    prefix: String,
    quota: Quota,
    connection: ConnectionManager,
    set_many: redis::Script,
    delete_many: redis::Script,
    increment: redis::Script,
    compare_and_swap: redis::Script,
    expire: redis::Script,
    list_page: redis::Script,
}

/// A script with the helper every script shares in front.
fn script(body: &str) -> redis::Script {
    redis::Script::new(&format!("{FORGET_EXPIRED}{body}"))
}

impl RedisBackend {
    /// Connects to the Redis at `url` (waiting at most `wait`), keys under
    /// `prefix`, each bucket held to `quota` (fleet-wide).
    pub async fn connect(
        client: redis::Client,
        url: &str,
        prefix: &str,
        quota: Quota,
        wait: Duration,
    ) -> Result<std::sync::Arc<RedisBackend>> {
        let shown = without_password(url);
        // The manager retries a first connection for seconds, with backoff,
        // before it gives up: a Redis that is not there (a wrong port, a
        // refused TLS handshake) is said at once by one plain attempt
        // first. Later failures are the manager's to retry.
        let connected = async {
            drop(client.get_multiplexed_async_connection().await?);
            ConnectionManager::new(client).await
        };
        let connection = tokio::time::timeout(wait, connected)
            .await
            .map_err(|_| anyhow::anyhow!("no answer within {wait:?}"))
            .and_then(|connected| connected.map_err(anyhow::Error::from))
            .with_context(|| format!("connecting to the state store {shown}"))?;
        Ok(std::sync::Arc::new(RedisBackend {
            url: shown,
            prefix: prefix.to_string(),
            quota,
            connection,
            set_many: script(SET_MANY),
            delete_many: script(DELETE_MANY),
            increment: script(INCREMENT),
            compare_and_swap: script(COMPARE_AND_SWAP),
            expire: script(EXPIRE),
            list_page: script(LIST_PAGE),
        }))
    }

    /// Sweeps `buckets` of expired keys every [`SWEEP_EVERY`], on the tokio
    /// runtime, for as long as the backend lives.
    pub fn sweep_periodically(backend: &std::sync::Arc<RedisBackend>, buckets: Vec<String>) {
        let weak = std::sync::Arc::downgrade(backend);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(backend) = weak.upgrade() else {
                    return;
                };
                for bucket in &buckets {
                    let mut after = None;
                    // A page at a time: each leaves out, and forgets, the
                    // expired keys it meets.
                    loop {
                        match backend.page(bucket, after.take()).await {
                            Ok(page) => match page.cursor {
                                Some(next) => after = Some(next),
                                None => break,
                            },
                            Err(error) => {
                                tracing::debug!("state: sweeping {bucket}: {error}");
                                break;
                            }
                        }
                    }
                }
            }
        });
    }

    fn sizes_key(&self, bucket: &str) -> String {
        format!("{}s:{bucket}", self.prefix)
    }

    /// One page of `bucket`'s live keys after `after`.
    async fn page(&self, bucket: &str, after: Option<String>) -> Result<KeyPage, StoreError> {
        let start = match &after {
            Some(after) => format!("({after}"),
            None => "-".to_string(),
        };
        let keys: Vec<String> = self
            .list_page
            .key(self.index_key(bucket))
            .key(self.usage_key(bucket))
            .key(self.sizes_key(bucket))
            .arg(start)
            .arg(KEYS_PER_PAGE + 1)
            .arg(format!("{}v:{bucket}:", self.prefix))
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|error| self.error(bucket, "", error))?;
        Ok(KeyPage::from_fetched(keys))
    }

    fn value_key(&self, bucket: &str, key: &str) -> String {
        format!("{}v:{bucket}:{key}", self.prefix)
    }

    fn index_key(&self, bucket: &str) -> String {
        format!("{}i:{bucket}", self.prefix)
    }

    fn usage_key(&self, bucket: &str) -> String {
        format!("{}u:{bucket}", self.prefix)
    }

    /// A Redis error as the plugin hears it: a quota or a counter that is
    /// not a number is a refusal; anything else names Redis and the cause.
    fn error(&self, bucket: &str, key: &str, error: redis::RedisError) -> StoreError {
        let text = error.to_string();
        let quota = error.code() == Some("QUOTA");
        if quota && error.detail() == Some("keys") {
            StoreError::Refused(format!(
                "bucket {bucket} is full: at most {} keys (--keyvalue-quota)",
                self.quota.keys
            ))
        } else if quota {
            StoreError::Refused(format!(
                "bucket {bucket} is full: at most {} bytes of keys and values (--keyvalue-quota)",
                self.quota.bytes
            ))
        } else if text.contains("not an integer") {
            StoreError::Refused(format!(
                "{bucket}/{key} is not a counter: its value is not a decimal integer"
            ))
        } else if text.contains("overflow") {
            StoreError::Refused(format!(
                "{bucket}/{key}: the increment overflows a 64-bit counter"
            ))
        } else {
            StoreError::Backend(format!("redis {}: {text}", self.url))
        }
    }

    async fn set_entries(
        &self,
        bucket: &str,
        entries: &[(String, Vec<u8>)],
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let mut invocation = self.set_many.prepare_invoke();
        invocation
            .key(self.index_key(bucket))
            .key(self.usage_key(bucket))
            .key(self.sizes_key(bucket));
        let ttl_ms = ttl.map(|ttl| (ttl.as_millis() as u64).max(1)).unwrap_or(0);
        invocation
            .arg(self.quota.keys)
            .arg(self.quota.bytes)
            .arg(ttl_ms);
        for (key, value) in entries {
            invocation
                .key(self.value_key(bucket, key))
                .arg(key)
                .arg(value.as_slice());
        }
        let first = entries.first().map(|(key, _)| key.as_str()).unwrap_or("");
        invocation
            .invoke_async::<i64>(&mut self.connection.clone())
            .await
            .map(|_| ())
            .map_err(|error| self.error(bucket, first, error))
    }

    async fn delete_keys(&self, bucket: &str, keys: &[String]) -> Result<(), StoreError> {
        let mut invocation = self.delete_many.prepare_invoke();
        invocation
            .key(self.index_key(bucket))
            .key(self.usage_key(bucket))
            .key(self.sizes_key(bucket));
        for key in keys {
            invocation.key(self.value_key(bucket, key)).arg(key);
        }
        let first = keys.first().map(String::as_str).unwrap_or("");
        invocation
            .invoke_async::<i64>(&mut self.connection.clone())
            .await
            .map(|_| ())
            .map_err(|error| self.error(bucket, first, error))
    }
}

impl KeyValueBackend for RedisBackend {
    fn describe(&self) -> String {
        format!("redis {}", self.url)
    }

    fn get<'a>(&'a self, bucket: &'a str, key: &'a str) -> Pending<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            redis::cmd("GET")
                .arg(self.value_key(bucket, key))
                .query_async::<Option<Vec<u8>>>(&mut self.connection.clone())
                .await
                .map_err(|error| self.error(bucket, key, error))
        })
    }

    fn set<'a>(&'a self, bucket: &'a str, key: &'a str, value: Vec<u8>) -> Pending<'a, ()> {
        Box::pin(async move {
            self.set_entries(bucket, &[(key.to_string(), value)], None)
                .await
        })
    }

    fn set_with_ttl<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        value: Vec<u8>,
        ttl: Duration,
    ) -> Pending<'a, ()> {
        Box::pin(async move {
            self.set_entries(bucket, &[(key.to_string(), value)], Some(ttl))
                .await
        })
    }

    fn expire<'a>(&'a self, bucket: &'a str, key: &'a str, ttl: Duration) -> Pending<'a, bool> {
        Box::pin(async move {
            self.expire
                .key(self.value_key(bucket, key))
                .key(self.index_key(bucket))
                .key(self.usage_key(bucket))
                .key(self.sizes_key(bucket))
                .arg(key)
                .arg(ttl.as_millis() as u64)
                .invoke_async::<i64>(&mut self.connection.clone())
                .await
                .map(|found| found == 1)
                .map_err(|error| self.error(bucket, key, error))
        })
    }

    fn delete<'a>(&'a self, bucket: &'a str, key: &'a str) -> Pending<'a, ()> {
        Box::pin(async move { self.delete_keys(bucket, &[key.to_string()]).await })
    }

    fn exists<'a>(&'a self, bucket: &'a str, key: &'a str) -> Pending<'a, bool> {
        Box::pin(async move {
            redis::cmd("EXISTS")
                .arg(self.value_key(bucket, key))
                .query_async::<i64>(&mut self.connection.clone())
                .await
                .map(|found| found == 1)
                .map_err(|error| self.error(bucket, key, error))
        })
    }

    fn list_keys<'a>(&'a self, bucket: &'a str, after: Option<String>) -> Pending<'a, KeyPage> {
        Box::pin(self.page(bucket, after))
    }

    fn increment<'a>(&'a self, bucket: &'a str, key: &'a str, delta: i64) -> Pending<'a, i64> {
        Box::pin(async move {
            self.increment
                .key(self.value_key(bucket, key))
                .key(self.index_key(bucket))
                .key(self.usage_key(bucket))
                .key(self.sizes_key(bucket))
                .arg(key)
                .arg(delta)
                .arg(self.quota.keys)
                .invoke_async::<i64>(&mut self.connection.clone())
                .await
                .map_err(|error| self.error(bucket, key, error))
        })
    }

    fn compare_and_swap<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        expected: Option<Vec<u8>>,
        value: Vec<u8>,
    ) -> Pending<'a, bool> {
        Box::pin(async move {
            let (flag, expected) = match expected {
                Some(expected) => ("1", expected),
                None => ("0", Vec::new()),
            };
            self.compare_and_swap
                .key(self.value_key(bucket, key))
                .key(self.index_key(bucket))
                .key(self.usage_key(bucket))
                .key(self.sizes_key(bucket))
                .arg(key)
                .arg(flag)
                .arg(expected)
                .arg(value)
                .arg(self.quota.keys)
                .arg(self.quota.bytes)
                .invoke_async::<i64>(&mut self.connection.clone())
                .await
                .map(|swapped| swapped == 1)
                .map_err(|error| self.error(bucket, key, error))
        })
    }

    fn get_many<'a>(
        &'a self,
        bucket: &'a str,
        keys: Vec<String>,
    ) -> Pending<'a, Vec<Option<Vec<u8>>>> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let mut mget = redis::cmd("MGET");
            for key in &keys {
                mget.arg(self.value_key(bucket, key));
            }
            mget.query_async::<Vec<Option<Vec<u8>>>>(&mut self.connection.clone())
                .await
                .map_err(|error| self.error(bucket, "", error))
        })
    }

    fn set_many<'a>(&'a self, bucket: &'a str, entries: Vec<(String, Vec<u8>)>) -> Pending<'a, ()> {
        Box::pin(async move {
            if entries.is_empty() {
                return Ok(());
            }
            self.set_entries(bucket, &entries, None).await
        })
    }

    fn delete_many<'a>(&'a self, bucket: &'a str, keys: Vec<String>) -> Pending<'a, ()> {
        Box::pin(async move {
            if keys.is_empty() {
                return Ok(());
            }
            self.delete_keys(bucket, &keys).await
        })
    }

    fn buckets(&self) -> Pending<'_, Vec<String>> {
        Box::pin(async move {
            let pattern = format!("{}i:*", self.prefix);
            let strip = format!("{}i:", self.prefix);
            let mut cursor: u64 = 0;
            let mut names = Vec::new();
            loop {
                let (next, found): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut self.connection.clone())
                    .await
                    .map_err(|error| self.error("", "", error))?;
                names.extend(
                    found
                        .into_iter()
                        .filter_map(|key| key.strip_prefix(&strip).map(str::to_string)),
                );
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            names.sort();
            names.dedup();
            Ok(names)
        })
    }
}

/// The client of the Redis at `url`: over TLS for `rediss://`, trusting
/// the system's roots, or only the PEM certificates in the file `ca`.
/// Errors name the URL without its password.
pub fn client(url: &str, ca: Option<&std::path::Path>) -> Result<redis::Client> {
    let shown = without_password(url);
    let client = match ca {
        None => redis::Client::open(url),
        Some(ca) => {
            let pem = std::fs::read(ca)
                .with_context(|| format!("--keyvalue-ca {}: cannot read it", ca.display()))?;
            redis::Client::build_with_tls(
                url,
                redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(pem),
                },
            )
        }
    };
    client.map_err(|error| anyhow::anyhow!("--keyvalue {shown}: {error}"))
}

/// `url` with its password (if any) replaced, for logs and errors.
pub fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            without_password("redis://:hunter2@127.0.0.1:6379/0"),
            "redis://:***@127.0.0.1:6379/0"
        );
        assert_eq!(
            without_password("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
    }
}
