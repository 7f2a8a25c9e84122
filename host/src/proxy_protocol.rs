//! The PROXY protocol (HAProxy's, versions 1 and 2), for a server behind a
//! TCP load balancer: the balancer starts each connection with a header
//! saying whom it is for, so the server knows the real client address
//! instead of seeing every connection come from the balancer.
//!
//! With `--proxy-protocol`, every connection must start with a header,
//! parsed by the `ppp` crate. A connection whose header is missing, not
//! valid, larger than [`MAX_HEADER`] or not complete within the header
//! timeout is closed, and the reason logged. A `LOCAL` header (a balancer's
//! own health check) or one with unknown addresses keeps the socket's own
//! addresses.
//!
//! Owns: reading a PROXY header. Uses: nothing else of this crate.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use ppp::v1;
use ppp::v2;
use ppp::{HeaderResult, PartialResult};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Largest header accepted: a v1 header is at most 107 bytes; a v2 header
/// carries optional TLVs, a few hundred bytes from the balancers in use.
pub const MAX_HEADER: usize = 4096;

/// Where a connection comes from and goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionAddrs {
    /// The client: from the PROXY header when there is one.
    pub peer: SocketAddr,
    /// The address the client connected to.
    pub local: SocketAddr,
}

/// Why a connection's PROXY header was refused.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("no PROXY protocol header within {0:?}")]
    Timeout(Duration),
    #[error("no PROXY protocol header in the first {MAX_HEADER} bytes")]
    TooLong,
    #[error("the connection ended before its PROXY protocol header did")]
    Closed,
    #[error("not a PROXY protocol header: {0}")]
    Invalid(String),
    #[error("reading the PROXY protocol header: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads the PROXY header at the start of `stream` into `buffer` and takes
/// it out, leaving there whatever the client sent after it. Returns the
/// connection's addresses: the header's, or `socket`'s own for a `LOCAL`
/// or `UNKNOWN` header.
pub async fn read_header(
    stream: &mut TcpStream,
    buffer: &mut BytesMut,
    socket: ConnectionAddrs,
    timeout: Duration,
) -> Result<ConnectionAddrs, HeaderError> {
    let reading = async {
        loop {
            if let Some((length, addrs)) = parse(buffer)? {
                buffer.advance(length);
                return Ok(addrs.unwrap_or(socket));
            }
            if buffer.len() >= MAX_HEADER {
                return Err(HeaderError::TooLong);
            }
            buffer.reserve(MAX_HEADER - buffer.len());
            // Never past the cap: what follows the header stays unread.
            let mut limited = (&mut *stream).take((MAX_HEADER - buffer.len()) as u64);
            if limited.read_buf(buffer).await? == 0 {
                return Err(HeaderError::Closed);
            }
        }
    };
    tokio::time::timeout(timeout, reading)
        .await
        .map_err(|_| HeaderError::Timeout(timeout))?
}

/// The header's length and addresses (`None`: keep the socket's), or
/// `None` if more bytes are needed.
#[allow(clippy::type_complexity)]
fn parse(bytes: &[u8]) -> Result<Option<(usize, Option<ConnectionAddrs>)>, HeaderError> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let header = HeaderResult::parse(bytes);
    if header.is_incomplete() {
        return Ok(None);
    }
    match header {
        HeaderResult::V1(Ok(header)) => {
            let addrs = match header.addresses {
                v1::Addresses::Tcp4(ip) => Some(ConnectionAddrs {
                    peer: (ip.source_address, ip.source_port).into(),
                    local: (ip.destination_address, ip.destination_port).into(),
                }),
                v1::Addresses::Tcp6(ip) => Some(ConnectionAddrs {
                    peer: (ip.source_address, ip.source_port).into(),
                    local: (ip.destination_address, ip.destination_port).into(),
                }),
                v1::Addresses::Unknown => None,
            };
            Ok(Some((header.header.len(), addrs)))
        }
        HeaderResult::V2(Ok(header)) => {
            let addrs = match (header.command, header.addresses) {
                (v2::Command::Local, _) => None,
                (_, v2::Addresses::IPv4(ip)) => Some(ConnectionAddrs {
                    peer: (ip.source_address, ip.source_port).into(),
                    local: (ip.destination_address, ip.destination_port).into(),
                }),
                (_, v2::Addresses::IPv6(ip)) => Some(ConnectionAddrs {
                    peer: (ip.source_address, ip.source_port).into(),
                    local: (ip.destination_address, ip.destination_port).into(),
                }),
                (_, v2::Addresses::Unix(_) | v2::Addresses::Unspecified) => None,
            };
            Ok(Some((header.len(), addrs)))
        }
        HeaderResult::V1(Err(error)) => Err(HeaderError::Invalid(error.to_string())),
        HeaderResult::V2(Err(error)) => Err(HeaderError::Invalid(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(peer: &str, local: &str) -> Option<ConnectionAddrs> {
        Some(ConnectionAddrs {
            peer: peer.parse().unwrap(),
            local: local.parse().unwrap(),
        })
    }

    #[test]
    fn version_1_headers() {
        let header = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 1234\r\nhello\n";
        let (length, found) = parse(header).unwrap().unwrap();
        assert_eq!(&header[length..], b"hello\n");
        assert_eq!(found, addrs("192.0.2.7:56324", "198.51.100.1:1234"));
        let header = b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 1234\r\n";
        let (_, found) = parse(header).unwrap().unwrap();
        assert_eq!(found, addrs("[2001:db8::1]:4000", "[2001:db8::2]:1234"));
        assert_eq!(parse(b"PROXY UNKNOWN\r\n").unwrap(), Some((15, None)));
        // Incomplete, then wrong.
        assert!(parse(b"PROXY TCP4 192.0.2.7").unwrap().is_none());
        assert!(parse(b"hello world\n").is_err());
        assert!(parse(b"PROXY TCP4 300.0.2.7 198.51.100.1 1 2\r\n").is_err());
    }

    #[test]
    fn version_2_headers() {
        let header = v2::Builder::with_addresses(
            v2::Version::Two | v2::Command::Proxy,
            v2::Protocol::Stream,
            (
                "192.0.2.7:56324".parse::<SocketAddr>().unwrap(),
                "198.51.100.1:1234".parse::<SocketAddr>().unwrap(),
            ),
        )
        .build()
        .unwrap();
        let mut bytes = header.clone();
        bytes.extend_from_slice(b"hello\n");
        let (length, found) = parse(&bytes).unwrap().unwrap();
        assert_eq!(length, header.len());
        assert_eq!(found, addrs("192.0.2.7:56324", "198.51.100.1:1234"));
        // Cut short: more is needed.
        assert!(parse(&header[..20]).unwrap().is_none());
        // A health check's LOCAL header keeps the socket's addresses.
        let local = v2::Builder::with_addresses(
            v2::Version::Two | v2::Command::Local,
            v2::Protocol::Unspecified,
            v2::Addresses::Unspecified,
        )
        .build()
        .unwrap();
        assert_eq!(parse(&local).unwrap(), Some((local.len(), None)));
    }
}
