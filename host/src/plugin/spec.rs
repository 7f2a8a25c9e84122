//! What the command line says about the plugins: the chain of plugin files,
//! the configuration of each (`--plugin-config [NAME:]KEY=VALUE`) and the
//! digests they are pinned to (`--plugin-sha256 [NAME:]SHA256`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use super::cache::Digest256;
use super::provenance::{digest_hex, parse_digest};

/// One plugin of the chain as the command line gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSpec {
    pub path: PathBuf,
    /// Handed to the plugin's `init`.
    pub config: Vec<(String, String)>,
    /// The SHA-256 its content must have (`--plugin-sha256`), at start and
    /// at every swap.
    pub sha256: Option<Digest256>,
}

impl PluginSpec {
    /// The plugin at `path`, with no configuration and no pin.
    pub fn new(path: PathBuf) -> PluginSpec {
        PluginSpec {
            path,
            config: Vec::new(),
            sha256: None,
        }
    }
}

/// One `--plugin-config`: a key and value, maybe for a named plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// A plugin's name or position in the chain; `None` for the only plugin.
    pub plugin: Option<String>,
    pub key: String,
    pub value: String,
}

impl ConfigEntry {
    /// Parses `[NAME:]KEY=VALUE`.
    pub fn parse(raw: &str) -> Result<ConfigEntry> {
        let Some((name_and_key, value)) = raw.split_once('=') else {
            bail!("expected [NAME:]KEY=VALUE, got {raw:?}");
        };
        let (plugin, key) = match name_and_key.split_once(':') {
            Some((plugin, key)) => (Some(plugin.to_string()), key),
            None => (None, name_and_key),
        };
        if key.is_empty() || plugin.as_deref() == Some("") {
            bail!("expected [NAME:]KEY=VALUE, got {raw:?}");
        }
        Ok(ConfigEntry {
            plugin,
            key: key.to_string(),
            value: value.to_string(),
        })
    }
}

/// Pairs each plugin of the chain with its configuration entries; `flag`
/// names the option the entries came from, for error messages.
pub fn chain_specs(
    paths: Vec<PathBuf>,
    entries: &[ConfigEntry],
    flag: &str,
) -> Result<Vec<PluginSpec>> {
    let mut specs: Vec<PluginSpec> = paths.into_iter().map(PluginSpec::new).collect();
    for entry in entries {
        let shown = match &entry.plugin {
            Some(plugin) => format!("{plugin}:{}={}", entry.key, entry.value),
            None => format!("{}={}", entry.key, entry.value),
        };
        let which = "Write NAME:KEY=VALUE";
        for target in targets(&specs, entry.plugin.as_deref(), flag, &shown, which)? {
            specs[target]
                .config
                .push((entry.key.clone(), entry.value.clone()));
        }
    }
    Ok(specs)
}

/// One `--plugin-sha256`: the digest a plugin's content must have, maybe
/// for a named plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinEntry {
    /// A plugin's name or position in the chain; `None` for the only plugin.
    pub plugin: Option<String>,
    pub digest: Digest256,
}

impl PinEntry {
    /// Parses `[NAME:]HEX`.
    pub fn parse(raw: &str) -> Result<PinEntry> {
        let (plugin, hex) = match raw.rsplit_once(':') {
            Some((plugin, hex)) if !plugin.is_empty() => (Some(plugin.to_string()), hex),
            Some(_) => bail!("expected [NAME:]SHA256, got {raw:?}"),
            None => (None, raw),
        };
        Ok(PinEntry {
            plugin,
            digest: parse_digest(hex)?,
        })
    }
}

/// Pins the plugins of the chain that `pins` name; `flag` names the option,
/// for error messages. A plugin pinned twice must be pinned to one digest.
pub fn pin_specs(specs: &mut [PluginSpec], pins: &[PinEntry], flag: &str) -> Result<()> {
    for pin in pins {
        let hex = digest_hex(&pin.digest);
        let shown = match &pin.plugin {
            Some(plugin) => format!("{plugin}:{hex}"),
            None => hex,
        };
        for target in targets(
            specs,
            pin.plugin.as_deref(),
            flag,
            &shown,
            "Write NAME:SHA256",
        )? {
            match specs[target].sha256 {
                Some(pinned) if pinned != pin.digest => bail!(
                    "{flag} {shown}: plugin {} is already pinned to {}",
                    specs[target].path.display(),
                    digest_hex(&pinned)
                ),
                _ => specs[target].sha256 = Some(pin.digest),
            }
        }
    }
    Ok(())
}

