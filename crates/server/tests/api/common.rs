//! Boots the real server on port 0 against a fresh database and makes callers of each role.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use castellan_domain::audit::Actor;
use castellan_domain::auth::{API_TOKEN_PREFIX, ApiScope, generate_secret, hash_secret};
use castellan_domain::values::Email;
use castellan_domain::workspace::WorkspaceRole;
use castellan_domain::{Env, PersonId, WorkspaceId};
use castellan_server::metrics::Metrics;
use castellan_server::{AppState, ServerSettings};
use castellan_store::Store;
use castellan_store::testing::TestDb;
use tokio_util::sync::CancellationToken;

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
        let ring = castellan_vault::Keyring::new(
            Env::system().with_rng(|r| castellan_vault::MasterKey::generate(1, r)),
        );
        Self::spawn_full(
            db,
            settings,
            Arc::new(castellan_vault::SharedKeyring::new(ring, None)),
        )
        .await
    }

    pub async fn spawn_full(
        db: TestDb,
        settings: ServerSettings,
        vault: Arc<castellan_vault::SharedKeyring>,
    ) -> Self {
        let store = db.store(Env::system()).await;
        let state = AppState::new(
            store.clone(),
            settings,
            Arc::new(Metrics::new()),
            vault.clone(),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
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

/// The error code of an error response.
pub async fn error_of(r: reqwest::Response) -> (u16, serde_json::Value) {
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or(serde_json::Value::Null);
    (status, body["error"].clone())
}
