//! The runtime on its own, with the fixture component of `fixtures/`: a
//! plugin loaded from bytes answers checked replies, each misbehaviour is
//! a typed failure, the load-time checks refuse what the server refuses,
//! a line session frames a conversation as a connection would, and host
//! imports added by the embedder leave plugins that do not use them alone.

use std::sync::Arc;

use yell_runtime::{
    block_on, digest, FailureKind, HostImport, LineFramer, LineSession, Pipeline, PluginLimits,
    PluginRuntime, PluginSource, PluginSpec, PluginState, TrustPolicy,
};

fn fixture() -> Vec<u8> {
    include!("fixtures/uppercase_component.rs")
}

fn runtime() -> PluginRuntime {
    PluginRuntime::new(PluginLimits::default(), None, TrustPolicy::default()).unwrap()
}

fn spec() -> PluginSpec {
    PluginSpec::new("upper.wasm".into())
}

fn chain(runtime: &PluginRuntime, stages: usize) -> Pipeline {
    let source = PluginSource::from_bytes("upper.wasm", "upper", fixture());
    let plugins = (0..stages)
        .map(|_| Arc::new(runtime.load_source(&source, &spec()).unwrap()))
        .collect();
    Pipeline::new(1, plugins)
}

#[test]
fn a_plugin_loaded_from_bytes_answers_a_checked_reply() {
    let runtime = runtime();
    let source = PluginSource::from_bytes("memory:upper", "upper", fixture());
    let plugin = runtime.load_source(&source, &spec()).unwrap();
    assert_eq!(plugin.name(), "upper");
    assert_eq!(plugin.origin(), "memory:upper");
    assert_eq!(plugin.digest(), &digest(&fixture()));
    let reply = block_on(plugin.transform_batch(1, "ab\n\ncd\n".into(), 3)).unwrap();
    assert_eq!(reply.output(), b"AB\n\nCD\n");
    assert_eq!(reply.ends(), [3, 4, 7]);
    assert!(reply.errors().is_empty());
    let raw = block_on(plugin.transform_raw(1, "raw bytes".into())).unwrap();
    assert_eq!(raw, b"RAW BYTES");
    assert_eq!(block_on(plugin.connection_opened(1)).unwrap(), b"");
    assert_eq!(block_on(plugin.connection_closed(1)).unwrap(), b"");
}

#[test]
fn a_trap_is_a_typed_failure_and_the_plugin_goes_on() {
    let runtime = runtime();
    let chain = chain(&runtime, 1);
    let trapped = block_on(chain.transform_batch(1, "!boom\n".into(), 1)).unwrap_err();
    assert_eq!(trapped.kind(), FailureKind::Trap);
    // The poisoned instance was thrown away; a fresh one answers.
    let reply = block_on(chain.transform_batch(1, "ok\n".into(), 1)).unwrap();
    assert_eq!(reply.output(), b"OK\n");
}

#[test]
fn a_reply_that_does_not_fit_its_batch_is_refused() {
    let runtime = runtime();
    let chain = chain(&runtime, 1);
    let malformed = block_on(chain.transform_batch(1, "?a\nb\n".into(), 2)).unwrap_err();
    assert_eq!(malformed.kind(), FailureKind::Refused);
    assert_eq!(
        malformed.to_string(),
        "malformed reply: 1 line ends for 2 lines"
    );
    // Held to the batch the caller framed, not to what the plugin says.
    let miscounted = block_on(chain.transform_batch(1, "a\nb\n".into(), 3)).unwrap_err();
    assert_eq!(miscounted.kind(), FailureKind::Refused);
}

#[test]
fn a_chain_stage_is_checked_and_named() {
    let runtime = runtime();
    let chain = chain(&runtime, 2);
    assert_eq!(chain.name(), "upper → upper");
    let reply = block_on(chain.transform_batch(1, "x\ny\n".into(), 2)).unwrap();
    assert_eq!(reply.output(), b"X\nY\n");
    let failed = block_on(chain.transform_batch(1, "!x\n".into(), 1)).unwrap_err();
    assert!(failed.to_string().starts_with("upper: trapped"), "{failed}");
    // The first stage's reply is checked before the second sees it.
    let malformed = block_on(chain.transform_batch(1, "?a\nb\n".into(), 2)).unwrap_err();
    assert_eq!(
        malformed.to_string(),
        "upper: malformed reply: 1 line ends for 2 lines"
    );
}

