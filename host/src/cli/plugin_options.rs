//! What the command line says about the plugins, turned into the runtime's
//! [`PluginSpec`]s: the chain of plugin files, the configuration of each
//! (`--plugin-config [NAME:]KEY=VALUE`), the digests they are pinned to
//! (`--plugin-sha256 [NAME:]SHA256`), what each is granted beyond the
//! sandbox (`--plugin-env`, `--plugin-dir-ro`, `--plugin-connect`) and the
//! limits of one plugin that differ from every plugin's (`--plugin-memory
//! NAME:SIZE`, `--plugin-timeout NAME:TIME`).
//!
//! Owns: the per-plugin options and how they reach their plugins. Uses:
//! the runtime's spec types and the value parsers.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use yell_runtime::{
    digest_hex, parse_digest, plugin_name, Digest256, DirGrant, HeldDir, OwnLimits, PluginSpec,
    DEFAULT_INSTANCE_MEMORY, DEFAULT_WALL_MULTIPLE,
};

use super::values::{parse_byte_size, parse_time_limit};

/// The options, the same for `serve` and `pipe`, that give plugins more
/// than the sandbox (WASI grants) and bound them (memory and time, each
/// plugin's own where named).
#[derive(Args, Debug, Clone, Default)]
pub struct SandboxArgs {
    /// Let a plugin see an environment variable, as KEY=VALUE, or KEY alone
    /// for the value this process has (which keeps a secret off the command
    /// line); plugins see no environment otherwise. Repeatable; in a chain,
    /// NAME:KEY=VALUE. Keys are logged at load, values never.
    #[arg(long = "plugin-env", value_name = "[NAME:]KEY[=VALUE]", value_parser = parse_env_entry)]
    pub plugin_env: Vec<ConfigEntry>,

    /// Let a plugin read a directory and what is under it, nothing else of
    /// the file system: DIR, which the plugin sees at the same path, or
    /// DIR::GUEST_PATH. In a chain, NAME:DIR. Repeatable.
    #[arg(long = "plugin-dir-ro", value_name = "[NAME:]DIR[::GUEST]", value_parser = parse_dir_entry)]
    pub plugin_dir_ro: Vec<PerPlugin<DirGrant>>,

    /// Let a plugin open TCP connections to this address, and to no other
    /// (plugins have no network otherwise). Such a plugin may also look
    /// names up, as language runtimes resolve before they connect.
    /// Repeatable. In a chain, NAME:IP:PORT.
    #[arg(long = "plugin-connect", value_name = "[NAME:]IP:PORT", value_parser = parse_connect_grant)]
    pub plugin_connect: Vec<PerPlugin<SocketAddr>>,

    /// Most linear memory one plugin instance may use (e.g. `64MiB`)
    /// [default: 64MiB]. NAME:SIZE sets it for one plugin of the chain;
    /// repeatable.
    #[arg(long = "plugin-memory", value_name = "[NAME:]SIZE", value_parser = parse_memory_entry)]
    pub plugin_memory: Vec<PerPlugin<usize>>,

    /// Most running time one plugin call may use (e.g. `100ms`, `2s`): the
    /// time the plugin itself runs, not time spent waiting for a CPU
    /// [default: 100ms; 1s for `pipe`]. NAME:TIME sets it for one plugin of
    /// the chain; repeatable.
    #[arg(long, value_name = "[NAME:]TIME", value_parser = parse_time_entry)]
    pub plugin_timeout: Vec<PerPlugin<Duration>>,

    /// Most wall-clock time one plugin call may take, waiting for a CPU or
    /// on the host included (whichever of the two limits comes first ends
    /// the call) [default: 10 times --plugin-timeout]. NAME:TIME sets it
    /// for one plugin of the chain; repeatable.
    #[arg(long, value_name = "[NAME:]TIME", value_parser = parse_time_entry)]
    pub plugin_wall_timeout: Vec<PerPlugin<Duration>>,
}

impl SandboxArgs {
    /// Gives the plugins of `specs` their grants and own memory caps, and
    /// returns every other plugin's memory cap.
    pub fn apply(&self, specs: &mut [PluginSpec]) -> Result<usize> {
        grant_specs(
            specs,
            &self.plugin_env,
            &self.plugin_dir_ro,
            &self.plugin_connect,
        )?;
        let memory = limit_specs(
            specs,
            &self.plugin_memory,
            "--plugin-memory",
            |own, bytes| own.memory_bytes = Some(bytes),
        )?;
        Ok(memory.unwrap_or(DEFAULT_INSTANCE_MEMORY))
    }

