//! `yell-host reload ADDR`: asks a running server's admin endpoint to
//! reload its plugins (`POST /reload`, with the token when given) and
//! waits for the outcome.
//!
//! Owns: the reload request `yell-host reload` sends. Uses: the admin token its parent declares.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{AUTHORIZATION, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::AdminToken;

/// How long to wait for the answer: a reload compiles, which can take
/// seconds; the server cuts an admin connection after two minutes.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(130);

/// Asks the admin endpoint at `addr` to reload the plugin chain. Returns
/// the server's answer; an error if the reload failed, was refused, or the
/// server could not be asked.
pub async fn request_reload(addr: SocketAddr, token: Option<&AdminToken>) -> Result<String> {
    let exchange = async {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("cannot connect to {addr}"))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .with_context(|| format!("cannot talk HTTP to {addr}"))?;
        tokio::spawn(connection);
        let mut request = Request::post("/reload").header(HOST, addr.to_string());
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, token.bearer());
        }
        let request = request
            .body(Empty::<Bytes>::new())
            .context("building the request")?;
        let answer = sender
            .send_request(request)
            .await
            .with_context(|| format!("{addr} did not answer"))?;
        let status = answer.status();
        let body = answer
            .into_body()
            .collect()
            .await
            .with_context(|| format!("{addr} did not finish its answer"))?
            .to_bytes();
        anyhow::Ok((
            status,
            String::from_utf8_lossy(&body).trim_end().to_string(),
        ))
    };
    let (status, body) = tokio::time::timeout(ANSWER_TIMEOUT, exchange)
        .await
        .with_context(|| format!("{addr} did not answer in {ANSWER_TIMEOUT:?}"))??;
    if !status.is_success() {
        bail!("{body}");
    }
    Ok(body)
}
