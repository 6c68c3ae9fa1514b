//! Layered configuration, built once and passed down: built-in defaults, then a TOML file
//! (`--config`, `CASTELLAN_CONFIG`, or `./castellan.toml` when present), then `CASTELLAN_*`
//! environment variables (`__` separates nested keys, e.g. `CASTELLAN_WORKER__CONCURRENCY`),
//! then secrets from files named by `CASTELLAN_*_FILE`, then command-line flags.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Where the SQLite file (and later the vault key) live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: SQLite file inside `data_dir`.
    pub database_url: Option<String>,
    /// `pretty` (human-readable) or `json`.
    pub log_format: String,
    /// A tracing filter such as `info` or `castellan=debug,info` (`RUST_LOG` wins when set).
    pub log_level: String,
    /// The URL people reach Castellan at.
    pub public_url: Option<String>,
    /// Mark cookies Secure (serve behind HTTPS).
    pub secure_cookies: bool,
    pub session_ttl_secs: u64,
    pub database_max_connections: u32,
    /// Base64 of the 32-byte vault master key (usually via `CASTELLAN_MASTER_KEY_FILE`); when
    /// unset, the keyring file `master.key` in `data_dir` is used (created on first run).
    pub master_key: Option<Redacted>,
    pub worker: WorkerSection,
    /// Where e-mail goes (`smtp.host`, `smtp.port`, `smtp.tls` none|starttls|tls,
    /// `smtp.username`, `smtp.password`, `smtp.from`); without it e-mails stay in the outbox.
    pub smtp: Option<castellan_services::SmtpConfig>,
    /// Requests per second sent to each platform (`connectors.pinterest_rate_per_sec`,
    /// `connectors.tiktok_rate_per_sec`; 0 for no limit) and TikTok's coverage window.
    pub connectors: ConnectorsSection,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectorsSection {
    pub pinterest_rate_per_sec: f64,
    pub tiktok_rate_per_sec: f64,
    /// TikTok's coverage window: each asset's holders (and each partner's shared assets) are
    /// read at least once in this many checks, at least `tiktok_window_min_assets` a check
    /// (1: everything, every check). See `castellan_domain::coverage`.
    pub tiktok_window_checks: u32,
    pub tiktok_window_min_assets: usize,
}

impl Default for ConnectorsSection {
    /// The documented limits (see `PlatformRates::DOCUMENTED`).
    fn default() -> Self {
        let d = castellan_services::PlatformRates::DOCUMENTED;
        Self {
            pinterest_rate_per_sec: d.pinterest.unwrap_or(0.0),
            tiktok_rate_per_sec: d.tiktok.unwrap_or(0.0),
            tiktok_window_checks: castellan_services::Coverage::DEFAULT.tiktok.window,
            tiktok_window_min_assets: castellan_services::Coverage::DEFAULT.tiktok.min_per_check,
        }
    }
}

/// A configuration secret: deserialises like a string, prints as `[redacted]`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Redacted(pub String);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerSection {
    /// Run a worker inside `castellan serve`.
    pub in_process: bool,
    pub concurrency: usize,
    pub lease_secs: u64,
    pub poll_ms: u64,
    pub shutdown_grace_secs: u64,
}

impl Default for WorkerSection {
    fn default() -> Self {
        Self {
            in_process: true,
            concurrency: 4,
            lease_secs: 60,
            poll_ms: 500,
            shutdown_grace_secs: 20,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./castellan-data"),
            database_url: None,
            log_format: "pretty".into(),
            log_level: "info".into(),
            public_url: None,
            secure_cookies: false,
            session_ttl_secs: 12 * 3600,
            database_max_connections: 8,
            master_key: None,
            worker: WorkerSection::default(),
            smtp: None,
            connectors: ConnectorsSection::default(),
        }
    }
}

/// Values given as flags; only the ones set override the layers below.
#[derive(Debug, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
}

/// Environment variables that configure tests, not the server.
const NOT_CONFIG: &[&str] = &[
    "config",
    "test_postgres_url",
    "require_postgres",
    "require_specs",
    "specs_dir",
];

