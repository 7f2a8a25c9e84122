//! `yell-host wit [DIR]`: the plugin contract this binary serves, printed
//! or written to a folder, for building plugins with no source tree.
//!
//! Owns: its arguments and what it does. Uses: the embedded contract.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::embedded::{contract_package, CONTRACT_FILES, CONTRACT_WIT};

/// Options of `yell-host wit`.
#[derive(Debug, Clone, Args)]
pub struct WitArgs {
    /// Write the contract into this folder (`plugin.wit` and the packages
    /// it uses, in `deps/`; made if missing) instead of printing
    /// `plugin.wit`.
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
        for (name, text) in CONTRACT_FILES {
            let path = dir.join(name);
            let parent = path.parent().expect("a contract file is in a folder");
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
        println!(
            "{} ({})",
            dir.join("plugin.wit").display(),
            contract_package()
        );
        Ok(())
    }
}
