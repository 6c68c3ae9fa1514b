//! Boots the real server on port 0 against a fresh database, makes callers of each role, and
//! runs workers over the one task registry (`castellan_services::tasks::registry`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use castellan_domain::audit::Actor;
use castellan_domain::auth::{API_TOKEN_PREFIX, ApiScope, generate_secret, hash_secret};
use castellan_domain::values::Email;
use castellan_domain::workspace::WorkspaceRole;
use castellan_domain::{Env, PersonId, WorkspaceId};
use castellan_server::{AppState, ServerSettings};
use castellan_services::Services;
use castellan_services::worker::{WorkerConfig, WorkerHealth};
use castellan_store::Store;
use tokio_util::sync::CancellationToken;

use crate::db::TestDb;

pub struct TestApp {
    pub base: String,
    pub store: Store,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
    pub db: TestDb,
    pub vault: Arc<castellan_vault::SharedKeyring>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

static N: AtomicU64 = AtomicU64::new(0);

/// A number unique within the test process, for unique names.
pub fn unique() -> u64 {
    N.fetch_add(1, Ordering::Relaxed)
}

pub fn cli() -> Actor {
    Actor::Automation {
        name: "test".into(),
    }
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(TestDb::sqlite(), ServerSettings::default()).await
    }

    pub async fn spawn_with(db: TestDb, settings: ServerSettings) -> Self {
        Self::spawn_full(db, settings, test_vault()).await
    }

    pub async fn spawn_full(
        db: TestDb,
        settings: ServerSettings,
        vault: Arc<castellan_vault::SharedKeyring>,
    ) -> Self {
        Self::spawn_state(db, settings, vault, None).await
    }

    /// The server reporting `health` (a worker's, started with [`TestApp::run_worker_with`])
    /// in `/readyz`.
    pub async fn spawn_reporting(
        db: TestDb,
        settings: ServerSettings,
        vault: Arc<castellan_vault::SharedKeyring>,
        health: WorkerHealth,
    ) -> Self {
        Self::spawn_state(db, settings, vault, Some(health)).await
    }

    /// The server with its `public_url` set to its own address, as a browser reaches it (OAuth
    /// redirects and e-mail links come back to it).
    pub async fn spawn_public(db: TestDb) -> Self {
        Self::spawn_bound(db, None, test_vault(), None).await
    }

    async fn spawn_state(
        db: TestDb,
        settings: ServerSettings,
        vault: Arc<castellan_vault::SharedKeyring>,
        health: Option<WorkerHealth>,
    ) -> Self {
        Self::spawn_bound(db, Some(settings), vault, health).await
    }

    async fn spawn_bound(
        db: TestDb,
        settings: Option<ServerSettings>,
        vault: Arc<castellan_vault::SharedKeyring>,
        health: Option<WorkerHealth>,
    ) -> Self {
        let store = db.store(Env::system()).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let settings = settings.unwrap_or_else(|| ServerSettings {
            public_url: base.clone(),
            ..Default::default()
        });
        let mut services = Services::new(store.clone(), vault.clone());
        // E-mail links (a guest's sign-in link) point where the server is reached.
        services.mail.public_url = settings.public_url.clone();
        let mut state = AppState::new(services, settings);
        if let Some(h) = health {
            state = state.with_worker(h);
        }
        let shutdown = CancellationToken::new();
        tokio::spawn(castellan_server::serve(listener, state, shutdown.clone()));
        Self {
            base,
            store,
            http: reqwest::Client::new(),
            shutdown,
            db,
            vault,
        }
    }

    /// Services over this app's store and vault (default connector HTTP, the outbox only).
    pub fn services(&self) -> Services {
        Services::new(self.store.clone(), self.vault.clone())
    }

    /// Runs a supervised worker with `svc`'s registry until the returned token is cancelled
    /// (or the app is dropped).
    pub fn run_worker(&self, svc: Services, cfg: WorkerConfig) -> CancellationToken {
        self.run_worker_with(svc, cfg, WorkerHealth::new())
    }

    /// [`TestApp::run_worker`], reporting into `health`.
    pub fn run_worker_with(
        &self,
        svc: Services,
        cfg: WorkerConfig,
        health: WorkerHealth,
    ) -> CancellationToken {
        let stop = self.shutdown.child_token();
        tokio::spawn(castellan_services::worker::supervise(
            svc.store.clone(),
            castellan_services::tasks::registry(&svc),
            cfg,
            svc.metrics.clone(),
            health,
            stop.clone(),
        ));
        stop
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A workspace with an Owner (no password; use tokens).
    pub async fn workspace(&self, name: &str) -> (WorkspaceId, PersonId) {
        let email = Email::parse("email", &format!("owner@{name}.example.com")).unwrap();
        let (w, p) = self
            .store
            .create_workspace_with_owner(name, &email, "not-a-password-hash", &cli())
            .await
            .unwrap();
        (w.id, p.id)
    }

    pub async fn person(&self, ws: WorkspaceId, role: WorkspaceRole) -> PersonId {
        let email = Email::parse("email", &format!("p{}@people.example.com", unique())).unwrap();
        self.store
            .ws(ws)
            .create_person(&cli(), &email, None, role, None)
            .await
            .unwrap()
            .id
    }

    pub async fn token(&self, ws: WorkspaceId, person: PersonId, scope: ApiScope) -> String {
        let secret = self
            .store
            .env()
            .with_rng(|r| generate_secret(API_TOKEN_PREFIX, r));
        self.store
            .ws(ws)
            .create_token(&cli(), person, "test", scope, &hash_secret(&secret))
            .await
            .unwrap();
        secret
    }

    pub fn get(&self, token: &str, path: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(token)
    }

    pub fn post(&self, token: &str, path: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(token)
    }
}

/// A vault with a fresh master key, in memory.
pub fn test_vault() -> Arc<castellan_vault::SharedKeyring> {
    let ring = castellan_vault::Keyring::new(
        Env::system().with_rng(|r| castellan_vault::MasterKey::generate(1, r)),
    );
    Arc::new(castellan_vault::SharedKeyring::new(ring, None))
}

/// Services over `store` with a fresh in-memory vault.
pub fn services(store: &Store) -> Services {
    Services::new(store.clone(), test_vault())
}

/// The error code of an error response.
pub async fn error_of(r: reqwest::Response) -> (u16, serde_json::Value) {
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or(serde_json::Value::Null);
    (status, body["error"].clone())
}
