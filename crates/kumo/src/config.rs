//! Configuration in two phases: raw values from `kumo.toml`, `KUMO_SECTION_KEY` environment
//! variables and command-line flags, then one validated [`Settings`].

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9900";
use crate::paths::DEFAULT_DATA_DIR;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    pub server: ServerSection,
    pub limits: LimitsSection,
    pub runtimes: RuntimesSection,
    pub sandbox: SandboxSection,
    pub auth: crate::auth::AuthSection,
    pub logs: crate::telemetry::LogsSection,
    pub usage: crate::telemetry::UsageSection,
    pub pricing: crate::telemetry::PricingSection,
    pub metrics: crate::telemetry::MetricsSection,
    pub events: crate::events::EventsSection,
    pub storage: StorageSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageSection {
    /// How often unreferenced code packages are looked for.
    pub code_gc_interval_secs: Option<u64>,
    /// How long a package must have been unreferenced before it is deleted.
    pub code_gc_grace_secs: Option<u64>,
    /// How long GetFunction's presigned `Code.Location` links stay valid.
    pub code_link_expires_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxSection {
    pub uid_base: Option<u32>,
    pub uid_count: Option<u32>,
    pub cpu_hard_limit: Option<bool>,
    /// Network namespaces kept ready for cold starts (0 disables the pool).
    pub prepared_networks: Option<usize>,
    /// `outbound` (default) or `none`.
    pub network: Option<String>,
    /// Private or host destinations environments may reach anyway: `"CIDR:PORT"` or `"CIDR"`.
    pub allow_outbound: Option<Vec<String>>,
    /// `disk` (default): `/tmp` is a filesystem of its own on disk; `memory`: a tmpfs that
    /// counts against the function's memory.
    pub tmp: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub region: Option<String>,
    pub account_id: Option<String>,
    /// Open HTTP connections at most; at the cap an idle one is closed for a new one.
    pub max_connections: Option<usize>,
    /// A connection must send a complete request head within this.
    pub header_read_timeout_secs: Option<u64>,
    /// A kept-alive connection with no request in progress is closed after this.
    pub keep_alive_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    pub account_concurrency: Option<u32>,
    pub idle_timeout_secs: Option<u64>,
    pub init_timeout_secs: Option<u64>,
    pub shutdown_grace_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimesSection {
    pub python: Option<PathBuf>,
    pub node: Option<PathBuf>,
    /// The JDK 17 that builds and runs `java17` functions.
    pub java_home: Option<PathBuf>,
    /// The Mono that runs `dotnet8` functions (`mcs` next to it builds the bootstrap).
    pub mono: Option<PathBuf>,
    /// Where the compiled runtime bootstraps are built and kept (default: `<data dir>/runtime-build`).
    pub build_dir: Option<PathBuf>,
}

/// Validated settings of `kumo serve`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub region: String,
    pub account_id: String,
    pub account_concurrency: u32,
    pub idle_timeout: Duration,
    pub code_gc_interval: Duration,
    pub code_gc_grace: Duration,
    pub code_link_lifetime: Duration,
    pub init_timeout: Duration,
    pub shutdown_grace: Duration,
    pub python: PathBuf,
    pub node: PathBuf,
    pub java_home: PathBuf,
    pub mono: PathBuf,
    pub runtime_build_dir: PathBuf,
    /// `None`: claim a free range at start (see `uids`).
    pub sandbox_uid_base: Option<u32>,
    pub sandbox_uid_count: u32,
    pub cpu_hard_limit: bool,
    pub prepared_networks: usize,
    pub outbound_network: bool,
    /// Destinations exempt from the outbound filter.
    pub allow_outbound: Vec<kumo_sandbox::AllowRule>,
    /// `/tmp` on disk (true) or in memory.
    pub tmp_on_disk: bool,
    pub auth: crate::auth::AuthSettings,
    /// Log retention and size bound, prices, metrics access.
    pub telemetry: crate::telemetry::TelemetrySettings,
    /// Timing of asynchronous retries and schedules.
    pub events: kumo_events::AsyncSettings,
    /// Connection cap and timeouts of the HTTP API.
    pub http: kumo_http::Limits,
}

fn env_var(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

fn env_parse<T: std::str::FromStr>(key: &str) -> Result<Option<T>> {
    match env_var(key) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("invalid value {v:?} in environment variable {key}")),
    }
}

