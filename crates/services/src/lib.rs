//! Castellan's use cases, called by every front end alike: the JSON API, the web app, the CLI,
//! the worker, the demo and the benchmarks. Adding automation accounts (`accounts`), connecting and checking apps (`apps`), directory import (`directory`), previewing
//! and queueing changes (`members`), notifying about reports (`reports`), mail (`mail`), the vault
//! operations (`vault`), the task worker (`worker`) and the one task-kind registry (`tasks`).
//! No HTTP: the server crate turns these into routes.

pub mod access;
pub mod accounts;
pub mod apps;
pub mod connector;
pub mod directory;
pub mod error;
pub mod group_mappings;
pub mod guests;
pub mod local_partners;
pub mod mail;
pub mod members;
pub mod metrics;
pub mod oauth;
pub mod oidc;
pub mod partner_consent;
pub mod partners;
pub mod partnership;
pub mod people;
pub mod queue;
pub mod reports;
pub mod rotation;
pub mod schedule;
pub mod scim;
pub mod scim_groups;
pub mod scim_token_cache;
pub mod scim_users;
pub mod seats;
pub mod sessions;
pub mod sign_in_policy;
pub mod tasks;
pub mod throttle;
pub mod vault;
pub mod worker;
pub mod workspace;

use std::sync::Arc;

use castellan_store::Store;

pub use error::ServiceError;
pub use mail::{Mail, SmtpConfig};
pub use schedule::Schedule;
// What front ends and tests need of the layers below without depending on them.
pub use castellan_connectors::HttpConfig;
pub use castellan_vault::{Secret, SharedKeyring, load_or_create};
pub use metrics::Metrics;

/// Everything a use case can reach: the store, the vault, how connectors talk HTTP, where
/// e-mail goes, the schedule, and the process's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    pub vault: Arc<SharedKeyring>,
    /// HTTP settings for connectors (rate limit, retries, timeouts).
    pub http: HttpConfig,
    /// E-mail (SMTP, or the outbox only) and the public URL for links.
    pub mail: Mail,
    pub schedule: Schedule,
    pub metrics: Arc<Metrics>,
    /// SCIM tokens recently seen, so an IdP's requests do not each read the token's row.
    pub scim_tokens: Arc<scim_token_cache::TokenCache>,
    /// Requests per second each platform's connectors send at most; unset, `http`'s rate.
    pub rates: PlatformRates,
    /// How much of the per-item lists each check reads (see `castellan_domain::coverage`).
    pub coverage: Coverage,
}

/// The coverage window of each platform that lists holders per asset (TikTok only; Pinterest
/// lists them per member in few requests and is read in full every check).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Coverage {
    pub tiktok: CoverageWindow,
}

/// Every per-item list is read at least once in `window` checks, and at least
/// `min_per_check` of them every check (0 or 1: everything, every check).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CoverageWindow {
    pub window: u32,
    pub min_per_check: usize,
}

impl Coverage {
    /// What `serve` uses unless configured: TikTok's per-asset lists over 12 checks, at least
    /// 500 assets a check. At 100,000 members, 10,000 assets and 1,000 partners a check then
    /// sends about 7,800 requests (13 minutes at 10 a second) instead of 50,000 (83 minutes;
    /// over 8 checks, 10,242: 17 minutes); a business of up to 500 assets is read in full
    /// every check.
    pub const DEFAULT: Coverage = Coverage {
        tiktok: CoverageWindow {
            window: 12,
            min_per_check: 500,
        },
    };

    pub fn for_platform(&self, p: castellan_domain::apps::Platform) -> CoverageWindow {
        match p {
            castellan_domain::apps::Platform::Pinterest => CoverageWindow::default(),
            castellan_domain::apps::Platform::Tiktok => self.tiktok,
        }
    }
}

/// Per-platform request rates (requests per second; 0 means no limit).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PlatformRates {
    pub pinterest: Option<f64>,
    pub tiktok: Option<f64>,
}

impl PlatformRates {
    /// The platforms' documented limits: Pinterest's `ads_read` category allows 1,000
    /// requests a minute per user and app (Standard access); TikTok documents no number, and
    /// its digest advises at most about 10 a second per app.
    pub const DOCUMENTED: PlatformRates = PlatformRates {
        pinterest: Some(1000.0 / 60.0),
        tiktok: Some(10.0),
    };

    pub fn for_platform(&self, p: castellan_domain::apps::Platform) -> Option<f64> {
        match p {
            castellan_domain::apps::Platform::Pinterest => self.pinterest,
            castellan_domain::apps::Platform::Tiktok => self.tiktok,
        }
    }
}

impl Services {
    /// Services with default connector HTTP settings, the outbox only, and the default schedule.
    pub fn new(store: Store, vault: Arc<SharedKeyring>) -> Self {
        Self {
            store,
            vault,
            http: HttpConfig::default(),
            mail: Mail::default(),
            schedule: Schedule::default(),
            metrics: Arc::new(Metrics::new()),
            scim_tokens: Arc::default(),
            rates: PlatformRates::default(),
            coverage: Coverage::default(),
        }
    }
}
