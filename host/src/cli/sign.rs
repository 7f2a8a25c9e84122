//! `yell-host sign` and `yell-host keygen`: signing plugin files for
//! servers started with `--trusted-key`, and making the keys to sign with.
//!
//! Owns: their arguments and what they do. Uses: the runtime's keys and
//! plugin sources.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use yell_runtime::{digest_hex, signature_path, PluginSource, SignerKey};

/// Options of `yell-host sign`.
#[derive(Debug, Clone, Args)]
pub struct SignArgs {
    /// The private key (PEM, PKCS#8: `yell-host keygen` or `openssl genpkey
    /// -algorithm ed25519` make one).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The plugin files to sign.
    #[arg(required = true, value_name = "PLUGIN")]
    pub plugins: Vec<PathBuf>,
}

impl SignArgs {
    /// Signs every plugin file given.
    pub fn execute(self) -> Result<()> {
        let key = SignerKey::read(&self.key)?;
        for plugin in &self.plugins {
            let file = PluginSource::read(plugin)?;
            let sig_path = signature_path(plugin);
            write_file_atomically(&sig_path, key.sign(&file.digest).as_bytes(), 0o644)?;
            println!(
                "{}: sha256 {}, signed by key {} in {}",
                plugin.display(),
                digest_hex(&file.digest),
                key.trusted().id(),
                sig_path.display()
            );
        }
        Ok(())
    }
}

/// Options of `yell-host keygen`.
#[derive(Debug, Clone, Args)]
pub struct KeygenArgs {
    /// Where to write the private key; the public key goes to FILE.pub.
    /// Neither may exist already.
    #[arg(value_name = "FILE")]
    pub out: PathBuf,
}

impl KeygenArgs {
    /// Writes a new key pair.
    pub fn execute(self) -> Result<()> {
        let public_path = PathBuf::from(format!("{}.pub", self.out.display()));
        for path in [&self.out, &public_path] {
            if path.exists() {
                bail!("{} exists already: not overwriting a key", path.display());
            }
        }
        let key = SignerKey::generate();
        // Readable by its owner only, from its first byte on disk.
        write_file_atomically(&self.out, key.private_pem()?.as_bytes(), 0o600)?;
        write_file_atomically(&public_path, key.public_pem()?.as_bytes(), 0o644)?;
        println!(
            "key {}: private key in {}, public key in {} (give it to --trusted-key)",
            key.trusted().id(),
            self.out.display(),
            public_path.display()
        );
        Ok(())
    }
}

/// Writes `bytes` to `path` through a temporary file renamed into place, so
/// a watcher or a reader never sees half a file.
fn write_file_atomically(path: &std::path::Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = PathBuf::from(format!("{}.tmp-{}", path.display(), std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(error).with_context(|| format!("cannot write {}", path.display()));
    }
    Ok(())
}