    /// Gives the plugins of `specs` their own time limits, and returns every
    /// other plugin's `(running time, wall-clock time)`, with
    /// `default_timeout` when none is given (see [`time_limit_specs`]).
    pub fn time_limits(
        &self,
        specs: &mut [PluginSpec],
        default_timeout: Duration,
    ) -> Result<(Duration, Duration)> {
        time_limit_specs(
            specs,
            &self.plugin_timeout,
            &self.plugin_wall_timeout,
            default_timeout,
        )
    }
}

/// Sets the plugins' own time limits from `--plugin-timeout` and
/// `--plugin-wall-timeout` entries, and returns every plugin's
/// `(running time, wall-clock time)`: `default_timeout` unless an entry
/// without a name says otherwise, and ten times the running time for the
/// wall clock unless given. A plugin with its own running time and no wall
/// clock of its own gets ten times its own, unless every plugin's wall clock
/// was given.
pub fn time_limit_specs(
    specs: &mut [PluginSpec],
    timeouts: &[PerPlugin<Duration>],
    wall_timeouts: &[PerPlugin<Duration>],
    default_timeout: Duration,
) -> Result<(Duration, Duration)> {
    let timeout = limit_specs(specs, timeouts, "--plugin-timeout", |own, limit| {
        own.call_timeout = Some(limit)
    })?
    .unwrap_or(default_timeout);
    let wall = limit_specs(
        specs,
        wall_timeouts,
        "--plugin-wall-timeout",
        |own, limit| own.wall_timeout = Some(limit),
    )?;
    for spec in specs.iter_mut() {
        let own = &mut spec.limits;
        if let (Some(limit), None, None) = (own.call_timeout, own.wall_timeout, wall) {
            own.wall_timeout = Some(limit * DEFAULT_WALL_MULTIPLE);
        }
    }
    Ok((timeout, wall.unwrap_or(timeout * DEFAULT_WALL_MULTIPLE)))
}

/// What a plugin run outside the server (`pipe`, `test`) runs under: the
/// grants and own limits of `sandbox` given to `specs`, the running time
/// of a call `default_timeout` unless `--plugin-timeout` says otherwise,
/// the rest the runtime's defaults.
pub fn offline_limits(
    sandbox: &SandboxArgs,
    specs: &mut [PluginSpec],
    default_timeout: std::time::Duration,
) -> Result<yell_runtime::PluginLimits> {
    let memory_bytes = sandbox.apply(specs)?;
    let (call_timeout, wall_timeout) = sandbox.time_limits(specs, default_timeout)?;
    Ok(yell_runtime::PluginLimits {
        call_timeout,
        wall_timeout,
        memory_bytes,
        largest_memory_bytes: largest_memory(specs, memory_bytes),
        ..yell_runtime::PluginLimits::default()
    })
}

/// The largest memory cap of any plugin: every plugin's, or one's own.
pub fn largest_memory(specs: &[PluginSpec], every_plugins: usize) -> usize {
    specs
        .iter()
        .filter_map(|spec| spec.limits.memory_bytes)
        .fold(every_plugins, usize::max)
}

/// Parses `--plugin-memory`'s value, `[NAME:]SIZE`.
pub fn parse_memory_entry(raw: &str) -> Result<PerPlugin<usize>> {
    PerPlugin::parse(raw, parse_byte_size)
}

/// Parses a time limit's value, `[NAME:]TIME`.
pub fn parse_time_entry(raw: &str) -> Result<PerPlugin<Duration>> {
    PerPlugin::parse(raw, parse_time_limit)
}

/// An option's value, maybe for one plugin: `[NAME:]VALUE`, NAME being
/// the plugin's name or position in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerPlugin<T> {
    pub plugin: Option<String>,
    pub value: T,
    /// The option as given, for error messages.
    pub raw: String,
}

impl<T> PerPlugin<T> {
    /// Parses `[NAME:]VALUE` with `parse` for the value. The text before
    /// the first ':' is a plugin name unless it holds a '/' (a path such
    /// as `/srv/data::/data`).
    pub fn parse(raw: &str, parse: impl Fn(&str) -> Result<T>) -> Result<PerPlugin<T>> {
        // `data::/data` is a lone plugin's DIR::GUEST, not plugin `data`.
        let named = raw
            .split_once(':')
            .filter(|(name, rest)| !name.contains('/') && !rest.starts_with(':'));
        let (plugin, value) = match named {
            Some(("", _)) => bail!("expected [NAME:]VALUE, got {raw:?}"),
            Some((name, value)) => (Some(name.to_string()), value),
            None => (None, raw),
        };
        Ok(PerPlugin {
            plugin,
            value: parse(value).with_context(|| format!("in {raw:?}"))?,
            raw: raw.to_string(),
        })
    }
}