#[test]
fn a_reply_larger_than_the_limit_is_refused() {
    let limits = PluginLimits {
        reply_bytes: 4,
        ..PluginLimits::default()
    };
    let runtime = PluginRuntime::new(limits, None, TrustPolicy::default()).unwrap();
    let chain = chain(&runtime, 1);
    let too_large = block_on(chain.transform_batch(1, "abcdef\n".into(), 1)).unwrap_err();
    assert_eq!(too_large.kind(), FailureKind::ReplyTooLarge);
    // A raw chunk's reply is held to the same limit.
    let raw = block_on(chain.transform_raw(1, "abcdef".into())).unwrap_err();
    assert_eq!(raw.kind(), FailureKind::ReplyTooLarge);
    assert_eq!(
        block_on(chain.transform_raw(1, "ab".into())).unwrap(),
        b"AB"
    );
}

#[test]
fn the_load_time_checks_refuse_what_is_not_a_plugin() {
    let runtime = runtime();
    let refused = |bytes: Vec<u8>, pin: Option<[u8; 32]>| {
        let mut spec = spec();
        spec.sha256 = pin;
        let source = PluginSource::from_bytes("test.wasm", "test", bytes);
        format!("{:#}", runtime.load_source(&source, &spec).err().unwrap())
    };
    assert!(refused(b"hello".to_vec(), None).contains("is not a WebAssembly file"));
    let core = wat::parse_str("(module)").unwrap();
    assert!(refused(core, None).contains("is a core WebAssembly module, not a component"));
    let empty = wat::parse_str("(component)").unwrap();
    assert!(refused(empty, None).contains("is not a yell:plugin/plugin@0.1.0 component"));
    let other = refused(fixture(), Some([7; 32]));
    assert!(other.contains("--plugin-sha256 pins"), "{other}");
    let pinned = {
        let mut spec = spec();
        spec.sha256 = Some(digest(&fixture()));
        let source = PluginSource::from_bytes("test.wasm", "test", fixture());
        runtime.load_source(&source, &spec).unwrap()
    };
    assert!(pinned.provenance().pinned);
}

#[test]
fn a_session_answers_as_a_connection_would() {
    let runtime = runtime();
    let chain = chain(&runtime, 1);
    let mut session = LineSession::new(&chain, LineFramer::new(8), 1);
    let mut out = Vec::new();
    block_on(async {
        session.open(&mut out).await;
        session.feed(b"crlf\r\nplain\n", false, &mut out).await;
        session.feed(b"!trap\nlast", false, &mut out).await;
        session.feed(b"", true, &mut out).await;
        session.close(&mut out).await;
    });
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "CRLF\r\nPLAIN\nERR plugin: trapped: wasm trap: wasm `unreachable` instruction executed\nLAST"
    );
    let failures: Vec<String> = session
        .take_failures()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(failures.len(), 1);
    assert!(
        failures[0].starts_with("line 3: plugin: trapped"),
        "{failures:?}"
    );

    let mut session = LineSession::new(&chain, LineFramer::new(4), 2);
    let mut out = Vec::new();
    block_on(session.feed(b"ok\ntoo long\nnever\n", false, &mut out));
    assert!(session.stopped());
    assert_eq!(out, b"OK\nERR line too long: longer than 4 bytes\n");
}

#[test]
fn a_whole_conversation_at_once() {
    let runtime = runtime();
    let chain = chain(&runtime, 1);
    let conversation = block_on(LineSession::converse(
        &chain,
        LineFramer::new(64),
        1,
        b"a\r\n\xff\n\nz",
    ));
    assert_eq!(conversation.output, b"A\r\n\xff\n\nZ");
    assert!(conversation.failures.is_empty());
}

/// A host import no fixture uses: adding it changes nothing for them.
struct Extra;

impl HostImport for Extra {
    fn name(&self) -> &str {
        "yell:test/extra"
    }

    fn add_to_linker(
        &self,
        linker: &mut wasmtime::component::Linker<PluginState>,
    ) -> wasmtime::Result<()> {
        linker
            .instance("yell:test/extra@0.1.0")?
            .func_wrap("answer", |store, (): ()| {
                let state: &PluginState = store.data();
                Ok((state.extension::<u32>().copied().unwrap_or(0),))
            })
    }

    fn plugin_data(&self, _plugin: &PluginSpec) -> Option<Arc<dyn std::any::Any + Send + Sync>> {
        Some(Arc::new(42u32))
    }
}

#[test]
fn a_host_import_leaves_plugins_that_do_not_import_it_alone() {
    let runtime = PluginRuntime::with_imports(
        PluginLimits::default(),
        None,
        TrustPolicy::default(),
        vec![Arc::new(Extra)],
    )
    .unwrap();
    let chain = chain(&runtime, 1);
    let reply = block_on(chain.transform_batch(1, "same\n".into(), 1)).unwrap();
    assert_eq!(reply.output(), b"SAME\n");
}
