//! An exact count kept in the host's state store, so every connection,
//! instance, live swap and host sharing the store counts the same total:
//! `COUNT` adds one and answers the total after it; `TOTAL` answers it
//! without counting. Any other line is refused.
//!
//! Configuration: `bucket` (default `tally`), which the operator must
//! grant (`--plugin-bucket tally`), and `key` (default `count`). A state
//! call that fails (the store down or slow) refuses the line with why:
//! nothing is counted twice, and a line not answered was not counted.
//!
//! It publishes `yell_plugin_tally_counted_total`: the increments this
//! host made (the fleet's total is the store's).

use yell_plugin::metrics::Counter;
use yell_plugin::state::Bucket;
use yell_plugin::{Config, LinePlugin, Reply};

struct Tally {
    bucket: String,
    key: String,
    counted: Counter,
}

impl LinePlugin for Tally {
    fn new(config: &Config) -> Result<Self, String> {
        config.allow_only(&["bucket", "key"])?;
        Ok(Tally {
            bucket: config.get("bucket").unwrap_or("tally").to_string(),
            key: config.get("key").unwrap_or("count").to_string(),
            counted: Counter::define(
                "tally_counted",
                "COUNT lines this host added to the total.",
                &[],
            ),
        })
    }

    fn transform(&mut self, line: &[u8], reply: &mut Reply) -> Result<(), String> {
        let bucket = Bucket::open(&self.bucket)?;
        let total = match line.trim_ascii() {
            b"COUNT" => {
                let total = bucket.increment(&self.key, 1)?;
                self.counted.increment(&[]);
                total
            }
            b"TOTAL" => bucket.increment(&self.key, 0)?,
            _ => return Err("expected COUNT or TOTAL".into()),
        };
        reply.push(total.to_string());
        Ok(())
    }
}

yell_plugin::export_plugin!(Tally);

#[cfg(test)]
mod tests {
    use yell_plugin::testing::{metrics, state, TestHost};

    #[test]
    fn counts_in_the_store_and_refuses_anything_else() {
        state::grant_bucket("tally");
        let mut host = TestHost::<super::Tally>::new(&[]).unwrap();
        assert_eq!(host.line(b"COUNT"), Ok(vec![b"1".to_vec()]));
        assert_eq!(host.line(b"COUNT"), Ok(vec![b"2".to_vec()]));
        // Another instance (a swap, another core) sees the same total.
        let mut other = TestHost::<super::Tally>::new(&[]).unwrap();
        assert_eq!(other.line(b"TOTAL"), Ok(vec![b"2".to_vec()]));
        assert_eq!(state::value("tally", "count"), Some(b"2".to_vec()));
        assert!(host.line(b"HELLO").is_err());
        assert_eq!(metrics::value("tally_counted", &[]), Some(2.0));
    }

    #[test]
    fn an_ungranted_bucket_is_refused_with_why() {
        state::reset();
        let mut host = TestHost::<super::Tally>::new(&[("bucket", "secret")]).unwrap();
        let refused = host.line(b"COUNT").unwrap_err();
        assert!(refused.contains("access denied"), "{refused}");
    }
}
