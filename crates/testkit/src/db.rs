//! Fresh databases for tests: a temporary SQLite file, or a uniquely named PostgreSQL
//! database created on the server named by `CASTELLAN_TEST_POSTGRES_URL` and dropped when the
//! guard is dropped. With `CASTELLAN_REQUIRE_POSTGRES=1` a missing PostgreSQL is an error
//! instead of a skip.

use std::sync::atomic::{AtomicU64, Ordering};

use castellan_domain::Env;
use sqlx::Connection;

use castellan_store::{Backend, ConnectOptions, Store};

/// A database that lives as long as this guard.
pub struct TestDb {
    pub url: String,
    pub backend: Backend,
    _dir: Option<tempfile_dir::TempDir>,
    pg_admin: Option<(String, String)>,
}

mod tempfile_dir {
    /// A temporary directory removed on drop (std only, so the store needs no test-only
    /// dependency at run time).
    pub struct TempDir(pub std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique_suffix() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}_{}_{}", std::process::id(), nanos % 1_000_000_000, n)
}

impl TestDb {
    pub fn sqlite() -> Self {
        let dir = std::env::temp_dir().join(format!("castellan-test-{}", unique_suffix()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.join("castellan.db").display());
        Self {
            url,
            backend: Backend::Sqlite,
            _dir: Some(tempfile_dir::TempDir(dir)),
            pg_admin: None,
        }
    }

    /// A fresh PostgreSQL database, or `None` (with a message) when none is configured and
    /// none is required.
    pub async fn postgres() -> Option<Self> {
        let base = match std::env::var("CASTELLAN_TEST_POSTGRES_URL") {
            Ok(u) if !u.is_empty() => u,
            _ => {
                if std::env::var("CASTELLAN_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                    panic!(
                        "CASTELLAN_REQUIRE_POSTGRES=1 but CASTELLAN_TEST_POSTGRES_URL is not set"
                    );
                }
                eprintln!("skipping PostgreSQL run: CASTELLAN_TEST_POSTGRES_URL is not set");
                return None;
            }
        };
        let name = format!("castellan_test_{}", unique_suffix());
        let mut admin = match sqlx::PgConnection::connect(&base).await {
            Ok(c) => c,
            Err(e) => {
                if std::env::var("CASTELLAN_REQUIRE_POSTGRES").as_deref() == Ok("1") {
                    panic!(
                        "PostgreSQL at CASTELLAN_TEST_POSTGRES_URL is required but unreachable: {e}"
                    );
                }
                eprintln!("skipping PostgreSQL run: cannot connect: {e}");
                return None;
            }
        };
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let _ = admin.close().await;
        let url = replace_db_name(&base, &name);
        Some(Self {
            url,
            backend: Backend::Postgres,
            _dir: None,
            pg_admin: Some((base, name)),
        })
    }

    pub async fn for_backend(b: Backend) -> Option<Self> {
        match b {
            Backend::Sqlite => Some(Self::sqlite()),
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub async fn store(&self, env: Env) -> Store {
        let s = Store::connect(&self.url, env, ConnectOptions::default())
            .await
            .expect("connect test database");
        s.migrate().await.expect("migrate test database");
        s
    }
}

/// Swaps the database name (the URL path) of a PostgreSQL URL.
pub fn replace_db_name(url: &str, name: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match head[scheme_end..].find('/') {
        Some(i) => &head[..scheme_end + i],
        None => head,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((base, name)) = self.pg_admin.take() {
            // Drop runs outside async; a short-lived runtime on its own thread does the work.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    if let Ok(mut c) = sqlx::PgConnection::connect(&base).await {
                        let _ =
                            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                                .execute(&mut c)
                                .await;
                    }
                });
            })
            .join();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn db_name_is_replaced() {
        assert_eq!(
            super::replace_db_name("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            super::replace_db_name("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(
            super::replace_db_name("postgres://h", "x"),
            "postgres://h/x"
        );
    }
}
