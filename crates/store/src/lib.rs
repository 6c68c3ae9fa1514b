//! Castellan's persistence: one `Store` over SQLite or PostgreSQL (sqlx's `Any` driver), with
//! SQL written once in portable form (`$n` placeholders, TEXT ids, BIGINT milliseconds, TEXT
//! JSON) and a forward-only migration folder per backend. The only place that knows SQL.
//!
//! Workspace isolation: everything below a workspace is reached through [`Store::ws`], which
//! binds the workspace id into every query, so a row of another workspace is never found.

pub mod accounts;
pub mod apps;
pub mod assets;
mod audit;
pub mod cards;
mod check;
mod directory;
mod directory_import;
pub mod group_mappings;
pub mod guests;
pub mod local_partners;
pub mod members;
pub mod oauth;
pub mod oidc;
pub mod outbox;
pub mod partner_reach;
pub mod partner_users;
pub mod partners;
pub mod people;
pub mod records;
pub mod reports;
pub mod rotation;
pub mod scim;
mod scim_batch;
pub mod seat_guests;
pub mod seats;
pub mod secrets;
mod sql;
mod tasks;
mod workspaces;

use std::str::FromStr;
use std::time::Duration;

use castellan_domain::{Env, ValidationErrors, WorkspaceId};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use accounts::{AutomationAccount, NewAutomationAccount};
pub use apps::{App, AppCounts, Exemption, NewApp, RemovedApp, Seat};
pub use assets::{AssetHolders, Holding};
pub use audit::{AuditFilter, AuditTx};
pub use cards::{AccountCard, HeldCard, Share, ShareTarget};
pub use castellan_domain::reports::CheckSummary;
pub use check::{CheckLease, CheckRun, CoverageAges};
pub use directory::{IdentityFilter, ImportSummary};
pub use group_mappings::{GroupMapping, MappedMember};
pub use members::AppRole;
pub use oauth::{OauthState, PlatformApp};
pub use oidc::{OidcConfig, OidcOption};
pub use outbox::Email;
pub use partners::{Partner, PartnerAsset, PartnerConnection};
pub use people::PersonUpdate;
pub use records::*;
pub use reports::{PendingRemoval, Report};
pub use rotation::DueRotation;
pub use secrets::{SealedSecret, StoredSecret};
pub use tasks::{ClaimedTask, LEASE_LOST, NewTask, TaskEnd, TaskFilter};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{field}: {message}")]
    Conflict { field: String, message: String },
    #[error("{0}")]
    Invalid(ValidationErrors),
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A write through SQLite's own C API (a first check's rows) failed.
    #[error("database error: {0}")]
    Bulk(String),
}

impl StoreError {
    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        Self::Conflict {
            field: field.into(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Maps a unique-constraint violation to a conflict on `field`, other errors unchanged.
pub(crate) fn unique_as(
    field: &'static str,
    message: &'static str,
) -> impl Fn(sqlx::Error) -> StoreError {
    move |e| match e.as_database_error() {
        Some(db) if db.is_unique_violation() => StoreError::conflict(field, message),
        _ => StoreError::Database(e),
    }
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// Where write transactions run. On SQLite, one connection of its own: writers queue for
    /// it in order (asynchronously) instead of spinning in SQLite's busy handler, whose sleeps
    /// grow to tens of milliseconds under contention; readers keep the main pool (WAL lets them
    /// read beside the writer). On PostgreSQL, the main pool.
    writer: AnyPool,
    /// PostgreSQL only: connections of the Postgres driver itself, for what the Any driver
    /// cannot do (a first check's `COPY`); opened when first used.
    copy: Option<sqlx::PgPool>,
    /// SQLite only: the database file, which a first check opens a connection of SQLite's own
    /// C API to for its rows (`check::native`).
    sqlite_path: Option<std::path::PathBuf>,
    backend: Backend,
    env: Env,
    /// The group-commit task of an IdP's user creates (`scim_batch`).
    scim_creates: ScimCreates,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish()
    }
}

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

impl Store {
    /// Connects to `sqlite://path?mode=rwc` or `postgres://…`.
    pub async fn connect(url: &str, env: Env, opts: ConnectOptions) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Invalid(
                castellan_domain::FieldError::new(
                    "database_url",
                    "must start with sqlite: or postgres:",
                )
                .into(),
            ));
        };
        let options = |max: u32| {
            let mut pool = AnyPoolOptions::new()
                .max_connections(max)
                .acquire_timeout(opts.acquire_timeout);
            if backend == Backend::Sqlite {
                pool = sqlite_pragmas(pool);
            }
            pool
        };
        let pool = options(opts.max_connections).connect(url).await?;
        let writer = match backend {
            Backend::Sqlite => options(1).connect(url).await?,
            Backend::Postgres => pool.clone(),
        };
        if backend == Backend::Sqlite {
            tokio::spawn(checkpointer(pool.clone()));
        }
        let copy = match backend {
            Backend::Sqlite => None,
            // Two: a first check writes at most two transactions at once.
            Backend::Postgres => Some(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(opts.acquire_timeout)
                    .connect_lazy(url)?,
            ),
        };
        let sqlite_path = match backend {
            Backend::Sqlite => Some(
                sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                    .get_filename()
                    .to_path_buf(),
            ),
            Backend::Postgres => None,
        };
        Ok(Self {
            pool,
            writer,
            copy,
            sqlite_path,
            backend,
            env,
            scim_creates: Default::default(),
        })
    }
}

