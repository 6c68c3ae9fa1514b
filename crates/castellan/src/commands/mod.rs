//! The commands, one module per group, and what they share: opening the store, the vault
//! and the services from the configuration, picking the workspace, the CLI's actor.

pub mod accounts;
pub mod admin;
pub mod apps;
pub mod demo;
pub mod emulate;
pub mod guests;
pub mod idp;
pub mod local_partners;
pub mod members;
pub mod partners;
pub mod scim;
pub mod serve;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use castellan_domain::Env;
use castellan_domain::audit::Actor;
use castellan_domain::auth::generate_secret;
use castellan_server::ServerSettings;
use castellan_services::Services;
use castellan_services::worker::WorkerConfig;
use castellan_store::{ConnectOptions, Store, Workspace};
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Opens the database a command works on; it must exist already (a mistyped `--data-dir`
/// says so instead of leaving a new empty database behind).
pub(crate) async fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    if cfg.uses_sqlite_file() && cfg.database_url.is_none() {
        let file = cfg.data_dir.join("castellan.db");
        if !file.exists() {
            anyhow::bail!(
                "there is no Castellan database at {} (check --data-dir); `castellan serve`, `migrate` or `admin bootstrap` create one",
                file.display()
            );
        }
    }
    connect(cfg).await
}

/// Opens the database, creating the SQLite file and data directory when they are missing
/// (for the commands that set a deployment up: serve, worker, migrate, bootstrap, demo).
pub(crate) async fn create_store(cfg: &Config) -> anyhow::Result<Store> {
    if cfg.uses_sqlite_file() {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    }
    connect(cfg).await
}

async fn connect(cfg: &Config) -> anyhow::Result<Store> {
    let url = cfg.database_url();
    if !cfg.uses_sqlite_file() {
        reachable(&url).await?;
    }
    let opts = ConnectOptions {
        max_connections: cfg.database_max_connections,
        ..Default::default()
    };
    let store = Store::connect(&url, Env::system(), opts)
        .await
        .context("connecting to the database")?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

/// A quick TCP probe of a PostgreSQL URL's host and port, so an unreachable server is named
/// within seconds (the pool alone retries for its whole acquire timeout, then says only
/// "pool timed out").
async fn reachable(url: &str) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url).context("database_url is not a URL")?;
    let host = parsed.host_str().unwrap_or("localhost").to_string();
    let port = parsed.port().unwrap_or(5432);
    if host.starts_with('/') || host.is_empty() {
        return Ok(()); // a Unix socket directory: nothing to probe over TCP
    }
    let probe = tokio::net::TcpStream::connect((host.as_str(), port));
    match tokio::time::timeout(Duration::from_secs(5), probe).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => anyhow::bail!("cannot reach PostgreSQL at {host}:{port}: {e}"),
        Err(_) => anyhow::bail!("cannot reach PostgreSQL at {host}:{port}: no answer within 5 s"),
    }
}

pub(crate) fn shutdown_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    // The handlers are installed here, before anything is served or printed: a signal that
    // comes early still shuts down in order (a handler set up inside the task could miss it).
    #[cfg(unix)]
    let (mut term, mut int) = {
        use tokio::signal::unix::{SignalKind, signal};
        (
            signal(SignalKind::terminate()).expect("SIGTERM handler"),
            signal(SignalKind::interrupt()).expect("SIGINT handler"),
        )
    };
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down: finishing or releasing running tasks");
        t.cancel();
    });
    token
}

/// The vault keyring: from `master_key` in the configuration, or the key file in the data
/// directory (generated with mode 0600 on first run, with a warning to back it up).
pub(crate) fn open_vault(cfg: &Config) -> anyhow::Result<Arc<castellan_vault::SharedKeyring>> {
    let env_key = cfg.master_key.as_ref().map(|k| k.0.as_str());
    let (ring, created) = Env::system()
        .with_rng(|r| castellan_vault::load_or_create(env_key, &cfg.data_dir, r))
        .map_err(|e| anyhow::anyhow!("vault: {e}"))?;
    let file = env_key.is_none().then(|| cfg.data_dir.join("master.key"));
    if created {
        tracing::warn!(path = %cfg.data_dir.join("master.key").display(), "generated a new vault master key; back it up (without it stored secrets cannot be read) or set CASTELLAN_MASTER_KEY_FILE");
    }
    Ok(Arc::new(castellan_vault::SharedKeyring::new(ring, file)))
}

