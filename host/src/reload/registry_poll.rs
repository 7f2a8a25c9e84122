//! `--oci-poll`: following plugins given by a registry tag. Every period
//! (jittered by up to a tenth, so a fleet started together does not poll
//! in step) each tag is looked up; when one names a component other than
//! the one serving, a reload is asked for, which pulls, checks and swaps
//! it like any other (a plugin whose tag did not move is kept as it is).
//! A lookup that fails keeps the plugin serving, warns, and counts as a
//! failed reload.
//!
//! Owns: [`poll_registry_tags`]. Uses: the reload queue, the registry.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use yell_runtime::digest_hex;

use super::live::ReloadCause;
use super::queue::Reloads;
use crate::oci::{is_reference, OciReference, Registry};

/// Starts polling the chain's tag references every `every`; does nothing
/// (but say so) when no plugin is given by tag.
pub fn poll_registry_tags(
    reloads: Arc<Reloads>,
    registry: Arc<Registry>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let tags: Vec<(usize, OciReference)> = reloads
        .live()
        .specs()
        .iter()
        .enumerate()
        .filter(|(_, spec)| is_reference(&spec.path))
        .filter_map(|(stage, spec)| {
            OciReference::parse(&spec.path.to_string_lossy())
                .ok()
                .filter(|reference| reference.digest().is_none())
                .map(|reference| (stage, reference))
        })
        .collect();
    if tags.is_empty() {
        tracing::warn!("--oci-poll: no plugin is given by a registry tag, so none is followed");
        return;
    }
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(jittered(every)) => {}
            }
            if moved(&reloads, &registry, &tags).await {
                // Errors are logged and counted by the reload; the old
                // plugins serve on.
                let _ = reloads.request(ReloadCause::TagMoved).await;
            }
        }
    });
}

/// Whether a tag names a component other than the one serving its stage.
async fn moved(reloads: &Reloads, registry: &Registry, tags: &[(usize, OciReference)]) -> bool {
    let serving: Vec<String> = reloads
        .live()
        .current()
        .stages()
        .iter()
        .map(|stage| format!("sha256:{}", digest_hex(stage.digest())))
        .collect();
    let mut any = false;
    for (stage, reference) in tags {
        match registry.current_layer(reference).await {
            Ok(layer) => any |= serving.get(*stage) != Some(&layer),
            Err(error) => {
                reloads.live().note_failed_reload();
                tracing::warn!(
                    "--oci-poll: {error:#}; generation {} keeps serving",
                    reloads.live().generation()
                );
            }
        }
    }
    any
}

/// `every`, give or take up to a tenth.
fn jittered(every: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    // A number in [-1, 1).
    let unit = (random % 2001) as f64 / 1000.0 - 1.0;
    every.mul_f64(1.0 + unit / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_are_jittered_by_up_to_a_tenth() {
        let every = Duration::from_secs(30);
        let waits: Vec<Duration> = (0..200).map(|_| jittered(every)).collect();
        assert!(waits
            .iter()
            .all(|wait| *wait >= every.mul_f64(0.9) && *wait <= every.mul_f64(1.1)));
        assert!(waits.iter().any(|wait| *wait != waits[0]), "never jittered");
    }
}
