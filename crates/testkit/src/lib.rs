//! Test support, a dev-dependency only: fresh SQLite and PostgreSQL databases (`db`), and the
//! real server on port 0 over one (`app`), optionally running a worker with the one task
//! registry, so tests never wire handlers by hand.

pub mod app;
pub mod db;

pub use app::{TestApp, cli, error_of, services, test_vault, unique};
pub use db::TestDb;
