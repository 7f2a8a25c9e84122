//! Micro-costs of the data path: framing a read buffer into a batch and one
//! plugin call on a batch, per line, at several batch sizes. Uses the real
//! uppercase, reverse and counter components (`just build-plugins` first).

use std::future::Future;
use std::path::Path;
use std::task::{Context, Poll, Waker};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use yell_runtime::{block_on, LineFramer, PluginLimits, PluginRuntime, PluginSpec, TrustPolicy};

/// Where `just build-plugins` puts the components.
const BUILT_PLUGIN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/plugins");

const BATCH_SIZES: [usize; 4] = [1, 16, 64, 1024];

fn lines(count: usize) -> Vec<u8> {
    b"hello world\n".repeat(count)
}

fn framing(c: &mut Criterion) {
    let framer = LineFramer::new(64 * 1024);
    let mut group = c.benchmark_group("framing");
    for size in BATCH_SIZES {
        let buffer = lines(size);
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &buffer, |b, buffer| {
            b.iter(|| framer.next_batch(buffer, false).unwrap().unwrap().lines)
        });
    }
    group.finish();
}

fn plugin_call(c: &mut Criterion) {
    let runtime =
        PluginRuntime::new(PluginLimits::default(), None, TrustPolicy::default()).unwrap();
    // The uppercase at every batch size; at batch 64, plugins written as
    // ordinary per-line functions that change the line's length (reverse)
    // or add to it (counter): the SDK's general path.
    for (name, sizes) in [
        ("uppercase", &BATCH_SIZES[..]),
        ("reverse", &[64][..]),
        ("counter", &[64][..]),
    ] {
        let path = Path::new(BUILT_PLUGIN_DIR).join(format!("{name}.wasm"));
        assert!(path.is_file(), "run `just build-plugins` first");
        let plugin = runtime.load(&PluginSpec::new(path)).unwrap();
        let mut group = c.benchmark_group(format!("{name}_transform_batch"));
        for &size in sizes {
            let input = lines(size);
            group.throughput(Throughput::Elements(size as u64));
            group.bench_with_input(BenchmarkId::from_parameter(size), &input, |b, input| {
                let input = bytes::Bytes::from(input.clone());
                b.iter(|| {
                    as_on_the_event_loop(plugin.transform_batch(1, input.clone(), size))
                        .unwrap()
                        .output()
                        .len()
                })
            });
        }
        group.finish();
    }
}

/// Runs a call the way a connection task does: polled on this thread, where
/// it finishes unless it outlives its inline slice.
fn as_on_the_event_loop<F: Future>(call: F) -> F::Output {
    let mut call = std::pin::pin!(call);
    match call.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => block_on(call),
    }
}

criterion_group!(benches, framing, plugin_call);
criterion_main!(benches);
