//! `yell-host kv export` and `import`: every key of a store as JSON lines,
//! `{"bucket": B, "key": K, "value": TEXT}` (or `"hex": HEX` for a value
//! that is not UTF-8), for backups and for moving between backends.
//!
//! Owns: the export format. Uses: the backend interface.

use std::io::{BufRead, Write};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::backend::KeyValueBackend;
use super::grants::check_bucket_name;

/// One line of an export.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub bucket: String,
    pub key: String,
    /// The value, when it is UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The value in hexadecimal, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hex: Option<String>,
}

impl Entry {
    fn new(bucket: &str, key: &str, value: Vec<u8>) -> Entry {
        let (value, hex) = match String::from_utf8(value) {
            Ok(text) => (Some(text), None),
            Err(bytes) => (None, Some(hex::encode(bytes.into_bytes()))),
        };
        Entry {
            bucket: bucket.to_string(),
            key: key.to_string(),
            value,
            hex,
        }
    }

    fn bytes(&self) -> Result<Vec<u8>> {
        match (&self.value, &self.hex) {
            (Some(text), None) => Ok(text.clone().into_bytes()),
            (None, Some(hex)) => hex::decode(hex).context("\"hex\" is not hexadecimal"),
            _ => bail!("give one of \"value\" and \"hex\""),
        }
    }
}

/// Writes every key of `buckets` (every bucket when empty) to `out`;
/// returns how many.
pub async fn export(
    backend: &dyn KeyValueBackend,
    buckets: &[String],
    out: &mut impl Write,
) -> Result<u64> {
    let buckets = if buckets.is_empty() {
        backend.buckets().await?
    } else {
        buckets.to_vec()
    };
    let mut count = 0;
    for bucket in &buckets {
        let mut cursor = None;
        loop {
            let page = backend.list_keys(bucket, cursor.take()).await?;
            let values = backend.get_many(bucket, page.keys.clone()).await?;
            for (key, value) in page.keys.iter().zip(values) {
                // Deleted since the page was read: not exported.
                let Some(value) = value else { continue };
                serde_json::to_writer(&mut *out, &Entry::new(bucket, key, value))?;
                out.write_all(b"\n")?;
                count += 1;
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    out.flush()?;
    Ok(count)
}

/// Sets every entry of the JSON lines in `input`; returns how many. A line
/// that is not an entry stops the import, naming it (the lines before it
/// are in).
pub async fn import(backend: &dyn KeyValueBackend, input: impl BufRead) -> Result<u64> {
    let mut count = 0;
    for (number, line) in input.lines().enumerate() {
        let line = line.context("reading the import")?;
        if line.trim().is_empty() {
            continue;
        }
        let entry: Entry = serde_json::from_str(&line).with_context(|| {
            format!(
                "line {}: not an entry {{\"bucket\", \"key\", \"value\" or \"hex\"}}",
                number + 1
            )
        })?;
        let value = entry
            .bytes()
            .with_context(|| format!("line {}", number + 1))?;
        check_bucket_name(&entry.bucket).with_context(|| format!("line {}", number + 1))?;
        if entry.key.is_empty() {
            bail!("line {}: a key cannot be empty", number + 1);
        }
        backend
            .set(&entry.bucket, &entry.key, value)
            .await
            .with_context(|| format!("line {}: {}/{}", number + 1, entry.bucket, entry.key))?;
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyvalue::memory::MemoryBackend;
    use crate::keyvalue::Quota;

    #[test]
    fn an_export_imports_into_another_store_byte_for_byte() {
        let quota = Quota {
            keys: 100,
            bytes: 1 << 20,
        };
        let from = MemoryBackend::new(quota);
        let to = MemoryBackend::new(quota);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            from.set("a", "text", b"hello".to_vec()).await.unwrap();
            from.set("a", "binary", vec![0xff, 0, 1]).await.unwrap();
            from.set("b", "n", b"42".to_vec()).await.unwrap();
            let mut out = Vec::new();
            assert_eq!(export(&from, &[], &mut out).await.unwrap(), 3);
            let text = String::from_utf8(out.clone()).unwrap();
            assert!(
                text.contains(r#"{"bucket":"a","key":"binary","hex":"ff0001"}"#),
                "{text}"
            );
            assert_eq!(import(&to, out.as_slice()).await.unwrap(), 3);
            assert_eq!(to.get("a", "binary").await.unwrap(), Some(vec![0xff, 0, 1]));
            assert_eq!(to.get("b", "n").await.unwrap(), Some(b"42".to_vec()));
            let bad = import(&to, "{\"bucket\":\"a\"}\n".as_bytes())
                .await
                .unwrap_err();
            assert!(format!("{bad:#}").contains("line 1"), "{bad:#}");
        });
    }
}
