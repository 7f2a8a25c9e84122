//! What a plugin failure does to a connection: the one place that decides
//! (`--on-plugin-error`). The connection carries the decision out; it does
//! not make it.
//!
//! Owns: [`ErrorPolicy`]. Uses: the runtime's failure and error-line types.

use yell_runtime::{push_error_line, write_error_text, PluginError};

/// What to do when the plugin fails on a batch (trap, deadline...) or
/// refuses a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorPolicy {
    /// Answer with an `ERR plugin: ...` line and go on with the next lines.
    #[default]
    Error,
    /// Answer with an `ERR plugin: ...` line and close the connection.
    Close,
    /// Fail open: answer with the input unchanged, as if there were no plugin.
    Pass,
}

/// What the connection does after a failure was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFailure {
    /// Go on reading.
    GoOn,
    /// Close the connection (its answer is written first).
    Close,
}

impl ErrorPolicy {
    /// Answers a whole call that failed on `input` (a batch of lines, a raw
    /// chunk, or nothing for a greeting or last words) into `out`.
    pub fn answer_failed_call(
        self,
        error: &PluginError,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> AfterFailure {
        match self {
            ErrorPolicy::Pass => {
                out.extend_from_slice(input);
                AfterFailure::GoOn
            }
            ErrorPolicy::Error => {
                push_error_line(out, &format!("plugin: {error}"));
                AfterFailure::GoOn
            }
            ErrorPolicy::Close => {
                push_error_line(out, &format!("plugin: {error}"));
                AfterFailure::Close
            }
        }
    }

    /// Answers one line the plugin failed on, given its message and the
    /// input line (without its line ending, which the framer adds).
    pub fn answer_failed_line(self, message: &str, line: &[u8], out: &mut Vec<u8>) {
        match self {
            ErrorPolicy::Pass => out.extend_from_slice(line),
            ErrorPolicy::Error | ErrorPolicy::Close => {
                write_error_text(out, &format!("plugin: {message}"))
            }
        }
    }

    /// Whether the lines after a failed line of a batch are left unanswered
    /// and the connection closed.
    pub fn stops_at_failed_line(self) -> bool {
        self == ErrorPolicy::Close
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_call_is_answered_by_the_policy() {
        let error = PluginError::Refused("no".into());
        let answer = |policy: ErrorPolicy| {
            let mut out = Vec::new();
            let after = policy.answer_failed_call(&error, b"a\nb\n", &mut out);
            (String::from_utf8(out).unwrap(), after)
        };
        assert_eq!(
            answer(ErrorPolicy::Error),
            ("ERR plugin: no\n".into(), AfterFailure::GoOn)
        );
        assert_eq!(
            answer(ErrorPolicy::Close),
            ("ERR plugin: no\n".into(), AfterFailure::Close)
        );
        assert_eq!(
            answer(ErrorPolicy::Pass),
            ("a\nb\n".into(), AfterFailure::GoOn)
        );
    }

    #[test]
    fn a_failed_line_is_answered_by_the_policy() {
        let answer = |policy: ErrorPolicy| {
            let mut out = Vec::new();
            policy.answer_failed_line("bad\nline", b"abc", &mut out);
            String::from_utf8(out).unwrap()
        };
        assert_eq!(answer(ErrorPolicy::Error), "ERR plugin: bad line");
        assert_eq!(answer(ErrorPolicy::Close), "ERR plugin: bad line");
        assert_eq!(answer(ErrorPolicy::Pass), "abc");
        assert!(ErrorPolicy::Close.stops_at_failed_line());
        assert!(!ErrorPolicy::Pass.stops_at_failed_line());
    }
}
