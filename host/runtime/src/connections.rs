//! The open client connections as plugins may ask about them (the
//! `connection.info` import): each connection's addresses, by id, from the
//! moment it is served until it ends.
//!
//! Owns: [`OpenConnections`]. Uses: nothing else of this crate.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A connection's client and local address (the PROXY header's, behind a
/// balancer that sends one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    /// The client.
    pub peer: SocketAddr,
    /// The server's address the client connected to.
    pub local: SocketAddr,
}

/// Open connections by id. One lock taken twice per connection (open,
/// close) and once per plugin question: never on the per-batch path.
#[derive(Default)]
pub struct OpenConnections {
    by_id: Mutex<HashMap<u64, Addresses>>,
}

impl OpenConnections {
    /// Records connection `id`, from `peer` to `local`, as open until the
    /// returned guard is dropped.
    pub fn open(self: &Arc<Self>, id: u64, peer: SocketAddr, local: SocketAddr) -> OpenConnection {
        self.by_id
            .lock()
            .expect("open connections lock")
            .insert(id, Addresses { peer, local });
        OpenConnection {
            connections: self.clone(),
            id,
        }
    }

    /// The addresses of connection `id`, while it is open.
    pub fn get(&self, id: u64) -> Option<Addresses> {
        self.by_id
            .lock()
            .expect("open connections lock")
            .get(&id)
            .copied()
    }
}

/// A connection's place among the open ones; dropping it closes it.
pub struct OpenConnection {
    connections: Arc<OpenConnections>,
    id: u64,
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.connections
            .by_id
            .lock()
            .expect("open connections lock")
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_known_while_open() {
        let connections = Arc::new(OpenConnections::default());
        let addresses = Addresses {
            peer: "192.0.2.7:1".parse().unwrap(),
            local: "127.0.0.1:2".parse().unwrap(),
        };
        let guard = connections.open(7, addresses.peer, addresses.local);
        assert_eq!(connections.get(7), Some(addresses));
        assert_eq!(connections.get(8), None);
        drop(guard);
        assert_eq!(connections.get(7), None);
    }
}
