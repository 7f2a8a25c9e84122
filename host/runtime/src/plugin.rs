//! A loaded plugin: what the embedder calls. Each call checks an instance
//! out of the plugin's pool, runs it (see `call`: synchronously, or inline
//! and then in the slow lane), gives the instance back if it succeeded, and
//! holds the answer to the reply contract before anyone sees it.
//!
//! Owns: [`Plugin`]. Uses: the pool, the call, the reply contract, the
//! plugin's usage figures and its provenance.

use std::sync::Arc;

use bytes::Bytes;

use crate::cache::Digest256;
use crate::call::{self, Synchronous, SynchronousPause};
use crate::failure::PluginError;
use crate::instance::{Export, Output};
use crate::pool::{Checkout, InstancePool};
use crate::provenance::Provenance;
use crate::reply::{CheckedReply, ReplyContract, Words};
use crate::slow_lane::{SlowLane, Started};
use crate::usage::PluginUsage;

/// A loaded plugin, ready to be called from any thread.
pub struct Plugin {
    pub(crate) name: Arc<str>,
    /// Where it was loaded from, as logs name it (the file's path).
    pub(crate) origin: String,
    /// SHA-256 of the file's content when it was loaded.
    pub(crate) digest: Digest256,
    /// How that content was vouched for.
    pub(crate) provenance: Provenance,
    /// Its calls, lines and failures (shared with its other generations).
    pub(crate) usage: Arc<PluginUsage>,
    pub(crate) pool: Arc<InstancePool>,
    /// What its replies are held to.
    pub(crate) contract: ReplyContract,
    pub(crate) slow_lane: SlowLane,
    /// When its calls may be synchronous again after one was cut.
    pub(crate) pause: SynchronousPause,
    /// The most lines one call may take: set for a plugin that waits on
    /// the embedder's host imports (a state store) in each line, so that a
    /// pipelined batch's waits add up to well within the call's wall-clock
    /// ceiling.
    pub(crate) max_batch_lines: Option<usize>,
}

/// A call moved to the slow lane whose thread went away without answering
/// (it panicked, or no thread could be started).
fn ended_without_an_answer() -> PluginError {
    PluginError::Trapped("the call ended without an answer".into())
}

impl Plugin {
    /// The most lines one call may take (`None`: every line read).
    pub fn max_batch_lines(&self) -> Option<usize> {
        self.max_batch_lines
    }

    /// The plugin's name in logs: its file name without extension.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it was loaded from, as logs name it: the file's path, or a
    /// registry reference.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// SHA-256 of the file it was loaded from: a file with the same digest
    /// would load the same plugin.
    pub fn digest(&self) -> &Digest256 {
        &self.digest
    }

    /// How its content was vouched for (pin, signature).
    pub fn provenance(&self) -> &Provenance {
        &self.provenance
    }

    /// Transforms a batch of `lines` '\n'-ended lines; the reply has passed
    /// the contract against them.
    pub async fn transform_batch(
        &self,
        conn: u64,
        input: Bytes,
        lines: usize,
    ) -> Result<CheckedReply, PluginError> {
        let result = async {
            let Output::Batch(reply) = self.call(Export::Batch, conn, input).await? else {
                unreachable!("a batch call answers a batch reply")
            };
            let reply = self.contract.batch(reply, lines)?;
            self.usage.answered(reply.ends().len());
            Ok(reply)
        }
        .await;
        self.counted(result)
    }

    /// Transforms a raw chunk (no framing).
    pub async fn transform_raw(&self, conn: u64, chunk: Bytes) -> Result<Vec<u8>, PluginError> {
        let result = async {
            let Output::Raw(reply) = self.call(Export::Raw, conn, chunk).await? else {
                unreachable!("a raw call answers a raw reply")
            };
            let reply = reply.map_err(PluginError::Refused)?;
            self.contract.raw(&reply)?;
            Ok(reply)
        }
        .await;
        self.counted(result)
    }

    /// Asks for the greeting of a new connection: whole lines, or nothing.
    pub async fn connection_opened(&self, conn: u64) -> Result<Vec<u8>, PluginError> {
        let result = self.words(Export::Opened, conn, Words::Greeting).await;
        self.counted(result)
    }

    /// Tells the plugin a connection ended; returns its last words (whole
    /// lines, or nothing).
    pub async fn connection_closed(&self, conn: u64) -> Result<Vec<u8>, PluginError> {
        let result = self.words(Export::Closed, conn, Words::LastWords).await;
        self.counted(result)
    }

    async fn words(&self, export: Export, conn: u64, which: Words) -> Result<Vec<u8>, PluginError> {
        let Output::Bytes(words) = self.call(export, conn, Bytes::new()).await? else {
            unreachable!("greetings and last words are bytes")
        };
        self.contract.words(&words, which)?;
        Ok(words)
    }

    /// Counts a failed call in the plugin's figures.
    fn counted<T>(&self, result: Result<T, PluginError>) -> Result<T, PluginError> {
        if let Err(error) = &result {
            self.usage.failed(error.kind());
        }
        result
    }

    /// Runs one call on an instance of the pool: synchronously if the
    /// plugin can be called so, otherwise (or after a cut) inline first and
    /// in the slow lane if it outlives its slice (see [`call`]). An instance
    /// whose call failed is thrown away, since a trap may have left it in
    /// any state.
    async fn call(&self, export: Export, conn: u64, input: Bytes) -> Result<Output, PluginError> {
        let started = self.usage.call_starts();
        let result = self.run_call(export, conn, input).await;
        self.usage.called(started);
        result
    }

    async fn run_call(
        &self,
        export: Export,
        conn: u64,
        input: Bytes,
    ) -> Result<Output, PluginError> {
        let done = match self.pool.checkout(conn)? {
            Checkout::Idle(instance) if instance.runs_synchronously() && self.pause.allows() => {
                match call::run_synchronously(instance, export, conn, &input, self.pool.ticks()) {
                    Synchronous::Done(done) => done,
                    Synchronous::Cut(place) => {
                        // Again from the start, all of it in the slow lane
                        // (it is known to be slow), on another instance in
                        // the cut one's place.
                        self.pause.cut();
                        let checkout = self.pool.checkout_replacing(place);
                        self.slow_lane
                            .hand_over(call::run(
                                checkout,
                                export,
                                conn,
                                input,
                                self.pool.ticks().clone(),
                            ))
                            .await
                            .map_err(|_| ended_without_an_answer())?
                    }
                }
            }
            checkout => match self.slow_lane.start(call::run(
                checkout,
                export,
                conn,
                input,
                self.pool.ticks().clone(),
            )) {
                Started::Done(done) => done,
                Started::Moved(done) => done.await.map_err(|_| ended_without_an_answer())?,
            },
        };
        self.finished(conn, export, done)
    }

    /// Gives a finished call's instance back, if it has one, and says how
    /// the call went.
    fn finished(&self, conn: u64, export: Export, done: call::Done) -> Result<Output, PluginError> {
        if let Some(instance) = done.instance {
            self.pool.give_back(conn, export, instance);
        }
        done.result
    }

    /// How many idle instances are pooled now.
    pub(crate) fn idle_instances(&self) -> usize {
        self.pool.idle_count()
    }

    /// How many instances are alive now, busy or idle.
    pub(crate) fn live_instances(&self) -> usize {
        self.pool.live_count()
    }
}
