//! What every handler can reach: the services (the use cases and what they hold), the
//! HTTP-side settings, the sign-in throttle, and the health of an in-process worker.

use std::sync::Arc;
use std::time::Duration;

use castellan_domain::Env;
use castellan_services::Services;
use castellan_services::worker::WorkerHealth;
use castellan_store::Store;

use castellan_services::throttle::Throttle;

/// Settings of the HTTP side, filled from configuration by the binary.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// How long a sign-in session lasts.
    pub session_ttl: Duration,
    /// Mark cookies `Secure` (set when served over HTTPS, directly or behind a proxy).
    pub secure_cookies: bool,
    /// Failed sign-ins per e-mail within `throttle_window` before further tries are refused.
    pub throttle_max_failures: u32,
    pub throttle_window: Duration,
    /// The URL people reach Castellan at (OAuth redirect URIs, links printed by the CLI).
    pub public_url: String,
    /// Where a newly connected app's API is when the wizard's API base URL is left empty (the
    /// demo's embedded emulators); without an entry, the platform's own API.
    pub default_api_base: Vec<(castellan_domain::apps::Platform, String)>,
}

impl ServerSettings {
    /// The API base URL a new app of `platform` gets when none is given.
    pub fn default_api_base(&self, platform: castellan_domain::apps::Platform) -> Option<&str> {
        self.default_api_base
            .iter()
            .find(|(p, _)| *p == platform)
            .map(|(_, u)| u.as_str())
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: false,
            throttle_max_failures: 5,
            throttle_window: Duration::from_secs(15 * 60),
            public_url: "http://127.0.0.1:8080".into(),
            default_api_base: Vec::new(),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    /// The same store as `services.store`, for brevity in handlers.
    pub store: Store,
    pub env: Env,
    pub settings: Arc<ServerSettings>,
    pub throttle: Arc<Throttle>,
    /// Set when this process runs a worker: `/readyz` fails while its loop is not running.
    pub worker: Option<WorkerHealth>,
}

impl AppState {
    pub fn new(services: Services, settings: ServerSettings) -> Self {
        let store = services.store.clone();
        let env = store.env().clone();
        let throttle = Arc::new(Throttle::new(
            settings.throttle_max_failures,
            settings.throttle_window,
        ));
        Self {
            services,
            store,
            env,
            settings: Arc::new(settings),
            throttle,
            worker: None,
        }
    }

    /// Reports `health` in `/readyz`.
    pub fn with_worker(mut self, health: WorkerHealth) -> Self {
        self.worker = Some(health);
        self
    }
}
