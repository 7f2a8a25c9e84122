//! A test plugin that exercises every part of the plugin contract, so the
//! host's handling of each is tested with a real component:
//!
//! - `drop ...` has no reply line; `split a b c` has one per word;
//! - `fail why` is refused with the message `why`;
//! - `log text` logs `text` at info level and answers `logged`;
//! - `conn` answers the connection id;
//! - `peer` answers the connection's client and local address, as the host
//!   tells them (`connection.info`);
//! - `previous` answers the line this instance transformed before (from any
//!   connection), or `none`: what a client could learn through a plugin's
//!   state about another client;
//! - any other line is answered as `<prefix><line>`; the prefix comes from
//!   the `prefix` configuration key (default empty);
//! - a new connection is greeted with `welcome <id>`, and a connection that
//!   finishes hears `bye <id> after <n> lines` (n counted per connection by
//!   this instance: exact while one instance serves, as in the tests);
//! - configuration `refuse=<why>` makes init fail with `why`.

use std::collections::HashMap;

use yell_plugin::{log, Config, ConnectionId, LinePlugin, Reply};

struct Probe {
    prefix: Vec<u8>,
    lines_seen: HashMap<ConnectionId, u64>,
    previous: Option<Vec<u8>>,
}

impl LinePlugin for Probe {
    fn new(config: &Config) -> Result<Self, String> {
        config.allow_only(&["prefix", "refuse"])?;
        if let Some(why) = config.get("refuse") {
            return Err(why.to_string());
        }
        Ok(Probe {
            prefix: config.get("prefix").unwrap_or_default().as_bytes().to_vec(),
            lines_seen: HashMap::new(),
            previous: None,
        })
    }

    fn transform(&mut self, line: &[u8], reply: &mut Reply) -> Result<(), String> {
        self.transform_for(0, line, reply)
    }

    fn transform_for(
        &mut self,
        conn: ConnectionId,
        line: &[u8],
        reply: &mut Reply,
    ) -> Result<(), String> {
        *self.lines_seen.entry(conn).or_default() += 1;
        let (word, rest) = match line.iter().position(|&b| b == b' ') {
            Some(space) => (&line[..space], &line[space + 1..]),
            None => (line, &b""[..]),
        };
        match word {
            b"drop" => {}
            b"split" => {
                for part in rest.split(|&b| b == b' ').filter(|part| !part.is_empty()) {
                    reply.push(part);
                }
            }
            b"fail" => return Err(String::from_utf8_lossy(rest).into_owned()),
            b"log" => {
                log::info(&String::from_utf8_lossy(rest));
                reply.push("logged");
            }
            b"conn" => reply.push(conn.to_string()),
            b"peer" => match yell_plugin::connection_info(conn) {
                Some(info) => reply.push(format!("{} -> {}", info.peer, info.local)),
                None => reply.push("unknown"),
            },
            b"previous" => {
                reply.push(self.previous.as_deref().unwrap_or(b"none"));
                return Ok(());
            }
            _ => reply.push([&self.prefix[..], line].concat()),
        }
        self.previous = Some(line.to_vec());
        Ok(())
    }

    fn connection_opened(&mut self, conn: ConnectionId, reply: &mut Reply) {
        reply.push(format!("welcome {conn}"));
    }

    fn connection_closed(&mut self, conn: ConnectionId, reply: &mut Reply) {
        let lines = self.lines_seen.remove(&conn).unwrap_or(0);
        reply.push(format!("bye {conn} after {lines} lines"));
    }
}

yell_plugin::export_plugin!(Probe);

/// The plugin natively, through the SDK's batch entry and its fake host:
/// what a plugin's own `cargo test` can check without a wasm build.
#[cfg(test)]
mod tests {
    use yell_plugin::testing::TestHost;

    fn lines(lines: &[&str]) -> Vec<Vec<u8>> {
        lines.iter().map(|line| line.as_bytes().to_vec()).collect()
    }

    #[test]
    fn a_unit_test_sees_replies_errors_logs_and_addresses() {
        let mut host = TestHost::<super::Probe>::new(&[("prefix", ">> ")]).unwrap();
        assert_eq!(host.connect(), lines(&["welcome 2"]));
        assert_eq!(host.line(b"hi"), Ok(lines(&[">> hi"])));
        assert_eq!(host.line(b"fail too loud"), Err("too loud".to_string()));
        let batch = host.lines(&[b"drop", b"split a b", b"log from a test"]);
        assert_eq!(
            batch,
            [Ok(vec![]), Ok(lines(&["a", "b"])), Ok(lines(&["logged"]))]
        );
        assert_eq!(host.take_logs(), ["info: from a test"]);
        host.set_peer("203.0.113.9:4000", "127.0.0.1:1234");
        assert_eq!(
            host.line(b"peer"),
            Ok(lines(&["203.0.113.9:4000 -> 127.0.0.1:1234"]))
        );
        assert_eq!(host.close(), lines(&["bye 2 after 6 lines"]));
    }

    #[test]
    fn a_refused_configuration_is_the_plugins_error() {
        let refused = TestHost::<super::Probe>::new(&[("refuse", "not today")]);
        assert_eq!(refused.err(), Some("not today".to_string()));
    }
}
