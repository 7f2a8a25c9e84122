//! `--plugin-bucket [NAME:]BUCKET`: which buckets which plugin may open.
//! Buckets are named by the operator, not by the plugin file, so a live
//! swap to a new build of a plugin opens the same data.
//!
//! Owns: [`BucketGrants`]. Uses: nothing of this crate.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};

/// The buckets granted, to every plugin or to one by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketGrants {
    every: Vec<String>,
    by_plugin: BTreeMap<String, Vec<String>>,
}

impl BucketGrants {
    /// Grants from `--plugin-bucket` values; `plugins` are the names of the
    /// chain's plugins, which a NAME must be one of.
    pub fn parse(values: &[String], plugins: &[String]) -> Result<BucketGrants> {
        let mut grants = BucketGrants::default();
        for value in values {
            let (plugin, bucket) = match value.split_once(':') {
                Some((plugin, bucket)) => (Some(plugin), bucket),
                None => (None, value.as_str()),
            };
            check_bucket_name(bucket).with_context(|| format!("--plugin-bucket {value}"))?;
            let list = match plugin {
                Some(plugin) => {
                    if !plugins.iter().any(|name| name == plugin) {
                        bail!(
                            "--plugin-bucket {value}: no plugin of the chain is named {plugin} (they are: {})",
                            plugins.join(", ")
                        );
                    }
                    grants.by_plugin.entry(plugin.to_string()).or_default()
                }
                None => &mut grants.every,
            };
            if !list.iter().any(|granted| granted == bucket) {
                list.push(bucket.to_string());
            }
        }
        Ok(grants)
    }

    /// Whether any bucket is granted at all.
    pub fn is_empty(&self) -> bool {
        self.every.is_empty() && self.by_plugin.is_empty()
    }

    /// The buckets plugin `name` may open.
    pub fn for_plugin(&self, name: &str) -> Vec<String> {
        let mut buckets = self.every.clone();
        for bucket in self.by_plugin.get(name).into_iter().flatten() {
            if !buckets.contains(bucket) {
                buckets.push(bucket.clone());
            }
        }
        buckets
    }

    /// Every bucket granted to anyone, in order.
    pub fn all_buckets(&self) -> Vec<String> {
        let mut all: Vec<String> = self
            .every
            .iter()
            .chain(self.by_plugin.values().flatten())
            .cloned()
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

/// A bucket name: 1 to 128 letters, digits, `-`, `_` and `.` (so that it
/// can be part of a Redis key, and typed in a shell).
pub fn check_bucket_name(bucket: &str) -> Result<()> {
    let fine = !bucket.is_empty()
        && bucket.len() <= 128
        && bucket
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !fine {
        bail!("{bucket:?}: a bucket name is 1 to 128 letters, digits, '-', '_' and '.'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_go_to_every_plugin_or_to_one() {
        let plugins = ["counter".to_string(), "limiter".to_string()];
        let grants = BucketGrants::parse(
            &[
                "shared".into(),
                "limiter:tokens".into(),
                "limiter:tokens".into(),
            ],
            &plugins,
        )
        .unwrap();
        assert_eq!(grants.for_plugin("counter"), ["shared"]);
        assert_eq!(grants.for_plugin("limiter"), ["shared", "tokens"]);
        assert_eq!(grants.all_buckets(), ["shared", "tokens"]);
        let error = BucketGrants::parse(&["nobody:x".into()], &plugins)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("no plugin of the chain is named nobody"),
            "{error}"
        );
        assert!(BucketGrants::parse(&["a b".into()], &plugins).is_err());
        assert!(BucketGrants::parse(&["counter:".into()], &plugins).is_err());
    }
}
