//! The `castellan` command: the server, the worker, and operator tools.

mod config;
mod manage;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use castellan_domain::Env;
use castellan_domain::audit::Actor;
use castellan_domain::auth::{
    API_TOKEN_PREFIX, ApiScope, generate_password, generate_secret, hash_secret,
};
use castellan_domain::directory::plan_csv_import;
use castellan_domain::tasks::{TaskKind, TaskTrigger};
use castellan_domain::values::Email;
use castellan_domain::workspace::parse_workspace_name;
use castellan_server::metrics::Metrics;
use castellan_server::worker::{Registry, WorkerConfig};
use castellan_server::{AppState, ServerSettings};
use castellan_store::{ConnectOptions, NewTask, Store, Workspace};
use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, FlagOverrides};

#[derive(Parser)]
#[command(
    name = "castellan",
    version,
    about = "Access governance for paid-social business managers"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Global {
    /// TOML configuration file.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory (default ./castellan-data).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// sqlite://… or postgres://… (default: SQLite file in the data directory).
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Log format: pretty or json.
    #[arg(long, global = true)]
    log_format: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server with an in-process worker.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Run task workers only (several processes may share one PostgreSQL database).
    Worker {
        /// Tasks run at once by this process.
        #[arg(long)]
        concurrency: Option<usize>,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Run everything embedded on a fresh SQLite database with a sample workspace.
    Demo {
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
    },
    /// Workspace administration.
    #[command(subcommand)]
    Admin(AdminCmd),
    /// The corporate directory.
    #[command(subcommand)]
    Directory(DirectoryCmd),
    /// The activity log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Automation tasks.
    #[command(subcommand)]
    Tasks(TasksCmd),
    /// Print the OpenAPI document of the API.
    Openapi,
    /// Serve local emulators of Pinterest (/v5) and TikTok (/open_api/v1.3) on one listener.
    Emulate(EmulateArgs),
    /// The credential vault.
    #[command(subcommand)]
    Vault(VaultCmd),
    /// App integrations.
    #[command(subcommand)]
    Apps(AppsCmd),
    /// Manage an app's seats: remove, set roles and permissions, invite, match, exempt.
    #[command(subcommand)]
    Members(manage::MembersCmd),
    /// Check-for-updates reports: show, apply (remove deprovisioned seats), dismiss.
    #[command(subcommand)]
    Reports(manage::ReportsCmd),
    /// E-mails Castellan wrote (sent through SMTP, or kept here when none is configured).
    Outbox {
        #[arg(long)]
        workspace: Option<String>,
        #[arg(long)]
        json: bool,
        #[arg(long, default_value_t = 20)]
        limit: i64,
    },
    /// Benchmarks that print figures (speed and memory targets live here, not in tests).
    #[command(subcommand)]
    Bench(BenchCmd),
}

#[derive(Subcommand)]
enum AppsCmd {
    /// List the app integrations with their status and last check.
    List {
        #[arg(long)]
        workspace: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Check an app for updates (run by a worker: `castellan serve` or `castellan worker`).
    Check {
        /// App id or label.
        app: String,
        #[arg(long)]
        workspace: Option<String>,
        /// Wait for the check to finish, with a progress bar.
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum VaultCmd {
    /// Make a new master key and re-wrap every stored data key under it, without downtime.
    RotateKey {
        /// Afterwards, drop the old keys from the key file once nothing needs them.
        #[arg(long)]
        retire: bool,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Generate a large emulated business, then page through its member lists.
    Emulator {
        #[arg(long, default_value_t = 100_000)]
        members: usize,
        #[arg(long, default_value_t = 10_000)]
        assets: usize,
        #[arg(long, default_value_t = 1_000)]
        partners: usize,
        #[arg(long, default_value_t = 10)]
        grants_per_member: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// A full check for updates against an emulated business, against the fetch floor.
    Sync {
        /// pinterest or tiktok
        #[arg(long, default_value = "pinterest")]
        platform: String,
        #[arg(long, default_value_t = 100_000)]
        members: usize,
        #[arg(long, default_value_t = 10_000)]
        assets: usize,
        #[arg(long, default_value_t = 1_000)]
        partners: usize,
        #[arg(long, default_value_t = 10)]
        grants_per_member: usize,
        /// Concurrent requests of the connector.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Match seats to directory identities (the check-for-updates matching step).
    Matching {
        #[arg(long, default_value_t = 100_000)]
        members: usize,
        #[arg(long, default_value_t = 1_000_000)]
        identities: usize,
    },
}

#[derive(Args)]
struct EmulateArgs {
    #[arg(long, default_value = "127.0.0.1:9090")]
    listen: String,
    /// `demo`, or the path of a scenario JSON file.
    #[arg(long, default_value = "demo")]
    scenario: String,
    /// Seed for generated scenarios, ids and injected faults.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Generate a scenario of this many members (instead of --scenario).
    #[arg(long)]
    members: Option<usize>,
    #[arg(long)]
    assets: Option<usize>,
    #[arg(long)]
    partners: Option<usize>,
    #[arg(long)]
    grants_per_member: Option<usize>,
    /// Added latency per request.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Share (0–1) of requests answered with a random 500/502/503.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Share (0–1) of requests that hang, then answer 504.
    #[arg(long, default_value_t = 0.0)]
    timeout_rate: f64,
    /// Pinterest ads_read requests per second (0 = unlimited).
    #[arg(long, default_value_t = 0.0)]
    ads_read_per_sec: f64,
    /// Pinterest ads_write requests per second (0 = unlimited).
    #[arg(long, default_value_t = 0.0)]
    ads_write_per_sec: f64,
    /// TikTok requests per second (0 = unlimited).
    #[arg(long, default_value_t = 0.0)]
    tiktok_qps: f64,
    /// Lifetime of Pinterest access tokens issued by the emulator.
    #[arg(long)]
    token_ttl_secs: Option<u64>,
}

#[derive(Subcommand)]
enum AdminCmd {
    /// Create a workspace and its Owner; prints a one-time password.
    Bootstrap {
        #[arg(long)]
        workspace: String,
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
enum DirectoryCmd {
    /// Import identities from a CSV file (validated in full first).
    Import {
        file: PathBuf,
        /// Workspace name (may be left out when there is only one).
        #[arg(long)]
        workspace: Option<String>,
        /// Import the valid rows even if some rows are bad.
        #[arg(long)]
        skip_invalid: bool,
        /// Validate only.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Walk each workspace's hash chain; exit 1 naming the first broken event.
    Verify {
        #[arg(long)]
        workspace: Option<String>,
    },
}

#[derive(Subcommand)]
enum TasksCmd {
    /// Queue a task (for operators and tests), e.g. `system.noop`.
    Enqueue {
        kind: String,
        #[arg(long, default_value = "{}")]
        payload: String,
        #[arg(long)]
        workspace: Option<String>,
        /// Queue this many copies.
        #[arg(long, default_value_t = 1)]
        count: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let flags = FlagOverrides {
        listen: match &cli.command {
            Command::Serve { listen } => listen.clone(),
            Command::Demo { listen } => Some(listen.clone()),
            _ => None,
        },
        data_dir: cli.global.data_dir.clone(),
        database_url: cli.global.database_url.clone(),
        log_format: cli.global.log_format.clone(),
    };
    let cfg = match Config::load(cli.global.config.as_deref(), &flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    init_logging(&cfg);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(cli.command, cfg)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(cfg: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.log_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cfg.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn open_store(cfg: &Config) -> anyhow::Result<Store> {
    if cfg.uses_sqlite_file() {
        std::fs::create_dir_all(&cfg.data_dir)
            .with_context(|| format!("creating data directory {}", cfg.data_dir.display()))?;
    }
    let opts = ConnectOptions {
        max_connections: cfg.database_max_connections,
        ..Default::default()
    };
    let store = Store::connect(&cfg.database_url(), Env::system(), opts)
        .await
        .context("connecting to the database")?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

fn shutdown_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
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
fn open_vault(cfg: &Config) -> anyhow::Result<Arc<castellan_vault::SharedKeyring>> {
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

fn worker_config(cfg: &Config) -> WorkerConfig {
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
fn mail(cfg: &Config, addr: std::net::SocketAddr) -> castellan_server::members::Mail {
    castellan_server::members::Mail {
        smtp: cfg.smtp.clone().map(Arc::new),
        public_url: settings(cfg, addr).public_url,
    }
}

fn settings(cfg: &Config, addr: std::net::SocketAddr) -> ServerSettings {
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

/// Serves the API (and a worker when configured) until a shutdown signal.
async fn serve(cfg: &Config, store: Store, banner: Option<String>) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let metrics = Arc::new(Metrics::new());
    let vault = open_vault(cfg)?;
    let state = AppState::new(
        store.clone(),
        settings(cfg, addr),
        metrics.clone(),
        vault.clone(),
    );
    let shutdown = shutdown_signal();
    let registry = Registry::standard().with_apps(castellan_server::apps::AppDeps {
        vault,
        http: Default::default(),
        mail: mail(cfg, addr),
    });
    tokio::spawn(castellan_server::apps::run_scheduler(
        store.clone(),
        Arc::new(settings(cfg, addr)),
        Duration::from_secs(30),
        shutdown.clone(),
    ));
    let worker = cfg.worker.in_process.then(|| {
        tokio::spawn(castellan_server::worker::run(
            store.clone(),
            registry,
            worker_config(cfg),
            metrics,
            shutdown.clone(),
        ))
    });
    tracing::info!(%addr, database = store.backend().name(), "castellan listening");
    println!("Castellan is listening on http://{addr}");
    if let Some(b) = banner {
        println!("{b}");
    }
    castellan_server::serve(listener, state, shutdown.clone()).await?;
    if let Some(w) = worker {
        w.await?;
    }
    store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn pick_workspace(store: &Store, name: Option<&str>) -> anyhow::Result<Workspace> {
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

fn cli_actor() -> Actor {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    Actor::Automation {
        name: format!("cli:{user}"),
    }
}

async fn bootstrap(
    store: &Store,
    workspace: &str,
    email: &str,
) -> anyhow::Result<(Workspace, String)> {
    let name = parse_workspace_name(workspace)
        .map_err(|e| anyhow::anyhow!("--workspace: {}", e.message))?;
    let email = Email::parse("--email", email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let password = store.env().with_rng(generate_password);
    let salt = store.env().with_rng(|r| {
        let mut b = [0u8; 16];
        r.fill_bytes(&mut b);
        b
    });
    let hash = castellan_server::auth::hash_password(password.clone(), salt).await?;
    let (ws, _) = store
        .create_workspace_with_owner(&name, &email, &hash, &cli_actor())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((ws, password))
}

async fn run(cmd: Command, cfg: Config) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(&castellan_server::openapi())?
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve { .. } => {
            let store = open_store(&cfg).await?;
            serve(&cfg, store, None).await
        }
        Command::Migrate => {
            let store = open_store(&cfg).await?;
            println!("database is up to date ({})", store.backend().name());
            Ok(ExitCode::SUCCESS)
        }
        Command::Worker { concurrency } => {
            let store = open_store(&cfg).await?;
            let mut w = worker_config(&cfg);
            if let Some(c) = concurrency {
                w.concurrency = c.max(1);
            }
            let shutdown = shutdown_signal();
            let registry = Registry::standard().with_apps(castellan_server::apps::AppDeps {
                vault: open_vault(&cfg)?,
                http: Default::default(),
                mail: mail(
                    &cfg,
                    cfg.listen.parse().unwrap_or(([127, 0, 0, 1], 8080).into()),
                ),
            });
            castellan_server::worker::run(
                store.clone(),
                registry,
                w,
                Arc::new(Metrics::new()),
                shutdown,
            )
            .await;
            store.close().await;
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin(AdminCmd::Bootstrap { workspace, email }) => {
            let store = open_store(&cfg).await?;
            let (ws, password) = bootstrap(&store, &workspace, &email).await?;
            println!("Workspace {:?} created with Owner {email}.", ws.name);
            println!("One-time password: {password}");
            println!("Sign in with it and change it (POST /api/v1/me/password).");
            Ok(ExitCode::SUCCESS)
        }
        Command::Directory(DirectoryCmd::Import {
            file,
            workspace,
            skip_invalid,
            dry_run,
            json,
        }) => {
            let data =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let plan = plan_csv_import(&data);
            let header_broken = plan.errors.iter().any(|e| e.line == 1);
            for e in &plan.errors {
                eprintln!(
                    "{}: line {}, {}: {}",
                    file.display(),
                    e.line,
                    e.field,
                    e.message
                );
            }
            if header_broken || (!plan.errors.is_empty() && !skip_invalid) {
                eprintln!(
                    "{} invalid row(s); nothing was imported (use --skip-invalid to import the valid rows)",
                    plan.errors.len()
                );
                return Ok(ExitCode::FAILURE);
            }
            if dry_run {
                println!("{} valid row(s); dry run, nothing written", plan.rows.len());
                return Ok(ExitCode::SUCCESS);
            }
            let store = open_store(&cfg).await?;
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let s = store
                .ws(ws.id)
                .import_identities(&cli_actor(), &plan.rows, plan.groups_column, &name)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"created": s.created, "updated": s.updated, "unchanged": s.unchanged, "deactivated": s.deactivated, "groups_created": s.groups_created, "skipped_rows": plan.errors.len()})
                );
            } else {
                println!(
                    "imported into {:?}: {} created, {} updated, {} unchanged, {} deactivated, {} group(s) created, {} row(s) skipped",
                    ws.name,
                    s.created,
                    s.updated,
                    s.unchanged,
                    s.deactivated,
                    s.groups_created,
                    plan.errors.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit(AuditCmd::Verify { workspace }) => {
            let store = open_store(&cfg).await?;
            let targets = match workspace {
                Some(n) => vec![pick_workspace(&store, Some(&n)).await?],
                None => store.list_workspaces().await?,
            };
            let mut broken = false;
            for ws in targets {
                match store.ws(ws.id).audit_verify().await? {
                    Ok(n) => println!("workspace {:?}: {n} events, chain intact", ws.name),
                    Err(b) => {
                        broken = true;
                        eprintln!("workspace {:?}: {b}", ws.name);
                    }
                }
            }
            Ok(if broken {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Tasks(TasksCmd::Enqueue {
            kind,
            payload,
            workspace,
            count,
        }) => {
            let kind = TaskKind::new(&kind).map_err(|e| anyhow::anyhow!("{e}"))?;
            let payload: serde_json::Value =
                serde_json::from_str(&payload).context("--payload must be JSON")?;
            let store = open_store(&cfg).await?;
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let tasks = (0..count)
                .map(|_| NewTask::new(kind.clone(), payload.clone(), TaskTrigger::System))
                .collect();
            let ids = store
                .ws(ws.id)
                .enqueue_many(&cli_actor(), tasks)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            for id in ids.iter().take(20) {
                println!("{id}");
            }
            if ids.len() > 20 {
                println!("… and {} more", ids.len() - 20);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { .. } => demo(cfg).await,
        Command::Apps(cmd) => apps_cmd(&cfg, cmd).await,
        Command::Members(cmd) => manage::members(&cfg, cmd).await,
        Command::Reports(cmd) => manage::reports(&cfg, cmd).await,
        Command::Outbox {
            workspace,
            json,
            limit,
        } => manage::outbox(&cfg, workspace, json, limit).await,
        Command::Vault(VaultCmd::RotateKey { retire }) => {
            if cfg.master_key.is_some() {
                anyhow::bail!(
                    "rotate-key works on the key file in the data directory; the master key is set by configuration (CASTELLAN_MASTER_KEY), so rotate it there"
                );
            }
            let store = open_store(&cfg).await?;
            open_vault(&cfg)?;
            let report = castellan_server::vault_ops::rotate_master_key(
                &store,
                &cfg.data_dir.join("master.key"),
                retire,
            )
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
            println!(
                "master key rotated to version {}; {} secret(s) re-wrapped{}",
                report.new_version,
                report.rewrapped,
                if report.retired_previous {
                    "; old keys retired"
                } else {
                    "; old keys kept in the key file (run again with --retire to drop them)"
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Emulate(args) => emulate(args).await,
        Command::Bench(BenchCmd::Matching {
            members,
            identities,
        }) => bench_matching(members, identities),
        Command::Bench(BenchCmd::Sync {
            platform,
            members,
            assets,
            partners,
            grants_per_member,
            concurrency,
        }) => {
            bench_sync(
                &cfg,
                &platform,
                castellan_emulators::Scale {
                    members,
                    assets,
                    partners,
                    grants_per_member,
                },
                concurrency,
            )
            .await
        }
        Command::Bench(BenchCmd::Emulator {
            members,
            assets,
            partners,
            grants_per_member,
            seed,
        }) => {
            bench_emulator(
                castellan_emulators::Scale {
                    members,
                    assets,
                    partners,
                    grants_per_member,
                },
                seed,
            )
            .await
        }
    }
}

async fn find_app(
    store: &Store,
    ws: &Workspace,
    key: &str,
) -> anyhow::Result<castellan_store::App> {
    let scoped = store.ws(ws.id);
    if let Ok(id) = key.parse::<castellan_domain::AppId>() {
        return scoped
            .app(id)
            .await
            .map_err(|e| anyhow::anyhow!("app {key}: {e}"));
    }
    let mut cursor = None;
    loop {
        let page = scoped.apps(cursor, 500).await?;
        if let Some(a) = page
            .items
            .iter()
            .find(|a| a.label.eq_ignore_ascii_case(key))
        {
            return Ok(a.clone());
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c.parse()?),
            None => anyhow::bail!("no app with id or label {key:?}"),
        }
    }
}

async fn apps_cmd(cfg: &Config, cmd: AppsCmd) -> anyhow::Result<ExitCode> {
    let store = open_store(cfg).await?;
    match cmd {
        AppsCmd::List { workspace, json } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let apps = store.ws(ws.id).apps(None, 500).await?.items;
            for a in &apps {
                let counts = store.ws(ws.id).seat_counts(a.id).await?;
                if json {
                    let c: serde_json::Map<String, serde_json::Value> = counts
                        .iter()
                        .map(|(k, v)| (k.clone(), serde_json::json!(v)))
                        .collect();
                    println!(
                        "{}",
                        serde_json::json!({ "id": a.id.to_string(), "label": a.label, "platform": a.platform.as_str(), "status": a.status, "last_check_at": a.last_check_at, "next_check_at": a.next_check_at, "counts": c })
                    );
                } else {
                    let c: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
                    println!(
                        "{}  {:<24} {:<9} {:<9} last check {}  ({})",
                        a.id,
                        a.label,
                        a.platform,
                        a.status,
                        a.last_check_at
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_else(|| "never".into()),
                        c.join(", ")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AppsCmd::Check {
            app,
            workspace,
            wait,
            json,
        } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let a = find_app(&store, &ws, &app).await?;
            let mut t = NewTask::new(
                TaskKind::from_static("app.check"),
                serde_json::json!({ "app_id": a.id.to_string() }),
                TaskTrigger::Person,
            );
            t.app_id = Some(a.id);
            let task = store.ws(ws.id).enqueue(&cli_actor(), t).await?;
            if !wait {
                println!(
                    "{}",
                    if json {
                        serde_json::json!({ "task_id": task.id.to_string() }).to_string()
                    } else {
                        format!("check for updates queued as task {}", task.id)
                    }
                );
                return Ok(ExitCode::SUCCESS);
            }
            let done = manage::wait_with_spinner(&store, &ws, &task).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "task_id": done.id.to_string(), "status": done.status.as_str(), "result": done.result, "error": done.error })
                );
            } else if let Some(r) = &done.result {
                println!(
                    "check {}: {} requests in {:.1}s; {} new, {} changed, {} vanished seats; {} rows written",
                    done.status,
                    r["fetch"]["requests"],
                    r["fetch"]["seconds"].as_f64().unwrap_or(0.0),
                    r["changes"]["seats_new"],
                    r["changes"]["seats_changed"],
                    r["changes"]["seats_vanished"],
                    r["changes"]["rows_written"]
                );
            } else {
                println!("check {}: {}", done.status, done.error.unwrap_or_default());
            }
            Ok(
                if done.status == castellan_domain::tasks::TaskStatus::Completed {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                },
            )
        }
    }
}

/// Counts what a fetch yields and throws it away: the floor a check cannot beat.
struct Discard(u64);

impl castellan_domain::platform::SnapshotSink for Discard {
    fn accept(
        &mut self,
        batch: castellan_domain::platform::Batch,
    ) -> castellan_domain::platform::BoxFuture<'_, Result<(), String>> {
        use castellan_domain::platform::Batch;
        self.0 += match &batch {
            Batch::Seats(v) => v.len(),
            Batch::Assets(v) => v.len(),
            Batch::Grants(v) => v.len(),
            Batch::Partners(v) => v.len(),
        } as u64;
        Box::pin(async { Ok(()) })
    }
}

async fn bench_sync(
    cfg: &Config,
    platform: &str,
    scale: castellan_emulators::Scale,
    concurrency: usize,
) -> anyhow::Result<ExitCode> {
    use castellan_emulators::scenario as sc;
    let platform = castellan_domain::apps::Platform::parse("--platform", platform)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Only the measured platform is generated, so the figures carry no other business.
    let world = castellan_emulators::World::new(
        castellan_emulators::ScenarioSource::GeneratedOne {
            scale,
            platform: match platform {
                castellan_domain::apps::Platform::Pinterest => {
                    castellan_emulators::OnePlatform::Pinterest
                }
                castellan_domain::apps::Platform::Tiktok => {
                    castellan_emulators::OnePlatform::Tiktok
                }
            },
        },
        1,
        Default::default(),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let emu = castellan_emulators::start("127.0.0.1:0", world).await?;
    let (_, baseline) = rss_kb();
    // A fresh database: SQLite in a temporary directory, or the one given.
    let dir = std::env::temp_dir().join(format!("castellan-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut cfg = cfg.clone();
    cfg.data_dir = dir.clone();
    let store = open_store(&cfg).await?;
    let (ws, _) = bootstrap(&store, "Bench", "owner@bench.example.com").await?;
    let vault = open_vault(&cfg)?;
    let (token, base, business) = match platform {
        castellan_domain::apps::Platform::Pinterest => (
            sc::PINTEREST_AUTOMATION_TOKEN,
            emu.pinterest_url(),
            sc::PINTEREST_BRAND.to_string(),
        ),
        castellan_domain::apps::Platform::Tiktok => (
            sc::TIKTOK_AUTOMATION_TOKEN,
            emu.tiktok_url(),
            sc::TIKTOK_BRAND.to_string(),
        ),
    };
    let w = ws.id.to_string();
    let sid = castellan_domain::SecretId::new(store.env());
    let rec = sid.to_string();
    let (sealed, version) = store.env().with_rng(|r| {
        vault.seal(
            r,
            castellan_vault::Binding {
                workspace: &w,
                record: &rec,
            },
            &castellan_vault::Secret::new(token),
        )
    });
    let (account, _) = store
        .ws(ws.id)
        .create_automation_account(
            &cli_actor(),
            &castellan_store::NewAutomationAccount {
                platform,
                label: "bench".into(),
                email: "bot@bench.example.com".into(),
                phone: None,
                token_scopes: None,
                token_expires_at: None,
                secrets: vec![castellan_store::SealedSecret {
                    id: sid,
                    name: "access_token".into(),
                    sealed,
                    key_version: i64::from(version),
                }],
            },
        )
        .await?;
    let app = store
        .ws(ws.id)
        .create_app(
            &cli_actor(),
            &castellan_store::NewApp {
                platform,
                label: "bench".into(),
                business_id: business,
                login_method: "sso".into(),
                automation_account_id: account.id,
                api_base_url: Some(base),
                next_check_at: None,
            },
        )
        .await?;
    let http = castellan_connectors::HttpConfig {
        rate_per_sec: 0.0,
        concurrency,
        ..Default::default()
    };
    let deps = castellan_server::apps::AppDeps {
        vault: vault.clone(),
        http: http.clone(),
        mail: Default::default(),
    };
    // The fetch floor: the same pages, same concurrency, thrown away.
    let connector = castellan_server::apps::connector_for(&store, &deps, ws.id, &app)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let t0 = std::time::Instant::now();
    let mut discard = Discard(0);
    let floor_stats = connector.fetch(&mut discard).await?;
    let floor = t0.elapsed().as_secs_f64();
    println!(
        "fetch floor: {:.2}s, {} requests, {} items",
        floor, floor_stats.requests, discard.0
    );
    // The real checks, through the worker.
    let metrics = Arc::new(Metrics::new());
    let stop = CancellationToken::new();
    let mut wc = worker_config(&cfg);
    wc.poll_interval = Duration::from_millis(20);
    tokio::spawn(castellan_server::worker::run(
        store.clone(),
        Registry::standard().with_apps(deps),
        wc,
        metrics,
        stop.clone(),
    ));
    let mut runs = Vec::new();
    for label in ["first check", "no-change re-check"] {
        let mut t = NewTask::new(
            TaskKind::from_static("app.check"),
            serde_json::json!({ "app_id": app.id.to_string() }),
            TaskTrigger::Person,
        );
        t.app_id = Some(app.id);
        let task = store.ws(ws.id).enqueue(&cli_actor(), t).await?;
        let t0 = std::time::Instant::now();
        let done = loop {
            let t = store.ws(ws.id).task(task.id).await?;
            if t.status.is_final() {
                break t;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let secs = t0.elapsed().as_secs_f64();
        anyhow::ensure!(
            done.status == castellan_domain::tasks::TaskStatus::Completed,
            "{label} failed: {:?}",
            done.error
        );
        let r = done.result.unwrap_or_default();
        let items = r["fetch"]["seats"].as_u64().unwrap_or(0)
            + r["fetch"]["assets"].as_u64().unwrap_or(0)
            + r["fetch"]["grants"].as_u64().unwrap_or(0);
        println!(
            "{label}: {secs:.2}s, {} requests, {:.0} items/s, ratio to floor {:.2}, {} rows written",
            r["fetch"]["requests"],
            items as f64 / secs,
            secs / floor,
            r["changes"]["rows_written"]
        );
        runs.push(serde_json::json!({ "seconds": secs, "requests": r["fetch"]["requests"], "items_per_second": items as f64 / secs, "ratio_to_floor": secs / floor, "rows_written": r["changes"]["rows_written"] }));
    }
    stop.cancel();
    let (_, peak) = rss_kb();
    let members = scale.members.max(1) as f64;
    let per_thousand = floor_stats.requests as f64 * 1000.0 / members;
    // Documented limits: Pinterest ads_read 1,000/minute; TikTok about 10 requests/second.
    let limit_per_sec = match platform {
        castellan_domain::apps::Platform::Pinterest => 1000.0 / 60.0,
        castellan_domain::apps::Platform::Tiktok => 10.0,
    };
    println!(
        "peak RSS {} MB (emulator and its data: {} MB); {:.1} requests per 1,000 members, {:.0}s at the documented rate limit",
        peak / 1024,
        baseline / 1024,
        per_thousand,
        floor_stats.requests as f64 / limit_per_sec
    );
    println!(
        "{}",
        serde_json::json!({
            "bench": "sync", "platform": platform.as_str(), "database": store.backend().name(), "members": scale.members, "assets": scale.assets, "partners": scale.partners, "grants_per_member": scale.grants_per_member,
            "floor_seconds": floor, "first": runs[0], "recheck": runs[1], "peak_rss_mb": peak / 1024, "emulator_rss_mb": baseline / 1024,
            "requests_per_1000_members": per_thousand, "seconds_at_documented_rate_limit": floor_stats.requests as f64 / limit_per_sec,
        })
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}

/// Builds `identities` directory entries and `members` seats (a mix of exact, case- and
/// plus-address variants, username-only and unknown seats), then times index + matching.
fn bench_matching(members: usize, identities: usize) -> anyhow::Result<ExitCode> {
    use castellan_domain::matching::{Candidate, MatchConfig, Outcome, SeatKey, match_all};
    let cfg = MatchConfig::with_aliases([("acme.co.uk", "acme.com")]);
    let names: Vec<(String, String, String)> = (0..identities)
        .map(|i| {
            (
                format!("user{i}"),
                format!("user{i}@acme.com"),
                format!("u{i}@old.acme.com"),
            )
        })
        .collect();
    let ids: Vec<castellan_domain::IdentityId> = (0..identities)
        .map(|i| castellan_domain::IdentityId(uuid::Uuid::from_u128(i as u128 + 1)))
        .collect();
    let seats: Vec<(Option<String>, Option<String>, bool)> = (0..members)
        .map(|i| {
            let n = (i * 7919) % identities.max(1);
            match i % 5 {
                0 => (Some(format!("User{n}@ACME.com")), None, false),
                1 => (Some(format!("user{n}+pins@acme.co.uk")), None, false),
                2 => (
                    Some(format!("someone{i}@gmail.com")),
                    Some(format!("user{n}")),
                    false,
                ),
                3 => (
                    Some(format!("stranger{i}@gmail.com")),
                    Some(format!("stranger{i}")),
                    false,
                ),
                _ => (Some(format!("agency{i}@agency.net")), None, true),
            }
        })
        .collect();
    let started = std::time::Instant::now();
    let keys: Vec<SeatKey> = seats
        .iter()
        .map(|(e, u, p)| SeatKey {
            email: e.as_deref(),
            username: u.as_deref(),
            partner: *p,
        })
        .collect();
    let outcomes = match_all(
        &cfg,
        &keys,
        names.iter().zip(&ids).map(|((u, e, o), id)| Candidate {
            id: *id,
            user_name: u,
            emails: vec![e, o],
        }),
    );
    let total = started.elapsed();
    let (mut matched, mut guests, mut unmatched) = (0u64, 0u64, 0u64);
    for o in outcomes {
        match o {
            Outcome::Matched(..) => matched += 1,
            Outcome::Guest => guests += 1,
            Outcome::Unmatched => unmatched += 1,
        }
    }
    println!(
        "matched {members} seats against {identities} identities in {:.3}s",
        total.as_secs_f64()
    );
    println!("{matched} matched, {guests} guests, {unmatched} unmatched");
    println!(
        "{}",
        serde_json::json!({ "bench": "matching", "members": members, "identities": identities, "seconds": total.as_secs_f64(), "matched": matched, "guests": guests, "unmatched": unmatched })
    );
    Ok(ExitCode::SUCCESS)
}

/// Resident memory figures of this process from /proc (kB): (current, peak).
fn rss_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

async fn bench_emulator(scale: castellan_emulators::Scale, seed: u64) -> anyhow::Result<ExitCode> {
    use castellan_emulators::scenario as sc;
    let (rss_before, _) = rss_kb();
    let started = std::time::Instant::now();
    let world = castellan_emulators::World::new(
        castellan_emulators::ScenarioSource::Generated(scale),
        seed,
        Default::default(),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let build_secs = started.elapsed().as_secs_f64();
    let (rss_after, peak) = rss_kb();
    println!(
        "generated {} members, {} assets, {} partners, {} grants/member in {build_secs:.2}s",
        scale.members, scale.assets, scale.partners, scale.grants_per_member
    );
    println!(
        "resident memory: {} MB before, {} MB after, peak {} MB",
        rss_before / 1024,
        rss_after / 1024,
        peak / 1024
    );
    let running = castellan_emulators::start("127.0.0.1:0", world).await?;
    let http = reqwest::Client::new();
    // Pinterest: bookmark paging, 250 per page, with assets summaries.
    let t0 = std::time::Instant::now();
    let (mut pages, mut items, mut bookmark) = (0u64, 0u64, None::<String>);
    loop {
        let mut url = format!(
            "{}/businesses/{}/members?page_size=250&assets_summary=true",
            running.pinterest_url(),
            sc::PINTEREST_BRAND
        );
        if let Some(b) = &bookmark {
            url.push_str(&format!("&bookmark={b}"));
        }
        let v: serde_json::Value = http
            .get(url)
            .bearer_auth(sc::PINTEREST_AUTOMATION_TOKEN)
            .send()
            .await?
            .json()
            .await?;
        pages += 1;
        items += v["items"].as_array().map(|a| a.len() as u64).unwrap_or(0);
        match v["bookmark"].as_str() {
            Some(b) => bookmark = Some(b.to_string()),
            None => break,
        }
    }
    let pin_secs = t0.elapsed().as_secs_f64();
    println!(
        "pinterest members list: {items} members in {pages} pages, {pin_secs:.2}s, {:.0} pages/s",
        pages as f64 / pin_secs
    );
    // TikTok: page numbers, 50 per page.
    let t0 = std::time::Instant::now();
    let (mut tpages, mut titems, mut page) = (0u64, 0u64, 1u64);
    loop {
        let url = format!(
            "{}/bc/member/get/?bc_id={}&page={page}&page_size=50",
            running.tiktok_url(),
            sc::TIKTOK_BRAND
        );
        let v: serde_json::Value = http
            .get(url)
            .header("Access-Token", sc::TIKTOK_AUTOMATION_TOKEN)
            .send()
            .await?
            .json()
            .await?;
        tpages += 1;
        titems += v["data"]["list"]
            .as_array()
            .map(|a| a.len() as u64)
            .unwrap_or(0);
        if page >= v["data"]["page_info"]["total_page"].as_u64().unwrap_or(0) {
            break;
        }
        page += 1;
    }
    let tt_secs = t0.elapsed().as_secs_f64();
    println!(
        "tiktok members list: {titems} members in {tpages} pages, {tt_secs:.2}s, {:.0} pages/s",
        tpages as f64 / tt_secs
    );
    let (_, peak) = rss_kb();
    println!(
        "{}",
        serde_json::json!({
            "bench": "emulator", "members": scale.members, "assets": scale.assets, "partners": scale.partners, "grants_per_member": scale.grants_per_member,
            "build_seconds": build_secs, "rss_after_build_mb": rss_after / 1024, "peak_rss_mb": peak / 1024,
            "pinterest_pages": pages, "pinterest_pages_per_second": pages as f64 / pin_secs,
            "tiktok_pages": tpages, "tiktok_pages_per_second": tpages as f64 / tt_secs,
        })
    );
    Ok(ExitCode::SUCCESS)
}

fn emulator_source(args: &EmulateArgs) -> anyhow::Result<castellan_emulators::ScenarioSource> {
    use castellan_emulators::{Scale, ScenarioSource};
    if args.members.is_some()
        || args.assets.is_some()
        || args.partners.is_some()
        || args.grants_per_member.is_some()
    {
        let members = args.members.unwrap_or(1000);
        return Ok(ScenarioSource::Generated(Scale {
            members,
            assets: args.assets.unwrap_or((members / 10).max(1)),
            partners: args.partners.unwrap_or((members / 100).max(1)),
            grants_per_member: args.grants_per_member.unwrap_or(10),
        }));
    }
    if args.scenario == "demo" {
        return Ok(ScenarioSource::Demo);
    }
    let text = std::fs::read_to_string(&args.scenario)
        .with_context(|| format!("reading scenario {}", args.scenario))?;
    let s: castellan_emulators::scenario::Scenario =
        serde_json::from_str(&text).with_context(|| format!("scenario {}", args.scenario))?;
    Ok(ScenarioSource::Json(Box::new(s)))
}

async fn emulate(args: EmulateArgs) -> anyhow::Result<ExitCode> {
    use castellan_emulators::scenario as sc;
    let mut faults = castellan_emulators::Faults {
        latency_ms: args.latency_ms,
        error_rate: args.error_rate,
        timeout_rate: args.timeout_rate,
        pinterest_ads_read_per_sec: args.ads_read_per_sec,
        pinterest_ads_write_per_sec: args.ads_write_per_sec,
        tiktok_qps: args.tiktok_qps,
        ..Default::default()
    };
    if let Some(t) = args.token_ttl_secs {
        faults.pinterest_token_ttl_secs = t;
    }
    faults
        .validate()
        .map_err(|e| anyhow::anyhow!("faults: {e}"))?;
    let source = emulator_source(&args)?;
    let started = std::time::Instant::now();
    let world = castellan_emulators::World::new(source, args.seed, faults)
        .map_err(|e| anyhow::anyhow!("scenario: {e}"))?;
    let built = started.elapsed();
    let running = castellan_emulators::start(&args.listen, world)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let base = running.base_url();
    println!(
        "Castellan emulators listening on {base} (scenario built in {:.2}s)",
        built.as_secs_f64()
    );
    println!();
    println!("Pinterest API v5:      {base}/v5");
    println!("  consent page:        {base}/oauth/");
    println!("  business id:         {}", sc::PINTEREST_BRAND);
    println!("  automation token:    {}", sc::PINTEREST_AUTOMATION_TOKEN);
    println!(
        "  app client id/secret: {} / {}",
        sc::PINTEREST_CLIENT_ID,
        sc::PINTEREST_CLIENT_SECRET
    );
    println!("TikTok API v1.3:       {base}/open_api/v1.3");
    println!("  consent page:        {base}/portal/auth");
    println!("  business center id:  {}", sc::TIKTOK_BRAND);
    println!("  automation token:    {}", sc::TIKTOK_AUTOMATION_TOKEN);
    println!(
        "  app id/secret:       {} / {}",
        sc::TIKTOK_APP_ID,
        sc::TIKTOK_APP_SECRET
    );
    println!("Control API:           {base}/_emulator/info");
    let shutdown = shutdown_signal();
    shutdown.cancelled().await;
    drop(running);
    Ok(ExitCode::SUCCESS)
}

const DEMO_DIRECTORY: &str = include_str!("../demo/directory.csv");

/// Everything embedded: a fresh SQLite database in a new data directory, a workspace with its
/// Owner, the sample directory, and an API token, then the server.
async fn demo(mut cfg: Config) -> anyhow::Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("castellan-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    cfg.data_dir = dir.clone();
    cfg.database_url = None;
    let store = open_store(&cfg).await?;
    let (ws, password) = bootstrap(&store, "Demo", "owner@demo.example.com").await?;
    let plan = plan_csv_import(DEMO_DIRECTORY.as_bytes());
    anyhow::ensure!(
        plan.errors.is_empty(),
        "the built-in demo directory is invalid: {:?}",
        plan.errors
    );
    let sum = store
        .ws(ws.id)
        .import_identities(
            &cli_actor(),
            &plan.rows,
            plan.groups_column,
            "demo directory",
        )
        .await?;
    let owner = store
        .ws(ws.id)
        .person_by_email(&Email::parse("email", "owner@demo.example.com").expect("valid"))
        .await?;
    let secret = store
        .env()
        .with_rng(|r| generate_secret(API_TOKEN_PREFIX, r));
    store
        .ws(ws.id)
        .create_token(
            &cli_actor(),
            owner.id,
            "demo",
            ApiScope::Admin,
            &hash_secret(&secret),
        )
        .await?;
    // The emulated platforms, in this process, with the demo scenario.
    let world = castellan_emulators::World::new(
        castellan_emulators::ScenarioSource::Demo,
        1,
        Default::default(),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let emulators = castellan_emulators::start("127.0.0.1:0", world).await?;
    // One app per platform, connected through its automation account; the worker runs the
    // connectivity check and the first check for updates as soon as the server starts.
    let vault = open_vault(&cfg)?;
    use castellan_emulators::scenario as sc;
    let mut apps = Vec::new();
    for (platform, label, token, business, base) in [
        (
            castellan_domain::apps::Platform::Pinterest,
            "Acme Pinterest",
            sc::PINTEREST_AUTOMATION_TOKEN,
            sc::PINTEREST_BRAND.to_string(),
            emulators.pinterest_url(),
        ),
        (
            castellan_domain::apps::Platform::Tiktok,
            "Acme TikTok",
            sc::TIKTOK_AUTOMATION_TOKEN,
            sc::TIKTOK_BRAND.to_string(),
            emulators.tiktok_url(),
        ),
    ] {
        let scoped = store.ws(ws.id);
        let w = ws.id.to_string();
        let secrets = [
            ("password", "demo-automation-password"),
            ("access_token", token),
        ]
        .into_iter()
        .map(|(name, value)| {
            let id = castellan_domain::SecretId::new(store.env());
            let rec = id.to_string();
            let (sealed, version) = store.env().with_rng(|r| {
                vault.seal(
                    r,
                    castellan_vault::Binding {
                        workspace: &w,
                        record: &rec,
                    },
                    &castellan_vault::Secret::new(value),
                )
            });
            castellan_store::SealedSecret {
                id,
                name: name.into(),
                sealed,
                key_version: i64::from(version),
            }
        })
        .collect();
        let new = castellan_store::NewAutomationAccount {
            platform,
            label: format!("{label} automation"),
            email: "castellan-automation@acme.example.com".into(),
            phone: None,
            token_scopes: None,
            token_expires_at: None,
            secrets,
        };
        let (account, _) = scoped.create_automation_account(&cli_actor(), &new).await?;
        let app = scoped
            .create_app(
                &cli_actor(),
                &castellan_store::NewApp {
                    platform,
                    label: label.into(),
                    business_id: business,
                    login_method: "password".into(),
                    automation_account_id: account.id,
                    api_base_url: Some(base),
                    next_check_at: Some(castellan_server::apps::next_check(
                        store.env(),
                        &castellan_server::ServerSettings::default(),
                    )),
                },
            )
            .await?;
        for kind in ["app.connect", "app.check"] {
            let mut t = NewTask::new(
                TaskKind::from_static(kind),
                serde_json::json!({ "app_id": app.id.to_string() }),
                TaskTrigger::System,
            );
            t.app_id = Some(app.id);
            scoped.enqueue(&cli_actor(), t).await?;
        }
        apps.push((label, app.id));
    }
    let url = format!("http://{}", cfg.listen);
    let app_lines: String = apps
        .iter()
        .map(|(l, id)| format!("  {l}: {url}/api/v1/apps/{id}\n"))
        .collect();
    let banner = format!(
        "\nDemo workspace ready (data in {dir}).\n  Sign in:   owner@demo.example.com / {password}\n  API token: {secret}\n  Directory: {} identities imported\n  Emulated platforms: {} (control API at /_emulator/info)\n{app_lines}\nTry:\n  curl -H 'Authorization: Bearer {secret}' {url}/api/v1/apps\n  curl -H 'Authorization: Bearer {secret}' '{url}/api/v1/apps/{}/members?tab=unmatched'\n  curl -H 'Authorization: Bearer {secret}' '{url}/api/v1/tasks?limit=5'\n  curl -H 'Authorization: Bearer {secret}' {url}/api/v1/audit/events\n  castellan --data-dir {dir} audit verify\n\nManage members (no SMTP here: e-mails wait in the outbox):\n  castellan --data-dir {dir} reports list \"{first}\"          # the two leavers await removal\n  castellan --data-dir {dir} reports apply \"{first}\" REPORT_ID --dry-run\n  castellan --data-dir {dir} members list \"{first}\" --tab unmatched\n  castellan --data-dir {dir} members remove \"{first}\" SEAT_ID --wait\n  castellan --data-dir {dir} outbox\n",
        sum.created,
        emulators.base_url(),
        apps[0].1,
        dir = dir.display(),
        first = apps[0].0,
    );
    let result = serve(&cfg, store, Some(banner)).await;
    drop(emulators);
    result
}