impl Settings {
    /// Reads the file (if any), applies environment overrides, then flags.
    pub fn load(
        config: Option<&Path>,
        listen: Option<String>,
        data_dir: Option<PathBuf>,
    ) -> Result<Self> {
        let file: FileConfig = match config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("while reading config file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("while parsing config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let listen = listen
            .or_else(|| env_var("KUMO_SERVER_LISTEN"))
            .or(file.server.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen: SocketAddr = listen
            .parse()
            .with_context(|| format!("invalid listen address {listen:?} (expected HOST:PORT)"))?;
        let data_dir = data_dir
            .or_else(|| env_var("KUMO_SERVER_DATA_DIR").map(PathBuf::from))
            .or(file.server.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let runtime_build_dir = env_var("KUMO_RUNTIMES_BUILD_DIR")
            .map(PathBuf::from)
            .or(file.runtimes.build_dir.clone())
            .unwrap_or_else(|| data_dir.join("runtime-build"));
        let region = env_var("KUMO_SERVER_REGION")
            .or(file.server.region)
            .unwrap_or_else(|| "us-east-1".into());
        let region_ok = region.split('-').count() >= 3
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !region_ok {
            bail!("invalid region {region:?} (expected e.g. us-east-1)");
        }
        let account_id = env_var("KUMO_SERVER_ACCOUNT_ID")
            .or(file.server.account_id)
            .unwrap_or_else(|| "123456789012".into());
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            bail!("invalid account_id {account_id:?} (expected 12 digits)");
        }
        let account_concurrency = env_parse("KUMO_LIMITS_ACCOUNT_CONCURRENCY")?
            .or(file.limits.account_concurrency)
            .unwrap_or(1000);
        if account_concurrency == 0 {
            bail!("limits.account_concurrency must be at least 1");
        }
        let secs = |key: &str, file: Option<u64>, default: u64| -> Result<Duration> {
            Ok(Duration::from_secs(
                env_parse(key)?.or(file).unwrap_or(default),
            ))
        };
        let allow_outbound = env_var("KUMO_SANDBOX_ALLOW_OUTBOUND")
            .map(|v| v.split(',').map(str::to_owned).collect::<Vec<_>>())
            .or(file.sandbox.allow_outbound)
            .unwrap_or_default()
            .iter()
            .filter(|entry| !entry.trim().is_empty())
            .map(|entry| entry.parse().context("in sandbox.allow_outbound"))
            .collect::<Result<Vec<kumo_sandbox::AllowRule>>>()?;
        // Lambda's presigned code links live 10 minutes; SigV4 presigning allows up to 7 days.
        let code_link_lifetime = secs(
            "KUMO_STORAGE_CODE_LINK_EXPIRES_SECS",
            file.storage.code_link_expires_secs,
            600,
        )?;
        if !(1..=7 * 24 * 3600).contains(&code_link_lifetime.as_secs()) {
            bail!("storage.code_link_expires_secs must be between 1 and 604800");
        }
        let max_connections = env_parse("KUMO_SERVER_MAX_CONNECTIONS")?
            .or(file.server.max_connections)
            .unwrap_or(4096);
        if max_connections == 0 {
            bail!("server.max_connections must be at least 1");
        }
        let http = kumo_http::Limits {
            max_connections,
            header_read_timeout: secs(
                "KUMO_SERVER_HEADER_READ_TIMEOUT_SECS",
                file.server.header_read_timeout_secs,
                10,
            )?,
            idle_timeout: secs(
                "KUMO_SERVER_KEEP_ALIVE_TIMEOUT_SECS",
                file.server.keep_alive_timeout_secs,
                60,
            )?,
        };
        if http.header_read_timeout.is_zero() || http.idle_timeout.is_zero() {
            bail!("server.header_read_timeout_secs and server.keep_alive_timeout_secs must be at least 1");
        }
        Ok(Self {
            allow_outbound,
            http,
            auth: crate::auth::AuthSettings::load(file.auth)?,
            code_link_lifetime,
            telemetry: crate::telemetry::TelemetrySettings::load(
                file.logs,
                file.usage,
                file.pricing,
                file.metrics,
            )?,
            events: file.events.load()?,
            listen,
            data_dir,
            region,
            account_id,
            account_concurrency,
            idle_timeout: secs(
                "KUMO_LIMITS_IDLE_TIMEOUT_SECS",
                file.limits.idle_timeout_secs,
                300,
            )?,
            code_gc_interval: secs(
                "KUMO_STORAGE_CODE_GC_INTERVAL_SECS",
                file.storage.code_gc_interval_secs,
                300,
            )?,
            // Longer than the longest invocation (900 s) an environment of old code may finish.
            code_gc_grace: secs(
                "KUMO_STORAGE_CODE_GC_GRACE_SECS",
                file.storage.code_gc_grace_secs,
                1800,
            )?,
            init_timeout: secs(
                "KUMO_LIMITS_INIT_TIMEOUT_SECS",
                file.limits.init_timeout_secs,
                10,
            )?,
            shutdown_grace: secs(
                "KUMO_LIMITS_SHUTDOWN_GRACE_SECS",
                file.limits.shutdown_grace_secs,
                30,
            )?,
            python: env_var("KUMO_RUNTIMES_PYTHON")
                .map(PathBuf::from)
                .or(file.runtimes.python)
                .unwrap_or_else(|| PathBuf::from("/usr/bin/python3")),
            node: env_var("KUMO_RUNTIMES_NODE")
                .map(PathBuf::from)
                .or(file.runtimes.node)
                .unwrap_or_else(|| PathBuf::from("/usr/bin/node")),
            java_home: env_var("KUMO_RUNTIMES_JAVA_HOME")
                .map(PathBuf::from)
                .or(file.runtimes.java_home)
                .unwrap_or_else(|| PathBuf::from("/usr/lib/jvm/java-17-openjdk-amd64")),
            mono: env_var("KUMO_RUNTIMES_MONO")
                .map(PathBuf::from)
                .or(file.runtimes.mono)
                .unwrap_or_else(|| PathBuf::from("/usr/bin/mono")),
            runtime_build_dir,
            sandbox_uid_base: env_parse("KUMO_SANDBOX_UID_BASE")?.or(file.sandbox.uid_base),
            sandbox_uid_count: env_parse("KUMO_SANDBOX_UID_COUNT")?
                .or(file.sandbox.uid_count)
                .unwrap_or(10_000),
            cpu_hard_limit: env_parse("KUMO_SANDBOX_CPU_HARD_LIMIT")?
                .or(file.sandbox.cpu_hard_limit)
                .unwrap_or(false),
            prepared_networks: env_parse("KUMO_SANDBOX_PREPARED_NETWORKS")?
                .or(file.sandbox.prepared_networks)
                .unwrap_or(4),
            outbound_network: match env_var("KUMO_SANDBOX_NETWORK")
                .or(file.sandbox.network)
                .as_deref()
            {
                None | Some("outbound") => true,
                Some("none") => false,
                Some(other) => {
                    bail!("invalid sandbox.network {other:?} (expected \"outbound\" or \"none\")")
                }
            },
            tmp_on_disk: match env_var("KUMO_SANDBOX_TMP").or(file.sandbox.tmp).as_deref() {
                None | Some("disk") => true,
                Some("memory") => false,
                Some(other) => {
                    bail!("invalid sandbox.tmp {other:?} (expected \"disk\" or \"memory\")")
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_connection_bounds_have_defaults_and_refuse_zero() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kumo.toml");
        std::fs::write(&path, "").expect("write");
        let http = Settings::load(Some(&path), None, None)
            .expect("defaults")
            .http;
        assert_eq!(http.max_connections, 4096);
        assert_eq!(http.header_read_timeout, Duration::from_secs(10));
        assert_eq!(http.idle_timeout, Duration::from_secs(60));
        std::fs::write(&path, "[server]\nkeep_alive_timeout_secs = 7\n").expect("write");
        let http = Settings::load(Some(&path), None, None).expect("set").http;
        assert_eq!(http.idle_timeout, Duration::from_secs(7));
        for bad in ["header_read_timeout_secs = 0", "max_connections = 0"] {
            std::fs::write(&path, format!("[server]\n{bad}\n")).expect("write");
            assert!(Settings::load(Some(&path), None, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_keys_are_an_error() {
        let err = toml::from_str::<FileConfig>("[server]\nlisten = \"127.0.0.1:1\"\nbogus = 1\n");
        assert!(err.is_err());
        let ok = toml::from_str::<FileConfig>("[limits]\naccount_concurrency = 200\n");
        assert_eq!(
            ok.ok().and_then(|c| c.limits.account_concurrency),
            Some(200)
        );
    }

    #[test]
    fn allow_outbound_entries_are_parsed_and_bad_ones_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("kumo.toml");
        std::fs::write(
            &path,
            "[sandbox]\nallow_outbound = [\"10.0.5.7/32:5432\", \"192.168.10.0/24\"]\n",
        )
        .expect("write config");
        let settings = Settings::load(Some(&path), None, None).expect("valid config");
        let allow: Vec<String> = settings
            .allow_outbound
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(allow, ["10.0.5.7/32:5432", "192.168.10.0/24"]);
        std::fs::write(&path, "[sandbox]\nallow_outbound = [\"10.0.5.7/24\"]\n")
            .expect("write config");
        let err = Settings::load(Some(&path), None, None).expect_err("host bits set");
        assert!(format!("{err:#}").contains("10.0.5.7/24"), "{err:#}");
    }
}
