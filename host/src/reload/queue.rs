//! The one way to ask for a reload, whoever asks (the file watch, `SIGHUP`,
//! `POST /reload`): requests that arrive together share one reload, and a
//! request made while a reload runs is answered by the next one, which
//! starts as soon as that one ends. So any number of concurrent requests
//! cost one or two reloads, none is lost, and each caller's answer comes
//! from a reload that read the files after it asked.
//!
//! "Together" means within [`GATHER`] of the first: a burst of requests
//! (twenty scripts, a deployment tool retrying) is spread over a few
//! milliseconds, about as long as a reload from the compile cache takes.
//! File changes are gathered by the watch itself, so they start at once.
//!
//! Owns: [`Reloads`], the coalescing queue. Uses: the live pipeline.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::live::{LivePipeline, ReloadCause, Reloaded};

/// Why a reload failed; shared by every request it answered.
#[derive(Debug, Clone)]
pub struct ReloadFailed(Arc<anyhow::Error>);

impl std::fmt::Display for ReloadFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for ReloadFailed {}

type Outcome = Result<Reloaded, ReloadFailed>;

/// How long a reload asked for by a command or signal waits for others
/// asked for with it.
pub const GATHER: Duration = Duration::from_millis(20);

/// Requests waiting for the next reload.
struct Waiting {
    cause: ReloadCause,
    callers: Vec<oneshot::Sender<Outcome>>,
}

#[derive(Default)]
struct State {
    /// A reload is running (its task takes `next` when it ends).
    running: bool,
    next: Option<Waiting>,
}

/// Reloads of one [`LivePipeline`], coalesced.
pub struct Reloads {
    live: Arc<LivePipeline>,
    state: Mutex<State>,
}

impl Reloads {
    pub fn new(live: Arc<LivePipeline>) -> Arc<Reloads> {
        Arc::new(Reloads {
            live,
            state: Mutex::new(State::default()),
        })
    }

    /// The pipeline these reloads replace.
    pub fn live(&self) -> &Arc<LivePipeline> {
        &self.live
    }

    /// Asks for a reload and waits for its outcome. The reload goes on if
    /// the caller stops waiting.
    pub async fn request(self: &Arc<Self>, cause: ReloadCause) -> Outcome {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut state = self.state.lock().expect("reload queue lock");
            match &mut state.next {
                Some(waiting) => {
                    waiting.cause = stronger(waiting.cause, cause);
                    waiting.callers.push(answer);
                }
                None => {
                    state.next = Some(Waiting {
                        cause,
                        callers: vec![answer],
                    })
                }
            }
            !std::mem::replace(&mut state.running, true)
        };
        if start {
            tokio::spawn(self.clone().run_waiting());
        }
        answered.await.unwrap_or_else(|_| {
            Err(ReloadFailed(Arc::new(anyhow::anyhow!(
                "the reload ended without an answer"
            ))))
        })
    }

    /// Runs reloads while requests are waiting.
    async fn run_waiting(self: Arc<Self>) {
        loop {
            let gather = {
                let state = self.state.lock().expect("reload queue lock");
                state
                    .next
                    .as_ref()
                    .is_some_and(|waiting| waiting.cause != ReloadCause::FileChanged)
            };
            if gather {
                tokio::time::sleep(GATHER).await;
            }
            let waiting = {
                let mut state = self.state.lock().expect("reload queue lock");
                match state.next.take() {
                    Some(waiting) => waiting,
                    None => {
                        state.running = false;
                        return;
                    }
                }
            };
            let live = self.live.clone();
            let cause = waiting.cause;
            // Compiling blocks: off the async workers.
            let outcome = tokio::task::spawn_blocking(move || live.reload(cause))
                .await
                .unwrap_or_else(|panic| {
                    self.live.note_failed_reload();
                    tracing::error!("the reload panicked: {panic}; the serving generation stays");
                    Err(anyhow::anyhow!("the reload panicked: {panic}"))
                })
                .map_err(|error| ReloadFailed(Arc::new(error)));
            for caller in waiting.callers {
                let _ = caller.send(outcome.clone());
            }
        }
    }
}

/// The cause of a reload serving requests of both causes: one that reads
/// every file again wins over one that keeps unchanged plugins.
fn stronger(a: ReloadCause, b: ReloadCause) -> ReloadCause {
    if b == ReloadCause::FileChanged {
        a
    } else {
        b
    }
}