/// The plugin's name in options and logs: its file name without extension.
pub fn plugin_name(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The positions in the chain an option names: `plugin` is a name (every
/// plugin of that name), a position from 1, or `None` for a lone plugin.
/// `shown` is the option as given and `which` how to name a plugin, for
/// error messages.
fn targets(
    specs: &[PluginSpec],
    plugin: Option<&str>,
    flag: &str,
    shown: &str,
    which: &str,
) -> Result<Vec<usize>> {
    let names: Vec<String> = specs.iter().map(|spec| plugin_name(&spec.path)).collect();
    let targets: Vec<usize> = match plugin {
        None if specs.len() == 1 => vec![0],
        None => bail!(
            "{flag} {shown}: which plugin of the chain ({})? {which}",
            names.join(", ")
        ),
        Some(plugin) => match plugin.parse::<usize>() {
            Ok(position) if (1..=specs.len()).contains(&position) => vec![position - 1],
            Ok(position) => bail!(
                "{flag} {shown}: there is no plugin {position}, the chain has {}",
                specs.len()
            ),
            Err(_) => names
                .iter()
                .enumerate()
                .filter(|(_, name)| *name == plugin)
                .map(|(index, _)| index)
                .collect(),
        },
    };
    if targets.is_empty() {
        bail!(
            "{flag} {shown}: no plugin named {:?} in the chain ({})",
            plugin.unwrap_or_default(),
            names.join(", ")
        );
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(raw: &str) -> ConfigEntry {
        ConfigEntry::parse(raw).unwrap()
    }

    #[test]
    fn config_entries_name_their_plugin() {
        assert_eq!(
            entry("rot13:shift=3"),
            ConfigEntry {
                plugin: Some("rot13".into()),
                key: "shift".into(),
                value: "3".into()
            }
        );
        assert_eq!(entry("word=a:b=c").plugin, None);
        assert_eq!(entry("word=a:b=c").value, "a:b=c");
        assert!(ConfigEntry::parse("novalue").is_err());
        assert!(ConfigEntry::parse(":k=v").is_err());
        assert!(ConfigEntry::parse("=v").is_err());
    }

    #[test]
    fn config_entries_go_to_their_plugins() {
        let chain = || {
            vec![
                PathBuf::from("a/rot13.wasm"),
                PathBuf::from("b/filter.wasm"),
                PathBuf::from("rot13.wasm"),
            ]
        };
        let specs = chain_specs(
            chain(),
            &[
                entry("rot13:shift=1"),
                entry("2:word=x"),
                entry("3:shift=2"),
            ],
            "--plugin-config",
        )
        .unwrap();
        assert_eq!(specs[0].config, [("shift".to_string(), "1".to_string())]);
        assert_eq!(specs[1].config, [("word".to_string(), "x".to_string())]);
        assert_eq!(
            specs[2].config,
            [
                ("shift".to_string(), "1".to_string()),
                ("shift".to_string(), "2".to_string())
            ]
        );
        assert!(chain_specs(chain(), &[entry("shift=1")], "--plugin-config")
            .unwrap_err()
            .to_string()
            .contains("which plugin"));
        assert!(
            chain_specs(chain(), &[entry("upper:k=v")], "--plugin-config")
                .unwrap_err()
                .to_string()
                .contains("no plugin named")
        );
        assert!(chain_specs(chain(), &[entry("4:k=v")], "--plugin-config").is_err());
        let single = chain_specs(
            vec![PathBuf::from("x.wasm")],
            &[entry("k=v")],
            "--plugin-config",
        )
        .unwrap();
        assert_eq!(single[0].config, [("k".to_string(), "v".to_string())]);
    }

    #[test]
    fn pins_go_to_their_plugins() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let pin = |raw: &str| PinEntry::parse(raw).unwrap();
        let mut specs = chain_specs(
            vec![PathBuf::from("x/upper.wasm"), PathBuf::from("rot13.wasm")],
            &[],
            "--plugin-config",
        )
        .unwrap();
        pin_specs(
            &mut specs,
            &[pin(&format!("upper:{a}")), pin(&format!("2:{b}"))],
            "--plugin-sha256",
        )
        .unwrap();
        assert_eq!(specs[0].sha256, Some([0xaa; 32]));
        assert_eq!(specs[1].sha256, Some([0xbb; 32]));
        // The same pin again is fine; another digest for the same plugin is not.
        pin_specs(&mut specs, &[pin(&format!("1:{a}"))], "--plugin-sha256").unwrap();
        assert!(pin_specs(&mut specs, &[pin(&format!("upper:{b}"))], "--plugin-sha256").is_err());
        assert!(pin_specs(&mut specs, &[pin(&a)], "--plugin-sha256")
            .unwrap_err()
            .to_string()
            .contains("which plugin"));
        assert!(pin_specs(&mut specs, &[pin(&format!("lower:{a}"))], "--plugin-sha256").is_err());
        assert!(PinEntry::parse("upper:abc").is_err());
        assert!(PinEntry::parse(&format!(":{a}")).is_err());
        let mut single = vec![PluginSpec::new(PathBuf::from("x.wasm"))];
        pin_specs(&mut single, &[pin(&a.to_uppercase())], "--plugin-sha256").unwrap();
        assert_eq!(single[0].sha256, Some([0xaa; 32]));
    }
}
