//! Time is an input: code that needs "now" takes a `Clock` (or a `Timestamp`) so tests can
//! pin it.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

pub type Timestamp = DateTime<Utc>;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The wall clock, for production.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Utc::now()
    }
}

/// A clock that only moves when told to, for tests.
#[derive(Debug)]
pub struct FixedClock(Mutex<Timestamp>);

impl FixedClock {
    pub fn new(at: Timestamp) -> Self {
        Self(Mutex::new(at))
    }
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().expect("clock poisoned");
        *t += by;
    }
    pub fn set(&self, at: Timestamp) {
        *self.0.lock().expect("clock poisoned") = at;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().expect("clock poisoned")
    }
}

/// Milliseconds since the Unix epoch: the portable way timestamps are stored.
pub fn to_millis(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

pub fn from_millis(ms: i64) -> Timestamp {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

/// The two things Castellan takes from the outside world: the time and random bytes. Built
/// once at start (`Env::system()`), or pinned in tests (`Env::deterministic`).
#[derive(Clone)]
pub struct Env {
    pub clock: std::sync::Arc<dyn Clock>,
    rng: std::sync::Arc<Mutex<rand::rngs::StdRng>>,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Env")
    }
}

impl Env {
    /// Wall clock and a CSPRNG (ChaCha, seeded from the operating system).
    pub fn system() -> Self {
        use rand::SeedableRng;
        Self {
            clock: std::sync::Arc::new(SystemClock),
            rng: std::sync::Arc::new(Mutex::new(rand::rngs::StdRng::from_entropy())),
        }
    }

    pub fn deterministic(clock: std::sync::Arc<dyn Clock>, seed: u64) -> Self {
        use rand::SeedableRng;
        Self {
            clock,
            rng: std::sync::Arc::new(Mutex::new(rand::rngs::StdRng::seed_from_u64(seed))),
        }
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Runs `f` with the random source.
    pub fn with_rng<T>(&self, f: impl FnOnce(&mut dyn rand::RngCore) -> T) -> T {
        let mut rng = self.rng.lock().expect("rng poisoned");
        f(&mut *rng)
    }

    /// A new time-ordered id.
    pub fn new_uuid(&self) -> uuid::Uuid {
        let now = self.now();
        self.with_rng(|r| new_v7(now, r))
    }
}

/// A UUIDv7 for `now`: time-ordered, its random bits from `rng`.
pub fn new_v7(now: Timestamp, rng: &mut dyn rand::RngCore) -> uuid::Uuid {
    let mut bytes = [0u8; 10];
    rng.fill_bytes(&mut bytes);
    let ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(ms, &bytes).into_uuid()
}
