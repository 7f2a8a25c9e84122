//! `yell-host reload ADDR`: asks a running server to reload its plugins,
//! through its admin endpoint, and waits for the outcome.
//!
//! Owns: its arguments. Uses: the admin client.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use crate::admin::client::request_reload;
use crate::admin::AdminToken;

/// Options of `yell-host reload`.
#[derive(Debug, Clone, Args)]
pub struct ReloadArgs {
    /// The server's `--metrics-addr`.
    pub addr: SocketAddr,
    /// The file holding the server's admin token (its `--admin-token-file`),
    /// for a server that needs one.
    #[arg(long, env = "YELL_ADMIN_TOKEN_FILE", value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

impl ReloadArgs {
    /// Asks for the reload and prints the answer.
    pub async fn execute(self) -> Result<()> {
        let token = self
            .token_file
            .as_deref()
            .map(AdminToken::read)
            .transpose()?;
        let answer = request_reload(self.addr, token.as_ref()).await?;
        println!("{answer}");
        Ok(())
    }
}
