//! A rate limit per client: each client address has a token bucket in the
//! host's state store, so every connection of the client, every instance
//! and every host sharing the store (Redis) draws on the same bucket. A
//! line that finds a token passes through unchanged; one that finds none
//! is answered `ERR rate limited`.
//!
//! Configuration: `rate` (tokens per second, default 10), `burst` (the
//! bucket's size, default 20), `bucket` (the state bucket, default
//! `ratelimit`, which the operator must grant: `--plugin-bucket
//! ratelimit`). The client is the peer's IP address (without the port;
//! behind a load balancer, the one its PROXY header gave).
//!
//! Each client's entry is `TOKENS TIME` (decimal text: tokens scaled by
//! 1,000, and the milliseconds of the wall clock when they were counted),
//! replaced by compare-and-swap so that concurrent lines of one client
//! each take their own token, and set to expire once the bucket would be
//! full again (a client gone quiet leaves nothing behind). A state call
//! that fails refuses the line with why: the limiter fails closed.
//!
//! It publishes `yell_plugin_ratelimit_lines_total{verdict="passed"|"limited"}`.

use yell_plugin::clock;
use yell_plugin::metrics::Counter;
use yell_plugin::state::Bucket;
use yell_plugin::{Config, ConnectionId, LinePlugin, Reply};

/// Tokens are kept in thousandths, so a refill of less than one token
/// between two lines is not lost to rounding.
const MILLI: u64 = 1000;

struct RateLimit {
    bucket: String,
    /// Thousandths of a token added per millisecond (= tokens per second).
    rate: u64,
    /// The bucket's size, in thousandths of a token.
    burst: u64,
    lines: Counter,
}

/// One client's bucket as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tokens {
    /// Thousandths of a token.
    milli: u64,
    /// When they were counted, in ms of the wall clock.
    at_ms: u64,
}

impl Tokens {
    fn parse(stored: &[u8]) -> Option<Tokens> {
        let text = std::str::from_utf8(stored).ok()?;
        let (milli, at_ms) = text.split_once(' ')?;
        Some(Tokens {
            milli: milli.parse().ok()?,
            at_ms: at_ms.parse().ok()?,
        })
    }

    fn text(self) -> Vec<u8> {
        format!("{} {}", self.milli, self.at_ms).into_bytes()
    }
}

impl RateLimit {
    /// Takes a token from `stored` at `now_ms`: the entry to store, or
    /// `None` when there is none to take. A missing or unreadable entry is
    /// a full bucket; a clock that went back refills nothing.
    fn take(&self, stored: Option<&[u8]>, now_ms: u64) -> Option<Tokens> {
        let had = stored.and_then(Tokens::parse).unwrap_or(Tokens {
            milli: self.burst,
            at_ms: now_ms,
        });
        let refill = now_ms.saturating_sub(had.at_ms).saturating_mul(self.rate);
        let milli = had.milli.saturating_add(refill).min(self.burst);
        let left = milli.checked_sub(MILLI)?;
        Some(Tokens {
            milli: left,
            at_ms: now_ms.max(had.at_ms),
        })
    }

    /// How long until an emptied bucket is full again: past it, an entry
    /// says no more than a missing one.
    fn refill_time(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.burst.div_ceil(self.rate) + 1000)
    }
}

/// The client's address without its port (`192.0.2.7`, `2001:db8::1`).
fn client_of(conn: ConnectionId) -> Option<String> {
    let peer = yell_plugin::connection_info(conn)?.peer;
    let address = match peer.rsplit_once(':') {
        Some((address, port)) if port.bytes().all(|b| b.is_ascii_digit()) => address,
        _ => &peer,
    };
    Some(
        address
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
    )
}

impl LinePlugin for RateLimit {
    fn new(config: &Config) -> Result<Self, String> {
        config.allow_only(&["rate", "burst", "bucket"])?;
        let rate: u64 = config.parse_or("rate", 10)?;
        let burst: u64 = config.parse_or("burst", 20)?;
        if rate == 0 || rate > 1_000_000 {
            return Err(format!(
                "config `rate`: {rate} is not 1 to 1000000 per second"
            ));
        }
        if burst == 0 || burst > 1_000_000_000 {
            return Err(format!("config `burst`: {burst} is not 1 to 1000000000"));
        }
        Ok(RateLimit {
            bucket: config.get("bucket").unwrap_or("ratelimit").to_string(),
            rate,
            burst: burst * MILLI,
            lines: Counter::define(
                "ratelimit_lines",
                "Lines the rate limiter passed or refused, by verdict.",
                &["verdict"],
            ),
        })
    }

    fn transform(&mut self, _line: &[u8], _reply: &mut Reply) -> Result<(), String> {
        Err("the rate limiter needs the line's connection".into())
    }

