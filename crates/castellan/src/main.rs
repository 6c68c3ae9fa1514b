//! The `castellan` command: clap types and dispatch. The work of each command group lives in
//! `commands/`, the benchmarks in `bench/`.

mod arenas;
mod bench;
mod commands;
mod config;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

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
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
        concurrency: Option<u16>,
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
    Members(commands::members::MembersCmd),
    /// Check-for-updates reports: show, apply (remove deprovisioned seats), dismiss.
    #[command(subcommand)]
    Reports(commands::members::ReportsCmd),
    /// An app's native partners (Pinterest Business Partners, TikTok Business Partners).
    #[command(subcommand)]
    Partners(commands::partners::PartnersCmd),
    /// People's own account cards: list, share, unshare, reveal (audited).
    #[command(subcommand)]
    Accounts(commands::accounts::AccountsCmd),
    /// Guest users: invite by e-mail (a single-use sign-in link), list, resend, revoke.
    #[command(subcommand)]
    Guests(commands::guests::GuestsCmd),
    /// SCIM: the tokens an identity provider provisions the directory with.
    #[command(subcommand)]
    Scim(commands::scim::ScimCmd),
    /// Sign-in with the workspace's identity provider (OIDC): show, set, remove.
    #[command(subcommand)]
    Oidc(commands::idp::OidcCmd),
    /// IdP groups that manage app members: map, unmap, mappings, plan, apply.
    #[command(subcommand)]
    Groups(commands::idp::GroupsCmd),
    /// E-mails Castellan wrote (sent through SMTP, or kept here when none is configured).
    Outbox {
        #[arg(long)]
        workspace: Option<String>,
        #[arg(long)]
        json: bool,
        /// How many (1 to 1000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(i64).range(1..=1000))]
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
        /// Read every asset's holders and partner's shared assets, whatever the coverage
        /// window (`connectors.tiktok_window_checks`).
        #[arg(long)]
        full: bool,
        #[arg(long)]
        json: bool,
    },
    /// Check an app's connection again (after "Connection failing"; run by a worker).
    Reconnect {
        /// App id or label.
        app: String,
        #[arg(long)]
        workspace: Option<String>,
        /// Wait for the connection check, with a spinner.
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        json: bool,
    },
    /// Remove an app from Castellan: the integration and everything imported for it. The
    /// platform is not called; the automation account and people's account cards stay.
    Remove {
        /// App id or label.
        app: String,
        /// Why (kept in the activity log).
        #[arg(long)]
        reason: String,
        #[arg(long)]
        workspace: Option<String>,
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
        /// Partners connected to Castellan through their admin's token (their users who reach
        /// our shared ad account are read by every check).
        #[arg(long, default_value_t = 10)]
        connected_partners: usize,
        /// Users of each connected partner on our shared ad account.
        #[arg(long, default_value_t = 1_000)]
        partner_users: usize,
        /// Concurrent requests of the connector.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Identities in the directory before the checks, so matching is in the figure.
        #[arg(long, default_value_t = 10_000)]
        directory: usize,
        /// The share of those identities holding a seat of the business (matched by e-mail).
        #[arg(long, default_value_t = 0.5)]
        directory_matching: f64,
    },
    /// Server time and size of every main web page over a large checked business.
    Web {
        #[arg(long, default_value_t = 100_000)]
        members: usize,
        #[arg(long, default_value_t = 10_000)]
        assets: usize,
        #[arg(long, default_value_t = 1_000)]
        partners: usize,
        #[arg(long, default_value_t = 10)]
        grants_per_member: usize,
        /// Requests per page (after two warm-ups).
        #[arg(long, default_value_t = 30)]
        rounds: usize,
    },
    /// SCIM throughput with wrk on loopback: user creates and userName lookups per second.
    Scim {
        /// Users already in the directory.
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        /// Seconds each of the two runs lasts.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent connections of wrk.
        #[arg(long, default_value_t = 32)]
        connections: u32,
    },
    /// Checks and member changes on both emulated platforms under injected 5xx and tight
    /// rate limits: memory over time, unfinished tasks, and whether the final state is exact.
    Soak {
        /// How long the changes keep coming.
        #[arg(long, default_value_t = 30.0)]
        minutes: f64,
        /// Members of each generated business.
        #[arg(long, default_value_t = 2_000)]
        members: usize,
        /// Share of platform requests answered with a 5xx.
        #[arg(long, default_value_t = 0.1)]
        error_rate: f64,
        /// Requests per second each platform allows before answering 429.
        #[arg(long, default_value_t = 20.0)]
        platform_rate: f64,
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
    /// Generate only this platform's business (`pinterest` or `tiktok`), as `bench sync` does.
    #[arg(long, hide = true)]
    only: Option<String>,
    /// Generated partners that are whole businesses Castellan can connect (`bench sync`).
    #[arg(long, hide = true, default_value_t = 0)]
    connected_partners: usize,
    /// Users of each connected partner on the shared ad account (`bench sync`).
    #[arg(long, hide = true, default_value_t = 0)]
    partner_users: usize,
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
        /// Queue this many copies (1 to 100000).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        count: u32,
    },
}

