//! `--plugin` given several times: a chain applied in order, each plugin's
//! reply lines the next one's input lines, each plugin with its own
//! configuration.

use std::io::Write;

use crate::harness::{
    exchange, plugin_dir, read_line, refused, testing_plugin, InProcessServer, ServerBuilder,
    ServerProcess,
};

fn serve_chain(plugins: &[&str], config: &[&str]) -> InProcessServer {
    let mut args = Vec::new();
    for plugin in plugins {
        args.extend_from_slice(&["--plugin", plugin]);
    }
    for pair in config {
        args.extend_from_slice(&["--plugin-config", pair]);
    }
    ServerBuilder::from_args(&args).start()
}

#[test]
fn plugins_apply_in_the_order_given() {
    // As files, in the server's own config type.
    let files = |names: [&str; 2]| names.map(|name| plugin_dir().join(format!("{name}.wasm")));
    let server = ServerBuilder::new()
        .chain(files(["reverse", "uppercase"]))
        .start();
    assert_eq!(exchange(&server, b"abc\n"), b"CBA\n");
    // As bare names, through the command line.
    let input = b"hello world\r\nab\n";
    let server = serve_chain(&["splitter", "reverse"], &[]);
    assert_eq!(exchange(&server, input), b"olleh\r\ndlrow\r\nba\n");
    let server = serve_chain(&["reverse", "splitter"], &[]);
    assert_eq!(exchange(&server, input), b"dlrow\r\nolleh\r\nba\n");
}

#[test]
fn lines_fan_out_and_drop_through_the_chain() {
    let server = serve_chain(
        &["splitter", "filter", "uppercase", "counter"],
        &["filter:word=drop"],
    );
    // Three words, then an empty line (no words: no reply), then a line
    // whose every word is dropped, then one more; the counter numbers what
    // is left.
    assert_eq!(
        exchange(
            &server,
            b"keep drop this\r\n\ndrop dropped\nlast\nunterminated end"
        ),
        b"1 KEEP\r\n2 THIS\r\n3 LAST\n4 UNTERMINATED\n5 END"
    );
}

#[test]
fn each_plugin_gets_its_own_configuration() {
    // The same plugin twice, told apart by position.
    let server = serve_chain(&["rot13", "rot13"], &["1:shift=1", "2:shift=2"]);
    assert_eq!(exchange(&server, b"abc xyz\n"), b"def abc\n");
    // By name, and an unnamed key for a single plugin.
    let server = serve_chain(
        &["rot13", "counter"],
        &["counter:start=10", "rot13:shift=0"],
    );
    assert_eq!(exchange(&server, b"abc\n"), b"10 abc\n");
    let server = serve_chain(&["counter"], &["start=5"]);
    assert_eq!(exchange(&server, b"x\n"), b"5 x\n");
}

#[test]
fn a_configuration_rejected_by_one_plugin_fails_the_start() {
    let stderr = refused(&[
        "--plugin",
        "uppercase",
        "--plugin",
        "rot13",
        "--plugin-config",
        "rot13:shift=40",
    ]);
    assert!(
        stderr.contains("rot13.wasm") && stderr.contains("40 is not between 0 and 25"),
        "{stderr}"
    );
    let stderr = refused(&[
        "--plugin",
        "uppercase",
        "--plugin",
        "rot13",
        "--plugin-config",
        "shift=4",
    ]);
    assert!(
        stderr.contains("which plugin of the chain (uppercase, rot13)"),
        "{stderr}"
    );
    let stderr = refused(&["--plugin", "rot13", "--plugin-config", "reverse:k=v"]);
    assert!(stderr.contains("no plugin named \"reverse\""), "{stderr}");
    let stderr = refused(&["--plugin", "rot13", "--plugin-config", "2:k=v"]);
    assert!(stderr.contains("there is no plugin 2"), "{stderr}");
}

#[test]
fn a_line_fails_if_any_stage_fails_on_what_it_became() {
    let probe = testing_plugin("probe");
    // rot13 turns "snvy" into "fail", which the probe refuses.
    let server = serve_chain(&["rot13", &probe], &[]);
    let mut stream = server.connect();
    assert!(read_line(&mut stream).starts_with("welcome "));
    drop(stream);
    let reply = exchange(&server, b"snvy gbb ybat\nuryyb\n");
    let reply = String::from_utf8_lossy(&reply);
    let lines: Vec<&str> = reply.lines().collect();
    assert_eq!(
        lines[1..3],
        ["ERR plugin: probe: too long", "hello"],
        "{reply}"
    );
}

#[test]
fn greetings_and_last_words_come_from_every_stage_in_order() {
    let probe = testing_plugin("probe");
    let server = serve_chain(
        &[&probe, "uppercase", &probe],
        &["1:prefix=a-", "3:prefix=z-"],
    );
    let reply = exchange(&server, b"x\nsplit p q\ndrop\nfail bad\n");
    let reply = String::from_utf8_lossy(&reply);
    let id = reply
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("welcome "))
        .expect("a greeting")
        .to_string();
    assert_eq!(
        reply,
        format!(
            "welcome {id}\nwelcome {id}\nz-A-X\nz-P\nz-Q\nERR plugin: probe: bad\n\
             bye {id} after 4 lines\nbye {id} after 3 lines\n"
        )
    );
}

#[test]
fn raw_chunks_go_through_the_chain_too() {
    let server = ServerProcess::start(&[
        "--framing",
        "raw",
        "--plugin",
        "uppercase",
        "--plugin",
        "reverse",
    ]);
    assert_eq!(exchange(&server, b"Hello World!"), b"!DLROW OLLEH");
}

#[test]
fn a_failed_call_in_a_chain_names_its_plugin() {
    let hostile = testing_plugin("hostile");
    let server = serve_chain(&[&hostile, "reverse"], &[]);
    let mut stream = server.connect();
    stream.write_all(b"panic\n").unwrap();
    let reply = read_line(&mut stream);
    assert_eq!(reply, "ERR plugin: hostile: panicked\n");
    // The connection goes on, with a fresh instance.
    stream.write_all(b"cd\n").unwrap();
    assert_eq!(read_line(&mut stream), "DC\n");
}
