//! `yell-host new`, `yell-host build` and `yell-host dev`: plugin projects
//! anywhere.
//!
//! Owns: their arguments and what they print. Uses: the project module.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use super::serve::ServeArgs;
use crate::project::{self, BuildOptions, Language};

/// The languages `yell-host new` makes projects in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LanguageArg {
    /// Rust, with the yell-plugin crate.
    Rust,
    /// Python, built by componentize-py.
    Python,
    /// JavaScript, built by ComponentizeJS.
    Js,
    /// C, built by Debian's clang for wasm32-wasi.
    C,
}

impl From<LanguageArg> for Language {
    fn from(language: LanguageArg) -> Language {
        match language {
            LanguageArg::Rust => Language::Rust,
            LanguageArg::Python => Language::Python,
            LanguageArg::Js => Language::Js,
            LanguageArg::C => Language::C,
        }
    }
}

/// Options of `yell-host new`.
#[derive(Debug, Clone, Args)]
pub struct NewArgs {
    /// The project folder (made if missing; it must be empty).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The language of the plugin.
    #[arg(long, value_enum, default_value_t = LanguageArg::Rust)]
    pub lang: LanguageArg,
    /// The plugin's name [default: the folder's name].
    #[arg(long)]
    pub name: Option<String>,
    /// Refresh the vendored SDK and contract of the existing project in
    /// DIR with this binary's (its own files are left alone).
    #[arg(long)]
    pub update_sdk: bool,
}

impl NewArgs {
    /// Makes (or refreshes) the project and says what it did.
    pub fn execute(self) -> Result<()> {
        if self.update_sdk {
            let manifest = project::update_sdk(&self.dir)?;
            println!(
                "{}: the SDK and the contract ({}) refreshed",
                self.dir.display(),
                manifest.contract
            );
            return Ok(());
        }
        let manifest = project::create(&self.dir, self.lang.into(), self.name.as_deref())?;
        println!(
            "{}: a {} plugin project, {} ({}): `yell-host build {0}` builds it, `yell-host test {0}` checks it",
            self.dir.display(),
            manifest.language.name(),
            manifest.name,
            manifest.contract
        );
        Ok(())
    }
}

/// Options of `yell-host build`.
#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// The project folder.
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Keep the function names, so a trap's backtrace shows them.
    #[arg(long)]
    pub debug: bool,
    /// Write the component to FILE [default: DIR/target/NAME.wasm].
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

impl BuildArgs {
    /// Builds the project; the component's path is the last line printed.
    pub fn execute(self) -> Result<()> {
        let options = BuildOptions {
            debug: self.debug,
            out: self.out,
        };
        let path = project::build(&self.dir, &options)?;
        println!("{}", path.display());
        Ok(())
    }
}

/// Options of `yell-host dev`.
#[derive(Debug, Clone, Args)]
pub struct DevArgs {
    /// The project folder.
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// Build with the function names kept (as `yell-host build --debug`).
    #[arg(long)]
    pub debug: bool,
    /// How to serve, as `yell-host` takes it (the plugin is the project's).
    #[command(flatten)]
    pub serve: ServeArgs,
}

impl DevArgs {
    /// Builds the project, then serves it and rebuilds it at each change.
    pub async fn execute(mut self) -> Result<()> {
        let options = BuildOptions {
            debug: self.debug,
            out: None,
        };
        let path = project::build(&self.dir, &options)?;
        self.serve.plugin = vec![path];
        let config = self.serve.config(None)?;
        let summary = crate::dev::run(self.dir, options, config).await?;
        println!("{summary}");
        Ok(())
    }
}
