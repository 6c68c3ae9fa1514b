//! The sign-in throttle: failed sign-ins counted per e-mail in a sliding window, kept in the
//! database so every process sharing it sees the same count.

use std::time::Duration;

use castellan_domain::Timestamp;
use castellan_domain::auth::hash_secret;

/// Counts failed sign-ins per key (the canonical e-mail) in a sliding window. The failures
/// live in the database, so every process sharing it sees the same count: a guesser cannot
/// spread tries over several `serve` processes.
pub struct Throttle {
    max: u32,
    window: Duration,
}

impl Throttle {
    pub fn new(max: u32, window: Duration) -> Self {
        Self { max, window }
    }

    fn window(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.window).unwrap_or_default()
    }

    /// `Ok(Err(seconds to wait))` when the key has used up its failures.
    pub async fn check(
        &self,
        store: &castellan_store::Store,
        key: &str,
        now: Timestamp,
    ) -> Result<Result<(), u64>, castellan_store::StoreError> {
        let window = self.window();
        let (n, oldest) = store
            .signin_failures(&hash_secret(key), now - window)
            .await?;
        if n >= i64::from(self.max) {
            let oldest = oldest.unwrap_or(now);
            return Ok(Err((oldest + window - now).num_seconds().max(1) as u64));
        }
        Ok(Ok(()))
    }

    pub async fn fail(
        &self,
        store: &castellan_store::Store,
        key: &str,
        now: Timestamp,
    ) -> Result<(), castellan_store::StoreError> {
        store
            .record_signin_failure(&hash_secret(key), now, now - self.window())
            .await
    }

    pub async fn succeed(
        &self,
        store: &castellan_store::Store,
        key: &str,
    ) -> Result<(), castellan_store::StoreError> {
        store.clear_signin_failures(&hash_secret(key)).await
    }
}
