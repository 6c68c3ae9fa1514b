//! What every handler can reach.

use std::sync::Arc;
use std::time::Duration;

use castellan_domain::Env;
use castellan_store::Store;

use crate::auth::Throttle;
use crate::metrics::Metrics;

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
    /// The URL people reach Castellan at (links in e-mails, printed by the CLI).
    pub public_url: String,
    /// Hour (UTC) of the daily automatic check for updates.
    pub check_hour_utc: u32,
    /// Up to this much random delay after that hour, so apps do not all start at once.
    pub check_jitter: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(12 * 3600),
            secure_cookies: false,
            throttle_max_failures: 5,
            throttle_window: Duration::from_secs(15 * 60),
            public_url: "http://127.0.0.1:8080".into(),
            check_hour_utc: 3,
            check_jitter: Duration::from_secs(3600),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub env: Env,
    pub settings: Arc<ServerSettings>,
    pub metrics: Arc<Metrics>,
    pub throttle: Arc<Throttle>,
    pub vault: Arc<castellan_vault::SharedKeyring>,
}

impl AppState {
    pub fn new(
        store: Store,
        settings: ServerSettings,
        metrics: Arc<Metrics>,
        vault: Arc<castellan_vault::SharedKeyring>,
    ) -> Self {
        let env = store.env().clone();
        let throttle = Arc::new(Throttle::new(
            settings.throttle_max_failures,
            settings.throttle_window,
        ));
        Self {
            store,
            env,
            settings: Arc::new(settings),
            metrics,
            throttle,
            vault,
        }
    }
}
