//! The emulated world: both platforms' state, the faults in force, request counts per
//! endpoint and the seeded randomness, shared by every handler.

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::faults::{self, Faults};
use crate::scenario::ScenarioSource;
use crate::{pinterest_state, tiktok_state};

/// Everything the emulators hold.
pub struct World {
    pub pinterest: Mutex<pinterest_state::State>,
    pub tiktok: Mutex<tiktok_state::State>,
    pub faults: Mutex<Faults>,
    pub limiter: Mutex<faults::Limiter>,
    pub(crate) rng: Mutex<StdRng>,
    pub(crate) counts: Mutex<BTreeMap<String, u64>>,
    pub source: Mutex<ScenarioSource>,
    pub seed: u64,
}

impl World {
    pub fn new(source: ScenarioSource, seed: u64, faults: Faults) -> Result<Self, String> {
        let (p, t) = source.build(seed)?;
        Ok(Self {
            pinterest: Mutex::new(p),
            tiktok: Mutex::new(t),
            faults: Mutex::new(faults),
            limiter: Mutex::default(),
            rng: Mutex::new(StdRng::seed_from_u64(seed)),
            counts: Mutex::default(),
            source: Mutex::new(source),
            seed,
        })
    }

    /// Replaces both platforms' state with a freshly built scenario.
    pub fn reset(&self, source: ScenarioSource) -> Result<(), String> {
        let (p, t) = source.build(self.seed)?;
        *self.pinterest.lock().expect("state") = p;
        *self.tiktok.lock().expect("state") = t;
        *self.source.lock().expect("source") = source;
        self.limiter.lock().expect("limiter").reset();
        self.counts.lock().expect("counts").clear();
        Ok(())
    }

    pub fn random_hex(&self, bytes: usize) -> String {
        let mut b = vec![0u8; bytes];
        self.rng.lock().expect("rng").fill_bytes(&mut b);
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    pub fn request_id(&self) -> String {
        let n: u64 = self.rng.lock().expect("rng").r#gen();
        format!("2026{n:016x}")
    }

    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counts.lock().expect("counts").clone()
    }

    pub fn clear_counts(&self) {
        self.counts.lock().expect("counts").clear();
    }
}
