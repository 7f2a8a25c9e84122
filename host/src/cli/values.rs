//! Option values as people write them: sizes (`64KiB`), time limits
//! (`100ms`), and the named choices of `--framing`, `--isolation`,
//! `--on-plugin-error` and `--log-format`, each turned into the plain type
//! it configures.
//!
//! Owns: the value parsers and the clap forms of the choices. Uses: the
//! types they configure.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use yell_runtime::{Framing, Isolation};

use crate::error_policy::ErrorPolicy;
use crate::logging::LogFormat;

/// Parses a size in bytes as people write it: `65536`, `64k`, `64KiB`,
/// `1.5MiB`, `1g`, `2 GB`. Units are binary (`k` and `KB` mean 1024 bytes,
/// as for memory sizes everywhere else in this tool).
pub fn parse_byte_size(raw: &str) -> Result<usize> {
    let bytes = parse_size::Config::new()
        .with_binary()
        .parse_size(raw.trim())
        .with_context(|| format!("expected a size such as 65536, 64k or 1.5MiB, got {raw:?}"))?;
    let bytes = usize::try_from(bytes).with_context(|| format!("size {raw:?} is too large"))?;
    if bytes == 0 {
        bail!("size must be more than zero");
    }
    Ok(bytes)
}

/// Parses a time limit (`100ms`, `2s`), which must be more than zero.
pub fn parse_time_limit(raw: &str) -> Result<Duration> {
    let limit = humantime::parse_duration(raw.trim())
        .with_context(|| format!("expected a time such as 100ms or 2s, got {raw:?}"))?;
    if limit.is_zero() {
        bail!("a time limit must be more than zero");
    }
    Ok(limit)
}

/// `--framing`: how bytes are cut up for the plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FramingArg {
    /// Lines ended by '\n' (or "\r\n"), handed over in batches.
    Lines,
    /// No framing: each chunk read is handed over as it came and the reply
    /// written as it is returned (the original asyncio tutorial's behaviour).
    Raw,
}

impl From<FramingArg> for Framing {
    fn from(arg: FramingArg) -> Framing {
        match arg {
            FramingArg::Lines => Framing::Lines,
            FramingArg::Raw => Framing::Raw,
        }
    }
}

/// `--isolation`: how plugin instances are shared between connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum IsolationArg {
    /// Instances are pooled and serve any connection, one call at a time:
    /// the fastest, and a plugin's state may carry one client's lines into
    /// another's replies.
    #[default]
    Pooled,
    /// An instance belongs to one connection for its life: per-connection
    /// state is exact and nothing crosses between clients. Each open
    /// connection holds an instance (see `--max-instances`).
    Connection,
    /// A fresh instance for every call: a plugin keeps no state at all.
    Call,
}

impl From<IsolationArg> for Isolation {
    fn from(arg: IsolationArg) -> Isolation {
        match arg {
            IsolationArg::Pooled => Isolation::Pooled,
            IsolationArg::Connection => Isolation::Connection,
            IsolationArg::Call => Isolation::Call,
        }
    }
}

/// `--on-plugin-error`: what to do when the plugin fails on a batch (trap,
/// deadline...) or refuses a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ErrorPolicyArg {
    /// Answer with an `ERR plugin: ...` line and go on with the next lines.
    #[default]
    Error,
    /// Answer with an `ERR plugin: ...` line and close the connection.
    Close,
    /// Fail open: answer with the input unchanged, as if there were no plugin.
    Pass,
}

impl From<ErrorPolicyArg> for ErrorPolicy {
    fn from(arg: ErrorPolicyArg) -> ErrorPolicy {
        match arg {
            ErrorPolicyArg::Error => ErrorPolicy::Error,
            ErrorPolicyArg::Close => ErrorPolicy::Close,
            ErrorPolicyArg::Pass => ErrorPolicy::Pass,
        }
    }
}

/// `--log-format`: how log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormatArg {
    /// For people.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl From<LogFormatArg> for LogFormat {
    fn from(arg: LogFormatArg) -> LogFormat {
        match arg {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_byte_size("65536").unwrap(), 65536);
        assert_eq!(parse_byte_size("64KiB").unwrap(), 64 << 10);
        assert_eq!(parse_byte_size("64k").unwrap(), 64 << 10);
        assert_eq!(parse_byte_size("16M").unwrap(), 16 << 20);
        assert_eq!(parse_byte_size("1 GiB").unwrap(), 1 << 30);
        assert_eq!(parse_byte_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_byte_size("1.5MiB").unwrap(), 3 << 19);
        assert_eq!(parse_byte_size("2 MB").unwrap(), 2 << 20);
        assert!(parse_byte_size("0").is_err());
        assert!(parse_byte_size("12 parsecs").is_err());
        assert!(parse_byte_size("KiB").is_err());
    }

    #[test]
    fn time_limits() {
        assert_eq!(parse_time_limit("2s").unwrap(), Duration::from_secs(2));
        assert!(parse_time_limit("0s").is_err());
        assert!(parse_time_limit("soon").is_err());
    }
}