/// Parses `--plugin-dir-ro`'s value: `DIR[::GUEST]`; the plugin sees DIR at
/// GUEST, or at DIR's own path.
pub fn parse_dir_grant(raw: &str) -> Result<DirGrant> {
    let (host, guest) = match raw.split_once("::") {
        Some((host, guest)) => (host, guest),
        None => (raw, raw),
    };
    if host.is_empty() || guest.is_empty() {
        bail!("expected DIR or DIR::GUEST_PATH, got {raw:?}");
    }
    Ok(DirGrant {
        host: PathBuf::from(host),
        guest: guest.to_string(),
        held: None,
    })
}

/// Parses `--plugin-connect`'s value: `[NAME:]IP:PORT` (`127.0.0.1:6379`,
/// `[::1]:6379`, `cache:127.0.0.1:6379`).
pub fn parse_connect_grant(raw: &str) -> Result<PerPlugin<SocketAddr>> {
    let addr = |text: &str| -> Result<SocketAddr> {
        let addr: SocketAddr = text
            .parse()
            .with_context(|| format!("expected IP:PORT such as 127.0.0.1:6379, got {text:?}"))?;
        // Addresses nothing can connect to (WASI refuses them) would make
        // a grant that silently never works.
        let mapped = matches!(addr, SocketAddr::V6(v6) if v6.ip().to_ipv4_mapped().is_some());
        if addr.ip().is_unspecified() || addr.port() == 0 || mapped {
            bail!("{addr}: a plugin can only connect to a specific address and port (no 0.0.0.0, ::, port 0 or IPv4-mapped IPv6)");
        }
        Ok(addr)
    };
    match addr(raw) {
        Ok(value) => Ok(PerPlugin {
            plugin: None,
            value,
            raw: raw.to_string(),
        }),
        Err(_) => PerPlugin::parse(raw, addr),
    }
}

/// Parses `--plugin-env`'s value, `[NAME:]KEY[=VALUE]`: without a value,
/// this process's own value of KEY. Errors never show the value.
pub fn parse_env_entry(raw: &str) -> Result<ConfigEntry> {
    let (name_and_key, value) = match raw.split_once('=') {
        Some((name_and_key, value)) => (name_and_key, Some(value)),
        None => (raw, None),
    };
    let (plugin, key) = match name_and_key.split_once(':') {
        Some((plugin, key)) => (Some(plugin.to_string()), key),
        None => (None, name_and_key),
    };
    if key.is_empty() || plugin.as_deref() == Some("") {
        bail!("expected [NAME:]KEY[=VALUE], got {name_and_key:?}=...");
    }
    let value = match value {
        Some(value) => value.to_string(),
        None => std::env::var(key)
            .with_context(|| format!("{key}: no such variable in this process's environment"))?,
    };
    Ok(ConfigEntry {
        plugin,
        key: key.to_string(),
        value,
    })
}

/// Parses `--plugin-dir-ro`'s whole value, `[NAME:]DIR[::GUEST]`.
pub fn parse_dir_entry(raw: &str) -> Result<PerPlugin<DirGrant>> {
    PerPlugin::parse(raw, parse_dir_grant)
}

/// Grants of `--plugin-env`, `--plugin-dir-ro` and `--plugin-connect`,
/// given to the plugins they name (a lone plugin needs no name).
pub fn grant_specs(
    specs: &mut [PluginSpec],
    env: &[ConfigEntry],
    dirs: &[PerPlugin<DirGrant>],
    connect: &[PerPlugin<SocketAddr>],
) -> Result<()> {
    for entry in env {
        let shown = match &entry.plugin {
            Some(plugin) => format!("{plugin}:{}=...", entry.key),
            None => format!("{}=...", entry.key),
        };
        let which = "Write NAME:KEY=VALUE";
        for target in targets(
            specs,
            entry.plugin.as_deref(),
            "--plugin-env",
            &shown,
            which,
        )? {
            // A key given again: the last value holds.
            let env = &mut specs[target].grants.env;
            env.retain(|(key, _)| *key != entry.key);
            env.push((entry.key.clone(), entry.value.clone()));
        }
    }
    for dir in dirs {
        let flag = "--plugin-dir-ro";
        let host = std::fs::canonicalize(&dir.value.host)
            .with_context(|| format!("{flag} {}: {}", dir.raw, dir.value.host.display()))?;
        if !host.is_dir() {
            bail!("{flag} {}: {} is not a directory", dir.raw, host.display());
        }
        let held = std::fs::File::open(&host)
            .with_context(|| format!("{flag} {}: {}", dir.raw, host.display()))?;
        let grant = DirGrant {
            host,
            guest: dir.value.guest.clone(),
            held: Some(HeldDir::new(held)),
        };
        let which = "Write NAME:DIR";
        for target in targets(specs, dir.plugin.as_deref(), flag, &dir.raw, which)? {
            specs[target].grants.read_only_dirs.push(grant.clone());
        }
    }
    for addr in connect {
        let (flag, which) = ("--plugin-connect", "Write NAME:IP:PORT");
        for target in targets(specs, addr.plugin.as_deref(), flag, &addr.raw, which)? {
            specs[target].grants.connect.push(addr.value);
        }
    }
    Ok(())
}