/// Every SQLite connection's settings.
fn sqlite_pragmas(pool: AnyPoolOptions) -> AnyPoolOptions {
    pool.after_connect(|conn, _| {
        Box::pin(async move {
            for pragma in SQLITE_PRAGMAS {
                sqlx::query(pragma).execute(&mut *conn).await?;
            }
            Ok(())
        })
    })
}

/// The settings of every SQLite connection, the pools' and a first check's own (`check::native`).
/// WAL lets readers run while one writer writes; the busy timeout makes a second process wait
/// for the write lock instead of failing.
pub(crate) const SQLITE_PRAGMAS: [&str; 6] = [
    // Pages of 16 KiB (a database's page size is fixed when it is created: later this does
    // nothing): a first check's million grants split a quarter as many B-tree pages. A
    // 100k-member Pinterest first check took 6.6 CPU-s instead of 7.0 (7.9 s instead of
    // 8.5 s), one of 500k 36 instead of 49; the cache stays the same 2 MB, so peak memory
    // did not move (151 MB against 150 at 500k).
    "PRAGMA page_size = 16384",
    "PRAGMA journal_mode = WAL",
    "PRAGMA busy_timeout = 10000",
    "PRAGMA foreign_keys = ON",
    "PRAGMA synchronous = NORMAL",
    // Commits do not checkpoint the log; `checkpointer` does, beside them.
    "PRAGMA wal_autocheckpoint = 0",
];

impl Store {
    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn env(&self) -> &Env {
        &self.env
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Applies the forward-only migrations of this backend.
    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        if let Some(copy) = &self.copy {
            copy.close().await;
        }
        self.writer.close().await;
        self.pool.close().await;
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so a transaction that reads before it writes cannot fail half-way with
    /// "database is locked" when another writer got there first.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        Ok(match self.backend {
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        })
    }

    /// Everything inside one workspace.
    pub fn ws(&self, workspace_id: WorkspaceId) -> Scoped<'_> {
        Scoped {
            store: self,
            ws: workspace_id,
        }
    }
}

/// Copies SQLite's write-ahead log into the database file every half second, on a connection
/// of its own. A passive checkpoint runs beside readers and writers, so a commit never waits
/// for one (with the default, the commit that crosses 1,000 log pages checkpoints, and a
/// check writing a million rows would do that a hundred times on its own time). Stops when
/// the pool closes.
async fn checkpointer(pool: AnyPool) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::debug!(error = %e, "checkpoint skipped");
        }
    }
}

/// A view of the store limited to one workspace.
#[derive(Clone, Copy)]
pub struct Scoped<'a> {
    pub(crate) store: &'a Store,
    pub(crate) ws: WorkspaceId,
}

impl Scoped<'_> {
    pub fn workspace_id(&self) -> WorkspaceId {
        self.ws
    }
    pub(crate) fn ws_str(&self) -> String {
        self.ws.to_string()
    }
}

// Row helpers: the Any driver decodes TEXT/BIGINT portably; these turn columns into domain
// types and report unreadable data instead of panicking.
pub(crate) fn get_id<T: FromStr>(row: &AnyRow, col: &str) -> Result<T> {
    let s: String = row.try_get(col)?;
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("column {col} holds a malformed id")))
}

pub(crate) fn get_opt_id<T: FromStr>(row: &AnyRow, col: &str) -> Result<Option<T>> {
    let s: Option<String> = row.try_get(col)?;
    s.map(|s| {
        s.parse()
            .map_err(|_| StoreError::Corrupt(format!("column {col} holds a malformed id")))
    })
    .transpose()
}

pub(crate) fn get_time(row: &AnyRow, col: &str) -> Result<castellan_domain::Timestamp> {
    Ok(castellan_domain::clock::from_millis(
        row.try_get::<i64, _>(col)?,
    ))
}

pub(crate) fn get_opt_time(row: &AnyRow, col: &str) -> Result<Option<castellan_domain::Timestamp>> {
    Ok(row
        .try_get::<Option<i64>, _>(col)?
        .map(castellan_domain::clock::from_millis))
}

pub(crate) fn get_bool(row: &AnyRow, col: &str) -> Result<bool> {
    Ok(row.try_get::<i64, _>(col)? != 0)
}

pub(crate) fn get_json(row: &AnyRow, col: &str) -> Result<serde_json::Value> {
    let s: String = row.try_get(col)?;
    serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("column {col}: {e}")))
}

pub(crate) fn get_parsed<T: FromStr>(row: &AnyRow, col: &str) -> Result<T> {
    let s: String = row.try_get(col)?;
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("column {col} holds unknown value {s:?}")))
}

pub(crate) fn ms(t: castellan_domain::Timestamp) -> i64 {
    t.timestamp_millis()
}