fn main() -> ExitCode {
    arenas::cap_malloc_arenas();
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
    // `--json` is a flag of the commands that print JSON; with it, a failure is JSON too.
    let json = std::env::args_os().any(|a| a == "--json");
    match rt.block_on(run(cli.command, cfg)) {
        Ok(code) => code,
        Err(e) if json => {
            println!("{}", serde_json::json!({ "error": format!("{e:#}") }));
            ExitCode::FAILURE
        }
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

/// One line per command: the work is in `commands` and `bench`.
async fn run(cmd: Command, cfg: Config) -> anyhow::Result<ExitCode> {
    use commands::{admin, apps, demo, emulate, members, serve};
    match cmd {
        Command::Openapi => admin::openapi(),
        Command::Serve { .. } => serve::serve_command(&cfg).await,
        Command::Migrate => admin::migrate(&cfg).await,
        Command::Worker { concurrency } => serve::worker(&cfg, concurrency.map(usize::from)).await,
        Command::Admin(AdminCmd::Bootstrap { workspace, email }) => {
            admin::bootstrap_command(&cfg, &workspace, &email).await
        }
        Command::Directory(DirectoryCmd::Import {
            file,
            workspace,
            skip_invalid,
            dry_run,
            json,
        }) => admin::directory_import(&cfg, &file, workspace, skip_invalid, dry_run, json).await,
        Command::Audit(AuditCmd::Verify { workspace }) => {
            admin::audit_verify(&cfg, workspace).await
        }
        Command::Tasks(TasksCmd::Enqueue {
            kind,
            payload,
            workspace,
            count,
        }) => admin::tasks_enqueue(&cfg, &kind, &payload, workspace, count as usize).await,
        Command::Demo { .. } => demo::demo(cfg).await,
        Command::Apps(cmd) => apps::apps_cmd(&cfg, cmd).await,
        Command::Members(cmd) => members::members(&cfg, cmd).await,
        Command::Accounts(cmd) => commands::accounts::accounts(&cfg, cmd).await,
        Command::Guests(cmd) => commands::guests::guests(&cfg, cmd).await,
        Command::Scim(cmd) => commands::scim::scim(&cfg, cmd).await,
        Command::Oidc(cmd) => commands::idp::oidc(&cfg, cmd).await,
        Command::Groups(cmd) => commands::idp::groups(&cfg, cmd).await,
        Command::Reports(cmd) => members::reports(&cfg, cmd).await,
        Command::Partners(cmd) => commands::partners::partners(&cfg, cmd).await,
        Command::Outbox {
            workspace,
            json,
            limit,
        } => members::outbox(&cfg, workspace, json, limit).await,
        Command::Vault(VaultCmd::RotateKey { retire }) => admin::rotate_key(&cfg, retire).await,
        Command::Emulate(args) => emulate::emulate(args).await,
        Command::Bench(BenchCmd::Web {
            members,
            assets,
            partners,
            grants_per_member,
            rounds,
        }) => {
            bench::bench_web(
                &cfg,
                castellan_emulators::Scale {
                    members,
                    assets,
                    partners,
                    grants_per_member,
                    ..Default::default()
                },
                rounds,
            )
            .await
        }
        Command::Bench(BenchCmd::Scim {
            users,
            seconds,
            connections,
        }) => bench::bench_scim(&cfg, users, seconds, connections).await,
        Command::Bench(BenchCmd::Soak {
            minutes,
            members,
            error_rate,
            platform_rate,
        }) => {
            bench::bench_soak(
                &cfg,
                bench::Soak {
                    minutes,
                    members,
                    error_rate: error_rate.clamp(0.0, 0.9),
                    platform_rate,
                },
            )
            .await
        }
        Command::Bench(BenchCmd::Matching {
            members,
            identities,
        }) => bench::bench_matching(members, identities),
        Command::Bench(BenchCmd::Sync {
            platform,
            members,
            assets,
            partners,
            grants_per_member,
            connected_partners,
            partner_users,
            concurrency,
            directory,
            directory_matching,
        }) => {
            bench::bench_sync(
                &cfg,
                &platform,
                castellan_emulators::Scale {
                    members,
                    assets,
                    partners,
                    grants_per_member,
                    connected_partners: connected_partners.min(partners),
                    partner_users,
                },
                concurrency,
                bench::Directory {
                    identities: directory,
                    matching: directory_matching.clamp(0.0, 1.0),
                },
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
            bench::bench_emulator(
                castellan_emulators::Scale {
                    members,
                    assets,
                    partners,
                    grants_per_member,
                    ..Default::default()
                },
                seed,
            )
            .await
        }
    }
}
