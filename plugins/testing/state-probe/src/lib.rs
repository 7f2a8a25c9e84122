//! Every `wasi:keyvalue` call, one command per line, for the tests of the
//! host's state backends. Words are separated by one space; a value is
//! the rest of the line.
//!
//! - `open B`: `ok`, or the error
//! - `get B K`: the value, or `none`
//! - `set B K VALUE`, `del B K`: `ok`
//! - `exists B K`: `true` or `false`
//! - `page B [CURSOR]`: `N keys, next CURSOR|end` (one `list-keys` page)
//! - `keys B`: every key, page after page, joined by `,`
//! - `incr B K N`: the new value
//! - `cas B K EXPECTED NEW`: one compare-and-swap against EXPECTED (`-`
//!   for unset): `swapped` or `failed, now VALUE|none`
//! - `add B K N`: a read-modify-write of K by N through compare-and-swap
//!   retries: the new value
//! - `getmany B K1,K2,...`: `K=V` or `K=none`, joined by `,`
//! - `setmany B K1=V1,K2=V2,...`, `delmany B K1,K2,...`: `ok`
//! - `ttl B K MS VALUE`: sets K to VALUE for MS milliseconds: `ok`
//! - `expire B K MS`: `true`, or `false` when K is not set
//!
//! A failed state call answers `error: MESSAGE` (a reply line, not a
//! refused line, so the test reads it like any other).

use yell_plugin::state::{Bucket, StateError};
use yell_plugin::{Config, LinePlugin, Reply};

struct Probe;

impl LinePlugin for Probe {
    fn new(config: &Config) -> Result<Self, String> {
        config.allow_only(&[])?;
        Ok(Probe)
    }

    fn transform(&mut self, line: &[u8], reply: &mut Reply) -> Result<(), String> {
        let line = String::from_utf8_lossy(line);
        let answer = run(&line).unwrap_or_else(|error| format!("error: {error}"));
        reply.push(answer);
        Ok(())
    }
}

fn run(line: &str) -> Result<String, StateError> {
    let mut words = line.splitn(3, ' ');
    let command = words.next().unwrap_or("");
    let bucket = Bucket::open(words.next().unwrap_or(""))?;
    let rest = words.next().unwrap_or("");
    let (key, value) = rest.split_once(' ').unwrap_or((rest, ""));
    Ok(match command {
        "open" => "ok".into(),
        "get" => match bucket.get(key)? {
            Some(value) => String::from_utf8_lossy(&value).into_owned(),
            None => "none".into(),
        },
        "set" => {
            bucket.set(key, value.as_bytes())?;
            "ok".into()
        }
        "del" => {
            bucket.delete(key)?;
            "ok".into()
        }
        "exists" => bucket.exists(key)?.to_string(),
        "page" => {
            let cursor = (!rest.is_empty()).then_some(rest);
            let (keys, next) = bucket.list_keys(cursor)?;
            format!(
                "{} keys, next {}",
                keys.len(),
                next.as_deref().unwrap_or("end")
            )
        }
        "keys" => bucket.keys()?.join(","),
        "incr" => bucket.increment(key, number(value)?)?.to_string(),
        "cas" => {
            let (expected, new) = value.split_once(' ').unwrap_or((value, ""));
            let expected = (expected != "-").then(|| expected.as_bytes().to_vec());
            let mut first = true;
            let mut seen = None;
            let written = bucket.update(key, |current| {
                // One try only: a second call means the first swap failed.
                if !first {
                    seen = Some(current.map(<[u8]>::to_vec));
                    return None;
                }
                first = false;
                if current.map(<[u8]>::to_vec) != expected {
                    seen = Some(current.map(<[u8]>::to_vec));
                    return None;
                }
                Some(new.as_bytes().to_vec())
            })?;
            match (written, seen) {
                (Some(_), _) => "swapped".into(),
                (None, Some(Some(now))) => format!("failed, now {}", String::from_utf8_lossy(&now)),
                (None, _) => "failed, now none".into(),
            }
        }
        "add" => {
            let delta = number(value)?;
            let mut bad = None;
            let written = bucket.update(key, |current| {
                let current: i64 = match current.map(|bytes| String::from_utf8_lossy(bytes).parse())
                {
                    None => 0,
                    Some(Ok(n)) => n,
                    Some(Err(_)) => {
                        bad = Some("not a number");
                        return None;
                    }
                };
                Some((current + delta).to_string().into_bytes())
            })?;
            match (written, bad) {
                (Some(value), _) => String::from_utf8_lossy(&value).into_owned(),
                (None, why) => format!("error: {}", why.unwrap_or("unchanged")),
            }
        }
        "ttl" => {
            let (ms, value) = value.split_once(' ').unwrap_or((value, ""));
            let ms = number(ms)? as u64;
            bucket.set_with_ttl(key, value.as_bytes(), std::time::Duration::from_millis(ms))?;
            "ok".into()
        }
        "expire" => {
            let ms = number(value)? as u64;
            bucket
                .expire(key, std::time::Duration::from_millis(ms))?
                .to_string()
        }
        "getmany" => {
            let keys: Vec<&str> = rest.split(',').collect();
            let values = bucket.get_many(&keys)?;
            keys.iter()
                .zip(values)
                .map(|(key, value)| match value {
                    Some(value) => format!("{key}={}", String::from_utf8_lossy(&value)),
                    None => format!("{key}=none"),
                })
                .collect::<Vec<_>>()
                .join(",")
        }
        "setmany" => {
            let entries: Vec<(&str, &[u8])> = rest
                .split(',')
                .map(|pair| {
                    let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                    (key, value.as_bytes())
                })
                .collect();
            bucket.set_many(&entries)?;
            "ok".into()
        }
        "delmany" => {
            bucket.delete_many(&rest.split(',').collect::<Vec<_>>())?;
            "ok".into()
        }
        other => format!("error: unknown command {other:?}"),
    })
}

fn number(text: &str) -> Result<i64, StateError> {
    text.trim()
        .parse()
        .map_err(|_| StateError::Other(format!("{text:?} is not a number")))
}

yell_plugin::export_plugin!(Probe);
