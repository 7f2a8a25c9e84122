//! A test plugin that asks the host for what the sandbox denies, through
//! WASI 0.2's own imports (no standard library or language runtime in
//! between), so a denial seen here is the host's:
//!
//! - `preopens`: the directories the host offers, as `N: name name...`;
//! - `read PATH`: opens PATH for reading under every preopen and reads it:
//!   `allowed: N bytes` for the first that works, else `denied: ...`;
//! - `write PATH`: creates PATH under every preopen: `allowed` or `denied`;
//! - `env`: the environment's variables, as `N: KEY KEY...`; `args`: the
//!   arguments' count;
//! - `connect IP PORT`: a TCP connection made with `wasi:sockets` itself:
//!   `allowed: connected` or `denied: <error code>`;
//! - `forge-descriptor N`, `forge-socket N`, `forge-stream N`: uses a
//!   resource handle the host never gave (the call traps: the host refuses
//!   a handle that is not in the instance's table).

use std::net::{IpAddr, SocketAddr};

use wasip2::filesystem::preopens::get_directories;
use wasip2::filesystem::types::{Descriptor, DescriptorFlags, OpenFlags, PathFlags};
use wasip2::sockets::network::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress};
use wasip2::sockets::network::{Ipv6SocketAddress, Network};
use wasip2::sockets::tcp::TcpSocket;
use wasip2::sockets::{instance_network::instance_network, tcp_create_socket};
use yell_plugin::{Config, LinePlugin, Reply};

struct WasiRaw;

impl LinePlugin for WasiRaw {
    fn new(_: &Config) -> Result<Self, String> {
        Ok(WasiRaw)
    }

    fn transform(&mut self, line: &[u8], reply: &mut Reply) -> Result<(), String> {
        let line = String::from_utf8_lossy(line);
        let words: Vec<&str> = line.split_whitespace().collect();
        let arg = |index: usize| words.get(index).copied().unwrap_or_default();
        let number = |index: usize| arg(index).parse::<u32>().unwrap_or_default();
        match arg(0) {
            "preopens" => {
                let dirs = get_directories();
                let names: Vec<String> = dirs.iter().map(|(_, name)| name.clone()).collect();
                reply.push(format!("{}: {}", dirs.len(), names.join(" ")));
            }
            "read" => reply.push(under_preopens(arg(1), read)),
            "write" => reply.push(under_preopens(arg(1), write)),
            "env" => {
                let env = wasip2::cli::environment::get_environment();
                let keys: Vec<String> = env.into_iter().map(|(key, _)| key).collect();
                reply.push(format!("{}: {}", keys.len(), keys.join(" ")));
            }
            "args" => reply.push(wasip2::cli::environment::get_arguments().len().to_string()),
            "connect" => {
                let ip = arg(1)
                    .parse::<IpAddr>()
                    .map_err(|error| error.to_string())?;
                let port = arg(2).parse::<u16>().map_err(|error| error.to_string())?;
                reply.push(connect(SocketAddr::new(ip, port)));
            }
            "forge-descriptor" => {
                // SAFETY: the point is to hand the host a handle it never
                // gave; the guest's own table holds nothing at it either.
                let forged = unsafe { Descriptor::from_handle(number(1)) };
                reply.push(format!("{:?}", forged.stat()));
            }
            "forge-socket" => {
                // SAFETY: as above.
                let forged = unsafe { TcpSocket::from_handle(number(1)) };
                reply.push(format!("{:?}", forged.local_address()));
            }
            "forge-stream" => {
                // SAFETY: as above.
                let forged = unsafe { wasip2::io::streams::InputStream::from_handle(number(1)) };
                reply.push(format!("{:?}", forged.read(16)));
            }
            other => return Err(format!("unknown command {other:?}")),
        }
        Ok(())
    }
}

/// Runs `attempt` on `path` under each preopen; the first that works
/// wins. Without preopens, there is nothing to try.
fn under_preopens(path: &str, attempt: fn(&Descriptor, &str) -> Result<String, String>) -> String {
    let dirs = get_directories();
    if dirs.is_empty() {
        return "denied: no preopened directory".to_string();
    }
    let mut why = Vec::new();
    for (dir, name) in &dirs {
        match attempt(dir, path) {
            Ok(what) => return format!("allowed: {what}"),
            Err(error) => why.push(format!("{name}: {error}")),
        }
    }
    format!("denied: {}", why.join(", "))
}

fn read(dir: &Descriptor, path: &str) -> Result<String, String> {
    let file = dir
        .open_at(
            PathFlags::empty(),
            path,
            OpenFlags::empty(),
            DescriptorFlags::READ,
        )
        .map_err(|code| format!("{code:?}"))?;
    let (bytes, _) = file.read(1 << 20, 0).map_err(|code| format!("{code:?}"))?;
    Ok(format!("{} bytes", bytes.len()))
}

fn write(dir: &Descriptor, path: &str) -> Result<String, String> {
    let file = dir
        .open_at(
            PathFlags::empty(),
            path,
            OpenFlags::CREATE,
            DescriptorFlags::READ | DescriptorFlags::WRITE,
        )
        .map_err(|code| format!("{code:?}"))?;
    file.write(b"x", 0).map_err(|code| format!("{code:?}"))?;
    Ok("written".to_string())
}

/// A TCP connection through `wasi:sockets`, waiting for it to finish.
fn connect(addr: SocketAddr) -> String {
    let (family, remote) = match addr {
        SocketAddr::V4(v4) => {
            let [a, b, c, d] = v4.ip().octets();
            let remote = IpSocketAddress::Ipv4(Ipv4SocketAddress {
                port: v4.port(),
                address: (a, b, c, d),
            });
            (IpAddressFamily::Ipv4, remote)
        }
        SocketAddr::V6(v6) => {
            let [a, b, c, d, e, f, g, h] = v6.ip().segments();
            let remote = IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port: v6.port(),
                address: (a, b, c, d, e, f, g, h),
                flow_info: 0,
                scope_id: 0,
            });
            (IpAddressFamily::Ipv6, remote)
        }
    };
    let network: Network = instance_network();
    let socket = match tcp_create_socket::create_tcp_socket(family) {
        Ok(socket) => socket,
        Err(code) => return format!("denied: {code:?}"),
    };
    if let Err(code) = socket.start_connect(&network, remote) {
        return format!("denied: {code:?}");
    }
    loop {
        socket.subscribe().block();
        match socket.finish_connect() {
            Ok(_streams) => return "allowed: connected".to_string(),
            Err(wasip2::sockets::network::ErrorCode::WouldBlock) => continue,
            Err(code) => return format!("denied: {code:?}"),
        }
    }
}

yell_plugin::export_plugin!(WasiRaw);
