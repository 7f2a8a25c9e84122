//! The floor under a plugin call: the same uppercase component called the
//! plainest ways wasmtime allows, on a store of its own, with no deadline
//! clock, no pool, no slow lane, at the batch sizes of `plugin_call`:
//! - `uppercase_sync_call_floor`: a synchronous call (no fiber);
//! - `uppercase_async_call_floor`: `call_async` polled once, as the host
//!   polls a call inline (a fiber per call, as wasmtime's async calls run).
//!
//! What `plugin_call` measures above the async floor is what the host's own
//! call machinery adds; the sync floor is how close a call can get.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, Engine, Store};

use std::future::Future;
use std::task::{Context, Poll, Waker};

mod bindings {
    wasmtime::component::bindgen!({ path: "../../wit", world: "plugin" });
}

mod async_bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "plugin",
        exports: { default: async },
    });
}

use bindings::yell::plugin::{connection, log, types};

/// The host side of the plugin's imports, doing nothing.
struct Quiet;

impl log::Host for Quiet {
    fn log(&mut self, _level: log::Level, _message: String) {}
    fn panicked(&mut self, _message: String) {}
}
impl types::Host for Quiet {}
impl connection::Host for Quiet {
    fn info(&mut self, _conn: u64) -> Option<connection::ConnectionInfo> {
        None
    }
}

/// The engine (set up as the host's: the code checks the epoch on loops
/// and calls), the uppercase component, and a store whose deadline never
/// comes.
fn setup() -> (Engine, Component, Store<Quiet>) {
    let mut config = Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config).unwrap();
    let component = Component::from_file(
        &engine,
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../target/plugins/uppercase.wasm"
        ),
    )
    .expect("run `just build-plugins` first");
    let mut store = Store::new(&engine, Quiet);
    store.set_epoch_deadline(u64::MAX / 2);
    (engine, component, store)
}

/// Benchmarks `call` (a batch in, the reply's length out) on batches of
/// every size, as group `name`.
fn per_batch_size(c: &mut Criterion, name: &str, mut call: impl FnMut(&[u8]) -> usize) {
    let mut group = c.benchmark_group(name);
    for size in [1usize, 16, 64, 1024] {
        let input = b"hello world\n".repeat(size);
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &input, |b, input| {
            b.iter(|| call(input))
        });
    }
    group.finish();
}

fn call_floor(c: &mut Criterion) {
    let (engine, component, mut store) = setup();
    let mut linker = Linker::new(&engine);
    bindings::Plugin::add_to_linker::<Quiet, HasSelf<Quiet>>(&mut linker, |state| state).unwrap();
    let plugin = bindings::Plugin::instantiate(&mut store, &component, &linker).unwrap();
    let transform = plugin.yell_plugin_transform();
    transform.call_init(&mut store, &[]).unwrap().unwrap();
    per_batch_size(c, "uppercase_sync_call_floor", |input| {
        transform
            .call_transform_batch(&mut store, 1, input)
            .unwrap()
            .output
            .len()
    });
}

impl async_bindings::yell::plugin::log::Host for Quiet {
    fn log(&mut self, _level: async_bindings::yell::plugin::log::Level, _message: String) {}
    fn panicked(&mut self, _message: String) {}
}
impl async_bindings::yell::plugin::types::Host for Quiet {}
impl async_bindings::yell::plugin::connection::Host for Quiet {
    fn info(
        &mut self,
        _conn: u64,
    ) -> Option<async_bindings::yell::plugin::connection::ConnectionInfo> {
        None
    }
}

/// Polls `call` once, as the host polls a call inline; it must be done.
fn inline<F: Future>(call: F) -> F::Output {
    let mut call = std::pin::pin!(call);
    match call.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the call yielded"),
    }
}

fn async_call_floor(c: &mut Criterion) {
    let (engine, component, mut store) = setup();
    let mut linker = Linker::new(&engine);
    async_bindings::Plugin::add_to_linker::<Quiet, HasSelf<Quiet>>(&mut linker, |state| state)
        .unwrap();
    let plugin = inline(async_bindings::Plugin::instantiate_async(
        &mut store, &component, &linker,
    ))
    .unwrap();
    let transform = plugin.yell_plugin_transform();
    inline(transform.call_init(&mut store, &[]))
        .unwrap()
        .unwrap();
    per_batch_size(c, "uppercase_async_call_floor", |input| {
        inline(transform.call_transform_batch(&mut store, 1, input))
            .unwrap()
            .output
            .len()
    });
}

criterion_group!(benches, call_floor, async_call_floor);
criterion_main!(benches);
