//! Benchmarks that need the real server: a release `yell-host` (the one
//! `cargo bench` builds) under load from this process. Each scenario is
//! the one the integration suite checks, with longer phases and its
//! figures printed: `cargo bench --bench scenarios -- NAME`, NAME being
//! `isolation` (`just bench-isolation`) or `swap` (`just bench-swap`).
//!
//! The scenarios are the suite's own code, compiled here without its
//! tests: one definition of each, checked by the suite on every run.

#[allow(dead_code, unused_imports)] // what the suite uses and the benches do not
#[path = "../../tests/integration/harness/mod.rs"]
mod harness;
#[allow(dead_code, unused_imports)] // what the suite uses and the benches do not
#[path = "../../tests/integration/isolation.rs"]
mod isolation;
#[allow(dead_code, unused_imports)] // what the suite uses and the benches do not
#[path = "../../tests/integration/live_swap.rs"]
mod live_swap;

use std::process::ExitCode;

const SCENARIOS: [(&str, fn()); 2] = [
    ("isolation", isolation::benchmark),
    ("swap", live_swap::benchmark),
];

fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; the names are the other arguments.
    let chosen: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    if let Some(unknown) = chosen
        .iter()
        .find(|name| !SCENARIOS.iter().any(|(known, _)| known == name))
    {
        let known: Vec<&str> = SCENARIOS.iter().map(|(name, _)| *name).collect();
        eprintln!("no scenario {unknown:?}: the scenarios are {known:?}");
        return ExitCode::FAILURE;
    }
    for (name, run) in SCENARIOS {
        if chosen.is_empty() || chosen.iter().any(|chosen| chosen == name) {
            run();
        }
    }
    ExitCode::SUCCESS
}
