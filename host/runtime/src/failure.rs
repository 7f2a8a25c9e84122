//! Why a plugin call gave no answer, and the kinds of failure counted apart
//! in the stats and metrics.
//!
//! Owns: [`PluginError`] and [`FailureKind`]. Uses: the deadline and memory errors.

use std::sync::Arc;

use wasmtime::Trap;

use crate::deadline::DeadlineExceeded;
use crate::memory::MemoryBudgetExhausted;

/// The kinds of plugin failure, counted apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The call ran past its deadline (running time or wall-clock ceiling).
    Deadline,
    /// The guest trapped.
    Trap,
    /// The reply was larger than `--max-reply`.
    ReplyTooLarge,
    /// No instance could be made for the call.
    Start,
    /// The plugin refused the call itself, or answered something malformed.
    Refused,
    /// The call was refused a plugin instance: the admission limits
    /// (instances per plugin, memory of all instances) were reached.
    Overloaded,
}

impl FailureKind {
    /// Every kind, in the order stats keep them.
    pub const ALL: [FailureKind; 6] = [
        FailureKind::Deadline,
        FailureKind::Trap,
        FailureKind::ReplyTooLarge,
        FailureKind::Start,
        FailureKind::Refused,
        FailureKind::Overloaded,
    ];

    /// A short stable name, for logs, the summary and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Deadline => "deadline",
            FailureKind::Trap => "trap",
            FailureKind::ReplyTooLarge => "reply_too_large",
            FailureKind::Start => "start",
            FailureKind::Refused => "refused",
            FailureKind::Overloaded => "overloaded",
        }
    }

    /// Its position in [`FailureKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Why a call into a plugin gave no answer. Its `Display` is what the client
/// sees after `ERR plugin: `, so it says what happened without internals.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The call ran past its deadline and was stopped.
    #[error("{0}")]
    Deadline(DeadlineExceeded),
    /// The guest trapped (a panic, an out-of-bounds access, a stack overflow,
    /// the memory cap...).
    #[error("trapped: {0}")]
    Trapped(String),
    /// The plugin panicked (it said so before trapping); where and why are
    /// in the host's log, not for the client.
    #[error("panicked")]
    Panicked,
    /// No instance could be made to run the call.
    #[error("cannot start an instance: {0}")]
    Start(String),
    /// The reply was larger than the reply size limit.
    #[error("reply too large: {bytes} bytes, the limit is {max}")]
    ReplyTooLarge {
        /// The reply's size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The plugin itself answered with an error.
    #[error("{0}")]
    Refused(String),
    /// The admission limits refused the call an instance.
    #[error("overloaded: {0}")]
    Overloaded(String),
    /// One plugin of a chain failed.
    #[error("{stage}: {error}")]
    InStage {
        /// The failed plugin's name.
        stage: Arc<str>,
        /// How it failed.
        error: Box<PluginError>,
    },
}

impl PluginError {
    /// The failure of a call that reached the guest.
    pub fn from_call(error: wasmtime::Error) -> Self {
        // The wasm backtrace is for the operator, not the client.
        tracing::debug!("plugin call failed: {error:#}");
        if let Some(deadline) = error.downcast_ref::<DeadlineExceeded>() {
            return PluginError::Deadline(*deadline);
        }
        if let Some(exhausted) = error.downcast_ref::<MemoryBudgetExhausted>() {
            return PluginError::Overloaded(exhausted.to_string());
        }
        if let Some(slots) = error.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
            return PluginError::Overloaded(slots.to_string());
        }
        match error.downcast_ref::<Trap>() {
            Some(trap) => PluginError::Trapped(trap.to_string()),
            // Errors raised by the host on the guest's behalf, such as the
            // memory cap refusing to grow a memory: the root cause says it.
            None => PluginError::Trapped(error.root_cause().to_string()),
        }
    }

    /// A call that trapped after the plugin said it panicked (its message
    /// is in the plugin's log).
    pub fn panicked(error: wasmtime::Error) -> Self {
        // The wasm backtrace is for the operator, not the client.
        tracing::debug!("plugin call failed: {error:#}");
        PluginError::Panicked
    }

    /// The kind of failure, for logs and stats.
    pub fn kind(&self) -> FailureKind {
        match self {
            PluginError::Deadline(_) => FailureKind::Deadline,
            PluginError::Trapped(_) | PluginError::Panicked => FailureKind::Trap,
            PluginError::Start(_) => FailureKind::Start,
            PluginError::ReplyTooLarge { .. } => FailureKind::ReplyTooLarge,
            PluginError::Refused(_) => FailureKind::Refused,
            PluginError::Overloaded(_) => FailureKind::Overloaded,
            PluginError::InStage { error, .. } => error.kind(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_in_their_own_order() {
        for (index, kind) in FailureKind::ALL.iter().enumerate() {
            assert_eq!(kind.index(), index);
        }
    }

    #[test]
    fn a_stage_failure_has_the_kind_of_its_cause() {
        let error = PluginError::InStage {
            stage: "rot13".into(),
            error: Box::new(PluginError::Overloaded("busy".into())),
        };
        assert_eq!(error.kind(), FailureKind::Overloaded);
        assert_eq!(error.to_string(), "rot13: overloaded: busy");
    }
}
