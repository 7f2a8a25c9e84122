//! Every `yell:plugin/metrics` call, one command per line, for the tests
//! of plugin metrics. It imports nothing else, so the host calls it
//! synchronously (cut at the end of its slice and made again).
//!
//! Defined in `init`: the counter `probe_lines` (label `word`), the gauge
//! `probe_level` and the histogram `probe_size` (buckets 1, 10, 100). With
//! `lines_kind=gauge` in the configuration, `probe_lines` is defined as a
//! gauge instead (a kind the host may already know otherwise).
//!
//! - `count WORD`: adds 1 to `probe_lines{word=WORD}`: `counted`
//! - `spin N WORD`: adds 1 to `probe_lines{word=WORD}`, then spins N loop
//!   iterations (long enough to be cut and made again): `spun`
//! - `many N`: adds 1 to `probe_lines{word="many"}` N times: `counted N`
//! - `series N`: adds 1 to `probe_lines{word="sN"}` for N words: `counted N`
//! - `level X`: sets `probe_level` to X; `size X`: observes X in
//!   `probe_size`: `ok`
//! - `negative`: adds -1 to `probe_lines{word="negative"}` (recorded as
//!   nothing): `ok`
//! - `labels`: adds to `probe_lines` with no label value (a mistake: the
//!   call traps)
//! - `define NAME KIND`: defines a metric now (a refused one traps): `ok`

use yell_plugin::metrics::{Counter, Gauge, Histogram};
use yell_plugin::{Config, LinePlugin, Reply};

/// `probe_lines`, as whichever kind it was defined.
enum Lines {
    Counter(Counter),
    Gauge(Gauge),
}

impl Lines {
    fn add(&self, word: &str, amount: f64) {
        match self {
            Lines::Counter(counter) => counter.add(&[word], amount),
            Lines::Gauge(gauge) => gauge.add(&[word], amount),
        }
    }
}

struct Probe {
    lines: Lines,
    level: Gauge,
    size: Histogram,
}

impl LinePlugin for Probe {
    fn new(config: &Config) -> Result<Self, String> {
        config.allow_only(&["lines_kind"])?;
        let help = "Lines the probe counted, by word.";
        let lines = match config.get("lines_kind").unwrap_or("counter") {
            "counter" => Lines::Counter(Counter::define("probe_lines", help, &["word"])),
            "gauge" => Lines::Gauge(Gauge::define("probe_lines", help, &["word"])),
            other => return Err(format!("lines_kind {other:?}: counter or gauge")),
        };
        Ok(Probe {
            lines,
            level: Gauge::define("probe_level", "The level last set.", &[]),
            size: Histogram::define("probe_size", "Sizes observed.", &[], &[1.0, 10.0, 100.0]),
        })
    }

    fn transform(&mut self, line: &[u8], reply: &mut Reply) -> Result<(), String> {
        let text = std::str::from_utf8(line).map_err(|_| "not UTF-8")?;
        let words: Vec<&str> = text.split(' ').collect();
        let number = |index: usize| -> Result<f64, String> {
            words
                .get(index)
                .and_then(|word| word.parse().ok())
                .ok_or_else(|| format!("{text}: a number expected"))
        };
        match words[0] {
            "count" => {
                self.lines.add(words.get(1).copied().unwrap_or(""), 1.0);
                reply.push("counted");
            }
            "spin" => {
                self.lines.add(words.get(2).copied().unwrap_or(""), 1.0);
                let mut spins = number(1)? as u64;
                let mut sink = 0u64;
                while spins > 0 {
                    sink = std::hint::black_box(sink.wrapping_mul(31).wrapping_add(spins));
                    spins -= 1;
                }
                std::hint::black_box(sink);
                reply.push("spun");
            }
            "many" => {
                let times = number(1)? as u64;
                for _ in 0..times {
                    self.lines.add("many", 1.0);
                }
                reply.push(format!("counted {times}"));
            }
            "series" => {
                let count = number(1)? as u64;
                for word in 0..count {
                    self.lines.add(&format!("s{word}"), 1.0);
                }
                reply.push(format!("counted {count}"));
            }
            "level" => {
                self.level.set(&[], number(1)?);
                reply.push("ok");
            }
            "size" => {
                self.size.observe(&[], number(1)?);
                reply.push("ok");
            }
            "negative" => {
                self.lines.add("negative", -1.0);
                reply.push("ok");
            }
            "labels" => {
                if let Lines::Counter(counter) = &self.lines {
                    counter.add(&[], 1.0);
                }
                reply.push("not trapped");
            }
            "define" => {
                let name = words.get(1).copied().unwrap_or("");
                match words.get(2).copied() {
                    Some("gauge") => {
                        let _ = Gauge::define(name, "Defined on command.", &[]);
                    }
                    _ => {
                        let _ = Counter::define(name, "Defined on command.", &[]);
                    }
                }
                reply.push("ok");
            }
            _ => return Err(format!("{text}: no such command")),
        }
        Ok(())
    }
}

yell_plugin::export_plugin!(Probe);
