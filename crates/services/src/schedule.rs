//! The scheduler: when each app's next daily check is due (with jitter), and the pass that
//! ends expired exemptions, queues due password rotations and enqueues due checks, run in a
//! supervised loop by `castellan serve`.

use std::time::Duration;

use castellan_domain::TaskId;
use castellan_store::Store;

use crate::Services;

/// When an app's next automatic check is due, with random jitter.
pub fn next_check(env: &castellan_domain::Env, settings: &Schedule) -> castellan_domain::Timestamp {
    use rand::Rng as _;
    let max = settings.check_jitter.as_secs().max(1);
    let jitter = env.with_rng(|r| r.gen_range(0..max));
    castellan_domain::apps::next_daily_check(
        env.now(),
        settings.check_hour_utc,
        chrono::Duration::seconds(jitter as i64),
    )
}

/// One scheduler pass: ends expired exemptions, queues due password rotations, enqueues the
/// checks that are due.
pub async fn schedule_tick(
    store: &Store,
    settings: &Schedule,
) -> Result<Vec<TaskId>, castellan_store::StoreError> {
    let env = store.env().clone();
    let ended = store.release_expired_exemptions().await?;
    if ended > 0 {
        tracing::info!(seats = ended, "exemptions ended");
    }
    let rotations = crate::rotation::tick(store).await?;
    if !rotations.is_empty() {
        tracing::info!(cards = rotations.len(), "password rotations queued");
    }
    store
        .enqueue_due_checks(|| next_check(&env, settings))
        .await
}

/// Runs the scheduler every `every` until shutdown. Supervised: a pass that panics is logged
/// and the scheduler goes on with the next one.
pub async fn run_scheduler(
    svc: Services,
    every: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        let (store, schedule) = (svc.store.clone(), svc.schedule.clone());
        let pass = tokio::spawn(async move { schedule_tick(&store, &schedule).await });
        match pass.await {
            Ok(Ok(ids)) if !ids.is_empty() => {
                tracing::info!(count = ids.len(), "scheduled checks for updates")
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "scheduling checks failed"),
            Err(e) => tracing::error!(error = %e, "a scheduler pass panicked; going on"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// When the daily automatic check for updates runs.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Hour (UTC) of the daily automatic check for updates.
    pub check_hour_utc: u32,
    /// Up to this much random delay after that hour, so apps do not all start at once.
    pub check_jitter: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            check_hour_utc: 3,
            check_jitter: Duration::from_secs(3600),
        }
    }
}