/// Sets the limit `set` of the plugins that `entries` name, and returns the
/// value given without a name (the last one), which is every other
/// plugin's.
pub fn limit_specs<T: Copy>(
    specs: &mut [PluginSpec],
    entries: &[PerPlugin<T>],
    flag: &str,
    set: impl Fn(&mut OwnLimits, T),
) -> Result<Option<T>> {
    let mut default = None;
    for entry in entries {
        let Some(plugin) = entry.plugin.as_deref() else {
            default = Some(entry.value);
            continue;
        };
        let which = "Write NAME:VALUE";
        for target in targets(specs, Some(plugin), flag, &entry.raw, which)? {
            set(&mut specs[target].limits, entry.value);
        }
    }
    Ok(default)
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
    fn grants_and_own_limits_go_to_their_plugins() {
        let mut specs = chain_specs(
            vec![PathBuf::from("x/upper.wasm"), PathBuf::from("rot13.wasm")],
            &[],
            "--plugin-config",
        )
        .unwrap();
        let dir = std::env::temp_dir();
        let dir_text = dir.display().to_string();
        grant_specs(
            &mut specs,
            &[entry("upper:TOKEN=s3cret")],
            &[parse_dir_entry(&format!("2:{dir_text}::/data")).unwrap()],
            &[parse_connect_grant("upper:[::1]:6379").unwrap()],
        )
        .unwrap();
        assert_eq!(specs[0].grants.env, [("TOKEN".into(), "s3cret".into())]);
        assert_eq!(specs[0].grants.connect, ["[::1]:6379".parse().unwrap()]);
        assert!(!specs[0].grants.describe().contains("s3cret"));
        assert_eq!(specs[1].grants.read_only_dirs[0].guest, "/data");
        assert_eq!(
            specs[1].grants.read_only_dirs[0].host,
            std::fs::canonicalize(&dir).unwrap()
        );
        // A lone address or path needs no name; a chain does.
        assert_eq!(parse_connect_grant("127.0.0.1:80").unwrap().plugin, None);
        assert_eq!(parse_dir_entry("/srv/a::/b").unwrap().plugin, None);
        assert_eq!(parse_dir_entry("/srv/a").unwrap().value.guest, "/srv/a");
        assert!(grant_specs(
            &mut specs,
            &[],
            &[],
            &[parse_connect_grant("127.0.0.1:80").unwrap()]
        )
        .is_err());
        assert!(grant_specs(
            &mut specs,
            &[],
            &[parse_dir_entry("1:/no/such/dir/here").unwrap()],
            &[]
        )
        .is_err());
        assert!(parse_connect_grant("upper:localhost:80").is_err());
        for never in [
            "0.0.0.0:80",
            "[::]:80",
            "127.0.0.1:0",
            "[::ffff:127.0.0.1]:80",
        ] {
            assert!(parse_connect_grant(never).is_err(), "{never}");
        }
        // A lone plugin's relative DIR::GUEST is not a plugin name.
        let relative = parse_dir_entry("data::/data").unwrap();
        assert_eq!(
            (relative.plugin, relative.value.guest.as_str()),
            (None, "/data")
        );
        // KEY alone takes this process's value; errors never show a value.
        std::env::set_var("YELL_SPEC_TEST_TOKEN", "t0ken");
        assert_eq!(
            parse_env_entry("YELL_SPEC_TEST_TOKEN").unwrap().value,
            "t0ken"
        );
        assert!(parse_env_entry("YELL_SPEC_NO_SUCH_VARIABLE").is_err());
        let refused = parse_env_entry(":K=s3cret").unwrap_err().to_string();
        assert!(!refused.contains("s3cret"), "{refused}");
        grant_specs(&mut specs, &[entry("upper:TOKEN=newer")], &[], &[]).unwrap();
        assert_eq!(specs[0].grants.env, [("TOKEN".into(), "newer".into())]);

        let memory = |raw: &str| {
            PerPlugin::parse(raw, |text| text.parse::<usize>().map_err(Into::into)).unwrap()
        };
        let default = limit_specs(
            &mut specs,
            &[memory("7"), memory("rot13:9")],
            "--plugin-memory",
            |limits, bytes| limits.memory_bytes = Some(bytes),
        )
        .unwrap();
        assert_eq!(default, Some(7));
        assert_eq!(specs[0].limits.memory_bytes, None);
        assert_eq!(specs[1].limits.memory_bytes, Some(9));
        assert!(limit_specs(
            &mut specs,
            &[memory("lower:9")],
            "--plugin-memory",
            |limits, bytes| limits.memory_bytes = Some(bytes)
        )
        .is_err());
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
