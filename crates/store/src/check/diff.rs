//! A later check's difference: the differing buckets diffed pass by pass (at most about
//! `pass_rows` rows each, which bounds a check's memory), and what differs written.

use castellan_domain::reports::CheckSummary;
use castellan_domain::snapshot::{self, BUCKETS, Digests, Row, Table};
use sqlx::AnyConnection;

use super::CheckRun;
use super::holders::insert_listed;
use super::report::Report;
use super::rows::{held_partition, held_rows, rebucket, update_rows, vanish_rows};
use crate::{Result, ms};

impl CheckRun {
    /// A later check: diffs the differing buckets, pass by pass, and writes the difference.
    pub(super) async fn apply_difference(
        &mut self,
        tx: &mut AnyConnection,
        differing: &[Vec<bool>; 4],
        s: &mut CheckSummary,
        report: &mut Report,
    ) -> Result<()> {
        let backend = self.store.backend;
        let a = self.app.id.to_string();
        for t in Table::ALL {
            let i = t.index();
            if !differing[i].iter().any(|&d| d) {
                continue;
            }
            if self.held[i].is_none() {
                rebucket(tx, backend, t, &a).await?;
            }
            let held = self.held[i].clone().unwrap_or_default();
            let mut spool = self.spools[i].take().expect("later checks spool");
            let ranges = passes(&differing[i], &held, &self.fetched[i], self.pass_rows);
            let started = std::time::Instant::now();
            if ranges.len() == 1 {
                let (lo, hi) = ranges[0];
                let mut wanted = vec![false; BUCKETS];
                wanted[lo..=hi].copy_from_slice(&differing[i][lo..=hi]);
                let held_rows = held_rows(tx, backend, t, &a, lo, hi, &wanted).await?;
                let fetched = spool.read(t, &wanted)?;
                self.apply_pass(tx, t, held_rows, fetched, s, report)
                    .await?;
                continue;
            }
            // Many passes: the table and the spool are each read once, split by pass.
            let mut pass_of = vec![None; BUCKETS];
            for (p, &(lo, hi)) in ranges.iter().enumerate() {
                for b in lo..=hi {
                    if differing[i][b] {
                        pass_of[b] = Some(p as u16);
                    }
                }
            }
            let mut held_parts = held_partition(tx, backend, t, &a, &pass_of, ranges.len()).await?;
            let held_secs = started.elapsed().as_secs_f64();
            let fetched_parts = spool.partition(t, &pass_of, ranges.len())?;
            let split_secs = started.elapsed().as_secs_f64();
            for (mut h, mut f) in held_parts.drain(..).zip(fetched_parts) {
                let held_rows = h.read_held(t)?;
                let fetched = f.read(t, &[true; BUCKETS])?;
                self.apply_pass(tx, t, held_rows, fetched, s, report)
                    .await?;
            }
            // Where a large difference goes: reading the held rows, splitting the spool, and
            // diffing and writing the passes (seconds since the table's diff began).
            tracing::debug!(
                table = t.as_str(),
                passes = ranges.len(),
                held_secs,
                split_secs,
                total_secs = started.elapsed().as_secs_f64(),
                "table diffed"
            );
        }
        Ok(())
    }

    /// Diffs one pass's held and fetched rows and writes the difference.
    async fn apply_pass(
        &self,
        tx: &mut AnyConnection,
        t: Table,
        held_rows: Vec<snapshot::Held>,
        fetched: Vec<Row>,
        s: &mut CheckSummary,
        report: &mut Report,
    ) -> Result<()> {
        let backend = self.store.backend;
        let (w, a) = (self.ws.to_string(), self.app.id.to_string());
        let d = snapshot::diff(held_rows, fetched);
        report.add(t, &d);
        let changed: Vec<Row> = d.changed.iter().map(|(r, _)| r.clone()).collect();
        let ins = insert_listed(tx, backend, &w, &a, self.now, &d.new).await?;
        let upd = update_rows(tx, backend, &a, &changed).await?;
        let van = vanish_rows(
            tx,
            backend,
            &a,
            self.now,
            self.app.last_check_at.map(ms),
            &d.vanished,
        )
        .await?;
        s.add(t, ins, upd, van);
        Ok(())
    }
}

/// Splits the differing buckets into contiguous ranges of at most about `pass_rows` rows.
fn passes(
    differing: &[bool],
    held: &Digests,
    fetched: &Digests,
    pass_rows: u64,
) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut rows = 0u64;
    for (b, _) in differing.iter().enumerate().filter(|(_, d)| **d) {
        let n = u64::from(held.counts[b]) + u64::from(fetched.counts[b]);
        if let Some(s) = start
            && rows + n > pass_rows
        {
            out.push((s, b - 1));
            start = None;
            rows = 0;
        }
        start.get_or_insert(b);
        rows += n;
    }
    if let Some(s) = start {
        out.push((s, BUCKETS - 1));
    }
    // With the held digests missing their counts are zeros and a pass is sized by what was
    // fetched alone; that happens once, after an upgrade or a dropped digest.
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_cover_differing_buckets_in_bounded_ranges() {
        let mut differing = vec![false; BUCKETS];
        let mut held = Digests::default();
        let fetched = Digests::default();
        for b in [3, 10, 11, 4000] {
            differing[b] = true;
            held.counts[b] = 30_000;
        }
        let p = passes(&differing, &held, &fetched, 50_000);
        assert_eq!(p, vec![(3, 9), (10, 10), (11, 3999), (4000, BUCKETS - 1)]);
        assert!(passes(&vec![false; BUCKETS], &held, &fetched, 50_000).is_empty());
        held.counts = vec![1; BUCKETS];
        assert_eq!(
            passes(&vec![true; BUCKETS], &held, &fetched, BUCKETS as u64),
            vec![(0, BUCKETS - 1)]
        );
    }
}
