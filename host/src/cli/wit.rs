//! `yell-host wit [DIR]`: the plugin contract this binary serves, printed
//! or written to a folder, for building plugins with no source tree.
//!
//! Owns: its arguments and what it does. Uses: the embedded contract.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::embedded::{contract_package, CONTRACT_WIT};

/// Options of `yell-host wit`.
#[derive(Debug, Clone, Args)]
pub struct WitArgs {
    /// Write the contract into this folder (as `plugin.wit`, made if
    /// missing) instead of printing it.
    #[arg(value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl WitArgs {
    /// Prints the contract, or writes it and says where, with its version.
    pub fn execute(self) -> Result<()> {
        let Some(dir) = self.dir else {
            print!("{CONTRACT_WIT}");
            return Ok(());
        };
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("plugin.wit");
        std::fs::write(&path, CONTRACT_WIT)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("{} ({})", path.display(), contract_package());
        Ok(())
    }
}
