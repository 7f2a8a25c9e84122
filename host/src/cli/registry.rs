//! `yell-host push` and `yell-host pull`: a plugin into a registry (built
//! first when given a project folder, signed with `--sign`), and plugins
//! from one into the cache ahead of time, for hosts that start without a
//! registry in reach.
//!
//! Owns: their arguments and what they do. Uses: the oci module, the
//! project build, the runtime's keys and digests.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use yell_runtime::{digest, digest_hex, SignerKey, DEFAULT_INSTANCE_MEMORY};

use super::registry_options::RegistryArgs;
use crate::oci::{OciReference, Registry};
use crate::project::{self, BuildOptions};

/// Options of `yell-host push`.
#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// A component file, or a plugin project folder (built first).
    #[arg(value_name = "FILE|DIR")]
    pub plugin: PathBuf,
    /// Where to: oci://HOST[:PORT]/REPO:TAG.
    #[arg(value_name = "REFERENCE")]
    pub reference: String,
    /// Sign it with this private key (as `yell-host sign`), pushing the
    /// signature as the artifact tagged `sha256-HEX` of the manifest.
    #[arg(long, value_name = "KEY")]
    pub sign: Option<PathBuf>,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl PushArgs {
    /// Pushes the plugin; prints the manifest's digest and the reference
    /// that pins it.
    pub async fn execute(self) -> Result<()> {
        let reference = OciReference::parse(&self.reference)?;
        let key = self.sign.as_deref().map(SignerKey::read).transpose()?;
        let file = if self.plugin.is_dir() {
            project::build(&self.plugin, &BuildOptions::default())?
        } else {
            self.plugin.clone()
        };
        let bytes = std::fs::read(&file)
            .with_context(|| format!("plugin {}: cannot read it", file.display()))?;
        if !wasmparser::Parser::is_component(&bytes) {
            bail!(
                "plugin {}: not a WebAssembly component (a plugin is one: `yell-host build` makes it)",
                file.display()
            );
        }
        let component = digest(&bytes);
        let signature = key.as_ref().map(|key| key.sign(&component).into_bytes());
        let registry = Registry::new(self.registry.config(DEFAULT_INSTANCE_MEMORY)?)?;
        let manifest = registry.push(&reference, bytes, signature).await?;
        let pinned = format!(
            "oci://{}/{}@{manifest}",
            reference.registry(),
            reference.inner().repository()
        );
        eprintln!(
            "pushed {} (component sha256 {}){} to {}",
            file.display(),
            digest_hex(&component),
            match &key {
                Some(key) => format!(", signed by key {}", key.trusted().id()),
                None => String::new(),
            },
            reference.shown()
        );
        // What a pin takes: the manifest digest, and the reference by it.
        println!("{manifest}");
        println!("{pinned}");
        Ok(())
    }
}

/// Options of `yell-host pull`.
#[derive(Debug, Clone, Args)]
pub struct PullArgs {
    /// The plugins to pull: oci://HOST[:PORT]/REPO:TAG or ...@sha256:DIGEST.
    #[arg(required = true, value_name = "REFERENCE")]
    pub references: Vec<String>,
    /// Pull their signatures too (as a server with --trusted-key does).
    #[arg(long)]
    pub signed: bool,
    #[command(flatten)]
    pub registry: RegistryArgs,
}

impl PullArgs {
    /// Pulls each reference into the cache; prints each one's manifest
    /// digest.
    pub async fn execute(self) -> Result<()> {
        let references = self
            .references
            .iter()
            .map(|raw| OciReference::parse(raw))
            .collect::<Result<Vec<_>>>()?;
        let registry = Arc::new(Registry::new(
            self.registry.config(DEFAULT_INSTANCE_MEMORY)?,
        )?);
        for reference in &references {
            let pulled = registry.fetch(reference, self.signed).await?;
            println!(
                "{} {} (component sha256 {}, {} bytes) in {}",
                reference.shown(),
                pulled.manifest,
                digest_hex(&digest(&pulled.bytes)),
                pulled.bytes.len(),
                registry.cache().dir().display()
            );
        }
        Ok(())
    }
}