    fn transform_for(
        &mut self,
        conn: ConnectionId,
        line: &[u8],
        reply: &mut Reply,
    ) -> Result<(), String> {
        let client = client_of(conn).ok_or("the connection closed")?;
        let bucket = Bucket::open(&self.bucket)?;
        let now_ms = clock::now_ms();
        let taken = bucket.update(&client, |stored| {
            self.take(stored, now_ms).map(Tokens::text)
        })?;
        if taken.is_none() {
            self.lines.increment(&["limited"]);
            reply.push(b"ERR rate limited");
            return Ok(());
        }
        // Past the refill time the entry goes: a quiet client leaves
        // nothing behind.
        bucket.expire(&client, self.refill_time())?;
        self.lines.increment(&["passed"]);
        reply.push(line);
        Ok(())
    }
}

yell_plugin::export_plugin!(RateLimit);

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use yell_plugin::testing::{clock, metrics, state, TestHost};

    fn host(config: &[(&str, &str)]) -> TestHost<super::RateLimit> {
        state::reset();
        metrics::reset();
        state::grant_bucket("ratelimit");
        clock::set(1_000_000);
        TestHost::<super::RateLimit>::new(config).unwrap()
    }

    #[test]
    fn a_burst_passes_then_lines_wait_for_the_refill() {
        let mut host = host(&[("rate", "2"), ("burst", "3")]);
        for _ in 0..3 {
            assert_eq!(host.line(b"hello"), Ok(vec![b"hello".to_vec()]));
        }
        assert_eq!(host.line(b"hello"), Ok(vec![b"ERR rate limited".to_vec()]));
        // Two tokens a second: one after half a second, not before.
        clock::advance(Duration::from_millis(400));
        assert_eq!(host.line(b"x"), Ok(vec![b"ERR rate limited".to_vec()]));
        clock::advance(Duration::from_millis(100));
        assert_eq!(host.line(b"x"), Ok(vec![b"x".to_vec()]));
        assert_eq!(host.line(b"x"), Ok(vec![b"ERR rate limited".to_vec()]));
        assert_eq!(metrics::value("ratelimit_lines", &["passed"]), Some(4.0));
        assert_eq!(metrics::value("ratelimit_lines", &["limited"]), Some(3.0));
    }

    #[test]
    fn clients_have_buckets_of_their_own_shared_by_their_connections() {
        let mut first = host(&[("rate", "1"), ("burst", "1")]);
        first.set_peer("192.0.2.7:4000", "127.0.0.1:1234");
        assert_eq!(first.line(b"a"), Ok(vec![b"a".to_vec()]));
        assert_eq!(first.line(b"a"), Ok(vec![b"ERR rate limited".to_vec()]));
        // The same client on another connection (and instance): no token.
        let mut again =
            TestHost::<super::RateLimit>::new(&[("rate", "1"), ("burst", "1")]).unwrap();
        again.set_peer("192.0.2.7:5000", "127.0.0.1:1234");
        assert_eq!(again.line(b"b"), Ok(vec![b"ERR rate limited".to_vec()]));
        // Another client: a full bucket.
        let mut other =
            TestHost::<super::RateLimit>::new(&[("rate", "1"), ("burst", "1")]).unwrap();
        other.set_peer("[2001:db8::1]:4000", "[::1]:1234");
        assert_eq!(other.line(b"c"), Ok(vec![b"c".to_vec()]));
        assert!(state::value("ratelimit", "192.0.2.7").is_some());
        assert!(state::value("ratelimit", "2001:db8::1").is_some());
    }

    #[test]
    fn a_bucket_never_fills_past_its_size_and_a_clock_going_back_refills_nothing() {
        let mut host = host(&[("rate", "100"), ("burst", "2")]);
        clock::advance(Duration::from_secs(3600));
        assert_eq!(host.line(b"a"), Ok(vec![b"a".to_vec()]));
        assert_eq!(host.line(b"a"), Ok(vec![b"a".to_vec()]));
        assert_eq!(host.line(b"a"), Ok(vec![b"ERR rate limited".to_vec()]));
        clock::set(0);
        assert_eq!(host.line(b"a"), Ok(vec![b"ERR rate limited".to_vec()]));
    }

    #[test]
    fn an_ungranted_bucket_and_a_bad_configuration_are_refused() {
        let mut host = host(&[("bucket", "elsewhere")]);
        let refused = host.line(b"a").unwrap_err();
        assert!(refused.contains("access denied"), "{refused}");
        let bad = TestHost::<super::RateLimit>::new(&[("rate", "0")])
            .err()
            .unwrap();
        assert!(bad.contains("rate"), "{bad}");
    }
}