pub(crate) fn worker_config(cfg: &Config) -> WorkerConfig {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    let suffix = Env::system().with_rng(|r| generate_secret("", r))[..8].to_string();
    let mut w = WorkerConfig::new(format!("{host}:{}:{suffix}", std::process::id()));
    w.concurrency = cfg.worker.concurrency;
    w.lease = Duration::from_secs(cfg.worker.lease_secs.max(1));
    w.poll_interval = Duration::from_millis(cfg.worker.poll_ms.max(10));
    w.shutdown_grace = Duration::from_secs(cfg.worker.shutdown_grace_secs);
    w
}

/// Where e-mails go: SMTP when configured (else the outbox keeps them), links to public_url.
pub(crate) fn mail(cfg: &Config, addr: std::net::SocketAddr) -> castellan_services::Mail {
    castellan_services::Mail {
        smtp: cfg.smtp.clone().map(Arc::new),
        public_url: settings(cfg, addr).public_url,
    }
}

pub(crate) fn settings(cfg: &Config, addr: std::net::SocketAddr) -> ServerSettings {
    ServerSettings {
        session_ttl: Duration::from_secs(cfg.session_ttl_secs),
        secure_cookies: cfg.secure_cookies,
        public_url: cfg
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}")),
        ..ServerSettings::default()
    }
}

pub(crate) async fn pick_workspace(store: &Store, name: Option<&str>) -> anyhow::Result<Workspace> {
    match name {
        Some(n) => store
            .workspace_by_name(n)
            .await
            .with_context(|| format!("workspace {n:?}")),
        None => {
            let all = store.list_workspaces().await?;
            match all.len() {
                1 => Ok(all.into_iter().next().expect("one")),
                0 => anyhow::bail!(
                    "there is no workspace yet; run `castellan admin bootstrap` first"
                ),
                _ => anyhow::bail!("there are several workspaces; pass --workspace NAME"),
            }
        }
    }
}

/// The operator of the machine acts with the Owner's rights, as no person of the workspace.
pub(crate) fn operator() -> castellan_services::local_partners::Acting {
    castellan_services::local_partners::Acting {
        person: castellan_domain::PersonId(uuid::Uuid::nil()),
        role: castellan_domain::workspace::WorkspaceRole::Owner,
    }
}

pub(crate) fn cli_actor() -> Actor {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    Actor::Automation {
        name: format!("cli:{user}"),
    }
}

/// The services over `store`, with the configured vault and mail (links to `addr` unless
/// `public_url` is set).
pub(crate) fn services(
    cfg: &Config,
    store: &Store,
    addr: std::net::SocketAddr,
) -> anyhow::Result<Services> {
    let mut svc = Services::new(store.clone(), open_vault(cfg)?);
    svc.mail = mail(cfg, addr);
    svc.rates = castellan_services::PlatformRates {
        pinterest: Some(cfg.connectors.pinterest_rate_per_sec.max(0.0)),
        tiktok: Some(cfg.connectors.tiktok_rate_per_sec.max(0.0)),
    };
    svc.coverage = coverage(cfg);
    Ok(svc)
}

/// The coverage window the configuration sets.
pub(crate) fn coverage(cfg: &Config) -> castellan_services::Coverage {
    castellan_services::Coverage {
        tiktok: castellan_services::CoverageWindow {
            window: cfg.connectors.tiktok_window_checks,
            min_per_check: cfg.connectors.tiktok_window_min_assets,
        },
    }
}

/// Follows a task until it ends, with a spinner showing its progress.
pub async fn wait_with_spinner(
    store: &Store,
    ws: &Workspace,
    task: &castellan_store::Task,
) -> anyhow::Result<castellan_store::Task> {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
            .expect("valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let done = loop {
        let t = store.ws(ws.id).task(task.id).await?;
        let progress = match t.progress_total {
            Some(total) => format!("{}/{total} ", t.progress_done),
            None => String::new(),
        };
        bar.set_message(format!(
            "{} — {progress}{}",
            t.status,
            t.progress_message
                .clone()
                .unwrap_or_else(|| "waiting for a worker".into())
        ));
        if t.status.is_final() {
            break t;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    bar.finish_and_clear();
    Ok(done)
}