impl Config {
    pub fn load(file: Option<&Path>, flags: &FlagOverrides) -> anyhow::Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("CASTELLAN_CONFIG").map(PathBuf::from));
        let file = match file {
            Some(f) if !f.exists() => {
                anyhow::bail!("config file {} does not exist", f.display())
            }
            Some(f) => Some(f),
            None if Path::new("castellan.toml").exists() => Some(PathBuf::from("castellan.toml")),
            None => None,
        };
        if let Some(f) = file {
            unknown_keys(&f)?;
            fig = fig.merge(Toml::file(f));
        }
        fig = fig.merge(
            Env::prefixed("CASTELLAN_")
                .split("__")
                .filter(|k| !k.as_str().ends_with("_file") && !NOT_CONFIG.contains(&k.as_str())),
        );
        fig = fig.merge(Serialized::defaults(secrets_from_files()?));
        fig = fig.merge(Serialized::defaults(flags));
        let cfg: Config = fig
            .extract()
            .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !matches!(self.log_format.as_str(), "pretty" | "json") {
            anyhow::bail!(
                "configuration: log_format must be pretty or json, not {:?}",
                self.log_format
            );
        }
        self.listen.parse::<std::net::SocketAddr>().map_err(|_| {
            anyhow::anyhow!(
                "configuration: listen must be an address such as 127.0.0.1:8080, not {:?}",
                self.listen
            )
        })?;
        if self.worker.concurrency == 0 {
            anyhow::bail!("configuration: worker.concurrency must be at least 1");
        }
        Ok(())
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(u) => u.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("castellan.db").display()
            ),
        }
    }

    pub fn uses_sqlite_file(&self) -> bool {
        self.database_url
            .as_deref()
            .is_none_or(|u| u.starts_with("sqlite:"))
    }
}

/// Every key the file may hold, by section (`""` is the top level).
const KNOWN: &[(&str, &[&str])] = &[
    (
        "",
        &[
            "listen",
            "data_dir",
            "database_url",
            "log_format",
            "log_level",
            "public_url",
            "secure_cookies",
            "session_ttl_secs",
            "database_max_connections",
            "master_key",
            "worker",
            "smtp",
            "connectors",
        ],
    ),
    (
        "worker",
        &[
            "in_process",
            "concurrency",
            "lease_secs",
            "poll_ms",
            "shutdown_grace_secs",
        ],
    ),
    (
        "smtp",
        &["host", "port", "tls", "username", "password", "from"],
    ),
    (
        "connectors",
        &[
            "pinterest_rate_per_sec",
            "tiktok_rate_per_sec",
            "tiktok_window_checks",
            "tiktok_window_min_assets",
        ],
    ),
];

/// Refuses a configuration file with a key Castellan does not read (a typo such as `lisen`
/// would otherwise be ignored silently), naming the key and the file.
fn unknown_keys(file: &Path) -> anyhow::Result<()> {
    let dict: figment::value::Dict = Figment::from(Toml::file(file))
        .extract()
        .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    let known = |section: &str| {
        KNOWN
            .iter()
            .find(|(s, _)| *s == section)
            .map(|(_, k)| *k)
            .unwrap_or(&[])
    };
    let check = |section: &str, d: &figment::value::Dict| -> anyhow::Result<()> {
        for key in d.keys() {
            if !known(section).contains(&key.as_str()) {
                let full = if section.is_empty() {
                    key.clone()
                } else {
                    format!("{section}.{key}")
                };
                anyhow::bail!("configuration: unknown key `{full}` in {}", file.display());
            }
        }
        Ok(())
    };
    check("", &dict)?;
    for section in ["worker", "smtp", "connectors"] {
        if let Some(figment::value::Value::Dict(_, d)) = dict.get(section) {
            check(section, d)?;
        }
    }
    Ok(())
}

