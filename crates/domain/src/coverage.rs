//! The coverage window: which of a check's per-item lists (an asset's holders, a partner's
//! shared assets) are read this check and which are kept as last read.
//!
//! Some platforms answer "who holds this asset" only asset by asset (TikTok's
//! `/bc/asset/member/get/`, 20 a page): at 10,000 assets that is most of a check's requests,
//! and a check at the documented rate takes over an hour. With a window of N checks each
//! check reads the lists of at least 1/N of the items — every item never read, then the ones
//! read longest ago — and keeps the others' as the store holds them, so every list is at most
//! N checks old. Members, their business roles and the lists of assets and partners are read
//! every check, so a member who left never keeps a kept asset's access.

use std::collections::HashMap;

/// How much of the per-item lists a check reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FetchScope {
    /// Read every list (a first check, a full pass on demand, or no window configured).
    pub full: bool,
    /// Every list is read at least once in this many checks (0 or 1: every check).
    pub window: u32,
    /// Lists read per check at least, however wide the window: a small business is read in
    /// full every check.
    pub min_per_check: usize,
    /// Assets whose holders were read before, with when (ms since the epoch).
    pub holders_read: HashMap<String, i64>,
    /// Partners whose shared assets were read before, with when.
    pub shares_read: HashMap<String, i64>,
}

/// What a check was told to keep, sent by the connector after the seats (so the store keeps
/// only grants of members it still has).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// The asset's member holders were not read: keep the stored ones.
    Holders(String),
    /// The partner's shared assets (and its relation) were not read: keep the stored ones.
    Shares(String),
}

impl FetchScope {
    /// Every list, every check.
    pub fn everything() -> Self {
        Self::default()
    }

    /// Which of `ids` (this check's items, in the platform's order) to read, given when each
    /// was read before (`read`): true to read. See the module docs.
    pub fn pick(&self, ids: &[String], read: &HashMap<String, i64>) -> Vec<bool> {
        if self.full || self.window <= 1 || read.is_empty() {
            return vec![true; ids.len()];
        }
        let budget = ids
            .len()
            .div_ceil(self.window as usize)
            .max(self.min_per_check);
        let mut out = vec![false; ids.len()];
        let mut taken = 0;
        let mut known: Vec<(i64, &str, usize)> = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            match read.get(id) {
                Some(&at) => known.push((at, id, i)),
                None => {
                    out[i] = true;
                    taken += 1;
                }
            }
        }
        known.sort_unstable();
        for (_, _, i) in known.into_iter().take(budget.saturating_sub(taken)) {
            out[i] = true;
        }
        out
    }

    /// [`pick`](Self::pick), with the items left unread as `Kept` lists (`as_kept` names one).
    pub fn split(
        &self,
        ids: &[String],
        read: &HashMap<String, i64>,
        as_kept: fn(String) -> Kept,
    ) -> (Vec<bool>, Vec<Kept>) {
        let picked = self.pick(ids, read);
        let kept = ids
            .iter()
            .zip(&picked)
            .filter(|(_, p)| !**p)
            .map(|(id, _)| as_kept(id.clone()))
            .collect();
        (picked, kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("a{i:02}")).collect()
    }

    fn scope(window: u32, min: usize) -> FetchScope {
        FetchScope {
            window,
            min_per_check: min,
            ..Default::default()
        }
    }

    #[test]
    fn without_a_window_or_history_everything_is_read() {
        let all = ids(10);
        let read: HashMap<String, i64> = all.iter().map(|a| (a.clone(), 1)).collect();
        assert!(scope(1, 0).pick(&all, &read).iter().all(|&r| r));
        assert!(scope(4, 0).pick(&all, &HashMap::new()).iter().all(|&r| r));
        let full = FetchScope {
            full: true,
            ..scope(4, 0)
        };
        assert!(full.pick(&all, &read).iter().all(|&r| r));
        // A business smaller than the minimum is read in full.
        assert!(scope(4, 10).pick(&all, &read).iter().all(|&r| r));
    }

    #[test]
    fn new_items_then_the_oldest_are_read_and_every_item_within_the_window() {
        let all = ids(10);
        // a00..a08 read before, a09 never.
        let mut read: HashMap<String, i64> = all[..9]
            .iter()
            .enumerate()
            .map(|(i, a)| (a.clone(), 100 - i as i64))
            .collect();
        let picked = scope(4, 0).pick(&all, &read);
        // ceil(10 / 4) = 3: the new one and the two read longest ago (a08, a07).
        let names: Vec<&str> = all
            .iter()
            .zip(&picked)
            .filter(|(_, r)| **r)
            .map(|(a, _)| a.as_str())
            .collect();
        assert_eq!(names, ["a07", "a08", "a09"]);
        // Simulated checks: every item is read within 4 checks of its last read.
        let mut last: HashMap<String, u32> = HashMap::new();
        for check in 1..=20u32 {
            let picked = scope(4, 0).pick(&all, &read);
            for (a, r) in all.iter().zip(picked) {
                if r {
                    read.insert(a.clone(), 1000 + i64::from(check));
                    if let Some(prev) = last.insert(a.clone(), check) {
                        assert!(check - prev <= 4, "{a} read at {prev} then {check}");
                    }
                }
            }
        }
        assert_eq!(last.len(), 10);
    }
}
