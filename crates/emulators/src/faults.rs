//! Faults and limits, applied to platform routes (never to the control API): latency, seeded
//! random 500/502/503 answers and hangs, and per-category token-bucket rate limits (Pinterest
//! `ads_read` / `ads_write` / `org_read`, TikTok app QPS). Adjustable at start and through
//! `/_emulator/faults`.

use std::collections::HashMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Added to every platform answer.
    pub latency_ms: u64,
    /// Share (0–1) of requests answered with a random 500, 502 or 503.
    pub error_rate: f64,
    /// Share (0–1) of requests that hang for `timeout_ms` and then answer 504.
    pub timeout_rate: f64,
    pub timeout_ms: u64,
    /// Lifetime of newly issued Pinterest access tokens (they answer 401 once expired).
    pub pinterest_token_ttl_secs: u64,
    /// Token buckets: requests per second (and as burst) for each category; 0 = unlimited.
    pub pinterest_ads_read_per_sec: f64,
    pub pinterest_ads_write_per_sec: f64,
    pub pinterest_org_per_sec: f64,
    pub tiktok_qps: f64,
    /// The next this many writes (any call that changes something) answer 503, then writes
    /// work again: a fault that a retry gets past.
    pub fail_next_writes: u32,
    /// Every write is refused with this message (Pinterest: 400; TikTok: code 40002): a
    /// fault no retry gets past.
    pub refuse_writes: Option<String>,
    /// Answers of one endpoint lose one field, as if the platform had renamed it: a change
    /// of wire format no retry gets past.
    pub drop_field: Option<DropField>,
}

/// Which field to drop from which answers.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DropField {
    /// Answers of requests whose path ends with this (e.g. `/bc/member/get/`).
    pub path_suffix: String,
    /// The field, as a dotted path in the JSON answer (e.g. `data.page_info`).
    pub field: String,
}

impl DropField {
    /// Removes the field from `v`, when there.
    pub fn apply(&self, v: &mut serde_json::Value) {
        let mut parts: Vec<&str> = self.field.split('.').collect();
        let Some(last) = parts.pop() else { return };
        let mut at = v;
        for p in parts {
            match at.get_mut(p) {
                Some(next) => at = next,
                None => return,
            }
        }
        if let Some(o) = at.as_object_mut() {
            o.remove(last);
        }
    }
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            error_rate: 0.0,
            timeout_rate: 0.0,
            timeout_ms: 30_000,
            pinterest_token_ttl_secs: 30 * 24 * 3600,
            pinterest_ads_read_per_sec: 0.0,
            pinterest_ads_write_per_sec: 0.0,
            pinterest_org_per_sec: 0.0,
            tiktok_qps: 0.0,
            fail_next_writes: 0,
            refuse_writes: None,
            drop_field: None,
        }
    }
}

impl Faults {
    pub fn validate(&self) -> Result<(), String> {
        for (name, v) in [
            ("error_rate", self.error_rate),
            ("timeout_rate", self.timeout_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        for (name, v) in [
            (
                "pinterest_ads_read_per_sec",
                self.pinterest_ads_read_per_sec,
            ),
            (
                "pinterest_ads_write_per_sec",
                self.pinterest_ads_write_per_sec,
            ),
            ("pinterest_org_per_sec", self.pinterest_org_per_sec),
            ("tiktok_qps", self.tiktok_qps),
        ] {
            if v < 0.0 || !v.is_finite() {
                return Err(format!("{name} must be zero or positive"));
            }
        }
        Ok(())
    }

    pub fn rate_for(&self, category: &str) -> f64 {
        match category {
            "ads_read" => self.pinterest_ads_read_per_sec,
            "ads_write" => self.pinterest_ads_write_per_sec,
            "org_read" | "org_write" => self.pinterest_org_per_sec,
            "tiktok" => self.tiktok_qps,
            _ => 0.0,
        }
    }
}

/// One token bucket per category.
#[derive(Debug, Default)]
pub struct Limiter {
    buckets: HashMap<String, (f64, Instant)>,
}

impl Limiter {
    /// Takes a token; false when the category is out of tokens.
    pub fn take(&mut self, category: &str, rate: f64, now: Instant) -> bool {
        if rate <= 0.0 {
            return true;
        }
        let burst = rate.max(1.0);
        let (tokens, last) = self
            .buckets
            .entry(category.to_string())
            .or_insert((burst, now));
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * rate).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }

    pub fn reset(&mut self) {
        self.buckets.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_refills_at_its_rate() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        assert!(l.take("ads_read", 2.0, t0));
        assert!(l.take("ads_read", 2.0, t0));
        assert!(!l.take("ads_read", 2.0, t0));
        assert!(l.take("ads_read", 2.0, t0 + Duration::from_millis(600)));
        assert!(l.take("other", 0.0, t0));
    }
}