/// `CASTELLAN_DATABASE_URL_FILE=/run/secrets/db` sets `database_url` from that file (for
/// container secrets), without the secret passing through the environment.
fn secrets_from_files() -> anyhow::Result<figment::value::Dict> {
    let mut dict = figment::value::Dict::new();
    for (k, v) in std::env::vars() {
        if let Some(name) = k
            .strip_prefix("CASTELLAN_")
            .and_then(|k| k.strip_suffix("_FILE"))
        {
            let content = std::fs::read_to_string(&v)
                .map_err(|e| anyhow::anyhow!("{k}: cannot read {v}: {e}"))?;
            let value = figment::value::Value::from(content.trim().to_string());
            // `CASTELLAN_SMTP__PASSWORD_FILE` sets `smtp.password`.
            let name = name.to_lowercase();
            match name.split_once("__") {
                Some((section, key)) => {
                    let entry = dict
                        .entry(section.to_string())
                        .or_insert_with(|| figment::value::Dict::new().into());
                    if let figment::value::Value::Dict(_, d) = entry {
                        d.insert(key.to_string(), value);
                    }
                }
                None => {
                    dict.insert(name, value);
                }
            }
        }
    }
    Ok(dict)
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment's Jail API returns its own large error type
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                "listen = \"127.0.0.1:9000\"\nlog_format = \"json\"\n[worker]\nconcurrency = 7\n",
            )?;
            jail.create_file("db.secret", "postgres://secret@db/castellan\n")?;
            jail.set_env("CASTELLAN_LOG_FORMAT", "pretty");
            jail.set_env("CASTELLAN_WORKER__LEASE_SECS", "99");
            jail.set_env("CASTELLAN_DATABASE_URL_FILE", "db.secret");
            let flags = FlagOverrides {
                listen: Some("127.0.0.1:9100".into()),
                ..Default::default()
            };
            let c = Config::load(Some(Path::new("c.toml")), &flags).map_err(|e| e.to_string())?;
            assert_eq!(c.listen, "127.0.0.1:9100");
            assert_eq!(c.log_format, "pretty");
            assert_eq!(c.worker.concurrency, 7);
            assert_eq!(c.worker.lease_secs, 99);
            assert_eq!(
                c.database_url.as_deref(),
                Some("postgres://secret@db/castellan")
            );
            assert!(c.smtp.is_none());
            jail.create_file("smtp.secret", "hunter2\n")?;
            jail.set_env("CASTELLAN_SMTP__HOST", "mail.acme.example.com");
            jail.set_env(
                "CASTELLAN_SMTP__FROM",
                "Castellan <castellan@acme.example.com>",
            );
            jail.set_env("CASTELLAN_SMTP__PASSWORD_FILE", "smtp.secret");
            let c = Config::load(Some(Path::new("c.toml")), &flags).map_err(|e| e.to_string())?;
            let smtp = c.smtp.expect("smtp section");
            assert_eq!(
                (smtp.host.as_str(), smtp.port),
                ("mail.acme.example.com", 587)
            );
            assert_eq!(smtp.password.as_deref(), Some("hunter2"));
            assert!(!format!("{smtp:?}").contains("hunter2"));
            Ok(())
        });
    }

    /// Every field of the configuration is a key the file check knows.
    #[test]
    fn the_known_keys_are_the_fields() {
        let v = serde_json::to_value(Config::default()).unwrap();
        let top = KNOWN[0].1;
        for k in v.as_object().unwrap().keys() {
            assert!(top.contains(&k.as_str()), "{k} missing from KNOWN");
        }
        for k in v["worker"].as_object().unwrap().keys() {
            assert!(
                KNOWN[1].1.contains(&k.as_str()),
                "worker.{k} missing from KNOWN"
            );
        }
    }

    #[test]
    fn connector_rates_default_to_the_documented_limits() {
        figment::Jail::expect_with(|jail| {
            let c = Config::load(None, &FlagOverrides::default()).map_err(|e| e.to_string())?;
            assert!((c.connectors.pinterest_rate_per_sec - 1000.0 / 60.0).abs() < 1e-9);
            assert_eq!(c.connectors.tiktok_rate_per_sec, 10.0);
            jail.set_env("CASTELLAN_CONNECTORS__TIKTOK_RATE_PER_SEC", "20");
            let c = Config::load(None, &FlagOverrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.connectors.tiktok_rate_per_sec, 20.0);
            assert_eq!(c.connectors.tiktok_window_checks, 12);
            jail.set_env("CASTELLAN_CONNECTORS__TIKTOK_WINDOW_CHECKS", "1");
            let c = Config::load(None, &FlagOverrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.connectors.tiktok_window_checks, 1);
            Ok(())
        });
    }

    #[test]
    fn defaults_and_bad_values() {
        figment::Jail::expect_with(|jail| {
            let c = Config::load(None, &FlagOverrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.listen, "127.0.0.1:8080");
            assert!(
                c.database_url()
                    .starts_with("sqlite://./castellan-data/castellan.db")
            );
            jail.create_file("typo.toml", "lisen = \"x\"\n")?;
            let e = Config::load(Some(Path::new("typo.toml")), &FlagOverrides::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains("`lisen`") && e.contains("typo.toml"), "{e}");
            jail.create_file("nested.toml", "[worker]\nconcurency = 3\n")?;
            let e = Config::load(Some(Path::new("nested.toml")), &FlagOverrides::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains("`worker.concurency`"), "{e}");
            jail.set_env("CASTELLAN_LOG_FORMAT", "xml");
            assert!(
                Config::load(None, &FlagOverrides::default())
                    .unwrap_err()
                    .to_string()
                    .contains("log_format")
            );
            Ok(())
        });
    }
}
