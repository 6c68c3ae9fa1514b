//! The HTTP core every connector shares: a rate limit that stays under the platform's
//! documented limits, bounded retries with exponential backoff and jitter for retryable
//! failures (5xx, 429, timeouts, network), `Retry-After` when the platform sends it, request
//! counting, and timeouts.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use castellan_domain::platform::ConnectorError;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Per request.
    pub timeout: Duration,
    /// Retries of one request before giving up.
    pub max_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Requests per second this client sends at most (0 = no limit).
    pub rate_per_sec: f64,
    /// Requests in flight at once for fan-out reads.
    pub concurrency: usize,
    /// Seed for the jitter (so retried runs are reproducible in tests).
    pub seed: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_retries: 6,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            rate_per_sec: 10.0,
            concurrency: 4,
            seed: 0,
        }
    }
}

/// What became of one attempt.
pub enum Attempt<T> {
    Done(T),
    /// Try again after the given wait (from `Retry-After`) or after backoff.
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    Fail(ConnectorError),
}

pub struct Http {
    pub client: reqwest::Client,
    pub cfg: HttpConfig,
    bucket: tokio::sync::Mutex<(f64, Instant)>,
    rng: Mutex<StdRng>,
    pub requests: AtomicU64,
    pub retries: AtomicU64,
}

impl Http {
    pub fn new(cfg: HttpConfig) -> Result<Self, ConnectorError> {
        let client = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .user_agent(concat!("castellan/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ConnectorError::Protocol(format!("http client: {e}")))?;
        let rng = Mutex::new(StdRng::seed_from_u64(cfg.seed));
        let burst = cfg.rate_per_sec.max(1.0);
        Ok(Self {
            client,
            bucket: tokio::sync::Mutex::new((burst, Instant::now())),
            cfg,
            rng,
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        })
    }

    /// Waits for a token of the rate limit.
    async fn pace(&self) {
        let rate = self.cfg.rate_per_sec;
        if rate <= 0.0 {
            return;
        }
        loop {
            let wait = {
                let mut b = self.bucket.lock().await;
                let now = Instant::now();
                let (tokens, last) = *b;
                let tokens =
                    (tokens + now.duration_since(last).as_secs_f64() * rate).min(rate.max(1.0));
                if tokens >= 1.0 {
                    *b = (tokens - 1.0, now);
                    return;
                }
                *b = (tokens, now);
                Duration::from_secs_f64((1.0 - tokens) / rate)
            };
            tokio::time::sleep(wait).await;
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self
            .cfg
            .backoff_base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.cfg.backoff_max);
        let half = ceiling / 2;
        let jitter: f64 = self.rng.lock().expect("rng").r#gen();
        half + ceiling.saturating_sub(half).mul_f64(jitter)
    }

    /// Sends the request built by `build` and reads the answer with `read`, retrying what is
    /// retryable.
    pub async fn run<T, B, R, Fut>(
        &self,
        what: &str,
        build: B,
        read: R,
    ) -> Result<T, ConnectorError>
    where
        B: Fn() -> reqwest::RequestBuilder,
        R: Fn(reqwest::StatusCode, Option<Duration>, Vec<u8>) -> Fut,
        Fut: std::future::Future<Output = Attempt<T>>,
    {
        let mut attempt = 0;
        loop {
            self.pace().await;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let outcome = match build().send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    match resp.bytes().await {
                        Ok(body) => read(status, retry_after, body.to_vec()).await,
                        Err(e) => Attempt::Retry {
                            reason: format!("reading the answer: {e}"),
                            after: None,
                        },
                    }
                }
                Err(e) if e.is_timeout() => Attempt::Retry {
                    reason: "timed out".into(),
                    after: None,
                },
                Err(e) => Attempt::Retry {
                    reason: format!("network: {}", root_cause(&e)),
                    after: None,
                },
            };
            match outcome {
                Attempt::Done(v) => return Ok(v),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry { reason, after } => {
                    if attempt >= self.cfg.max_retries {
                        return Err(ConnectorError::Unavailable(format!(
                            "{what}: {reason} (after {} attempts)",
                            attempt + 1
                        )));
                    }
                    let wait = after
                        .map(|a| a.min(self.cfg.backoff_max))
                        .unwrap_or_else(|| self.backoff(attempt));
                    tracing::debug!(what, %reason, wait_ms = wait.as_millis() as u64, "retrying");
                    self.retries.fetch_add(1, Ordering::Relaxed);
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    pub fn counts(&self) -> (u64, u64) {
        (
            self.requests.load(Ordering::Relaxed),
            self.retries.load(Ordering::Relaxed),
        )
    }
}

/// The innermost cause of a transport error ("Connection refused (os error 111)", "failed
/// to lookup address…"): reqwest's own text says only that sending failed.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
