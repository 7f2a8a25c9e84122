//! What the command line says about the plugins: the chain of plugin files
//! and the configuration of each (`--plugin-config [NAME:]KEY=VALUE`).

use std::path::PathBuf;

use anyhow::{bail, Result};

/// One plugin of the chain as the command line gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSpec {
    pub path: PathBuf,
    /// Handed to the plugin's `init`.
    pub config: Vec<(String, String)>,
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
    let name_of = |path: &PathBuf| {
        path.file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let names: Vec<String> = paths.iter().map(name_of).collect();
    let mut specs: Vec<PluginSpec> = paths
        .into_iter()
        .map(|path| PluginSpec {
            path,
            config: Vec::new(),
        })
        .collect();
    for entry in entries {
        let shown = match &entry.plugin {
            Some(plugin) => format!("{plugin}:{}={}", entry.key, entry.value),
            None => format!("{}={}", entry.key, entry.value),
        };
        let targets: Vec<usize> = match &entry.plugin {
            None if specs.len() == 1 => vec![0],
            None => bail!(
                "{flag} {shown}: which plugin of the chain ({})? Write NAME:KEY=VALUE",
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
                entry.plugin.as_deref().unwrap_or_default(),
                names.join(", ")
            );
        }
        for target in targets {
            specs[target]
                .config
                .push((entry.key.clone(), entry.value.clone()));
        }
    }
    Ok(specs)
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
}
