//! `app_asset_holders`, each asset's holder keys as one list (what the Assets page reads):
//! gathered in memory during a first check and written once at its end; merged with the
//! grants later checks find new.
//!
//! Grants arrive in holder order, so anything kept in asset order and written as they came
//! would put every grant on a random page (see migration 0014). One list per asset is a few
//! thousand rows for a million grants.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use castellan_domain::snapshot::{Row, Table};
use sqlx::{AnyConnection, Row as _};

use super::names::{Names, SortedNames};
use super::rows::insert_rows;
use crate::sql::{CHUNK, json_cte, json_rows};
use crate::{Backend, Result};

/// A first check's grant keys, interned: a million grants name some thousands of assets and
/// holders, so each grant is two numbers and each name is held once. The numbers go to a
/// temporary file (8 bytes a grant): at 500,000 members 5.5M of them held in memory cost
/// 44 MB, and sorting them in place needed them all at once.
#[derive(Default)]
pub(crate) struct Holdings {
    assets: Names,
    holders: Names,
    /// Grants per asset number, so the lists can be laid out before the file is read back.
    counts: Vec<u32>,
    /// `(asset, holder)` numbers, little-endian u32 each; created with the first grant.
    pairs: Option<BufWriter<File>>,
}

impl Holdings {
    /// Takes the keys of fetched grant rows (`[holder, asset_id]`); other rows are ignored.
    pub(crate) fn add(&mut self, rows: &[Row]) -> std::io::Result<()> {
        for r in rows.iter().filter(|r| r.table == Table::Grants) {
            let h = self.holders.intern(&r.key[0]);
            let a = self.assets.intern(&r.key[1]);
            if a as usize == self.counts.len() {
                self.counts.push(0);
            }
            self.counts[a as usize] += 1;
            let file = match &mut self.pairs {
                Some(f) => f,
                None => self
                    .pairs
                    .insert(BufWriter::with_capacity(PAIR_BUFFER, tempfile::tempfile()?)),
            };
            file.write_all(&a.to_le_bytes())?;
            file.write_all(&h.to_le_bytes())?;
        }
        Ok(())
    }

    /// The names sorted, ready to give the keys by asset, then holder, a window of assets at
    /// a time ([`SortedHoldings::next_window`]). The lookup tables are dropped first.
    pub(crate) fn into_sorted(self) -> std::io::Result<SortedHoldings> {
        let (assets, asset_rank) = self.assets.into_sorted();
        let (holders, holder_rank) = self.holders.into_sorted();
        let mut counts = vec![0u32; self.counts.len()];
        for (a, &n) in self.counts.iter().enumerate() {
            counts[asset_rank[a] as usize] = n;
        }
        let pairs = match self.pairs {
            Some(file) => Some(file.into_inner().map_err(|e| e.into_error())?),
            None => None,
        };
        Ok(SortedHoldings {
            assets,
            holders,
            asset_rank,
            holder_rank,
            counts,
            pairs,
            next: 0,
        })
    }

    /// Each asset with its distinct holders, both in order, from windows of at most
    /// `window` grants (unless one asset alone has more).
    #[cfg(test)]
    pub(crate) fn lists(self, window: usize) -> Vec<(String, Vec<String>)> {
        let mut sorted = self.into_sorted().expect("temporary file");
        let mut out = Vec::new();
        while let Some(w) = sorted.next_window(window).expect("temporary file") {
            let (lists, next) = sorted.lists_from(&w, w.first(), usize::MAX, usize::MAX);
            assert_eq!(next, w.end());
            out.extend(
                lists
                    .into_iter()
                    .map(|(a, hs)| (a.to_string(), hs.into_iter().map(str::to_string).collect())),
            );
        }
        out
    }
}

/// The write and read buffer of the grant numbers' file.
const PAIR_BUFFER: usize = 64 * 1024;

/// Grants a window of [`SortedHoldings::next_window`] holds at most (unless one asset alone
/// has more): 8 MB of holder ranks. All of them at once were 22 MB at 500,000 members, the
/// peak of the check's memory; a million grants fit in one window, and each further window
/// reads the grant numbers' file once more (44 MB at 500,000 members, from the page cache).
pub(crate) const WINDOW_GRANTS: usize = 2 << 20;

/// A first check's grant keys with their names sorted (see [`Holdings::into_sorted`]).
pub(crate) struct SortedHoldings {
    assets: SortedNames,
    holders: SortedNames,
    /// Each name's rank by its number.
    asset_rank: Vec<u32>,
    holder_rank: Vec<u32>,
    /// Grants (duplicates included) by asset rank.
    counts: Vec<u32>,
    /// The `(asset, holder)` numbers' file; none without grants.
    pairs: Option<File>,
    /// The asset rank the next window starts at.
    next: usize,
}

/// The holders of the assets of ranks `first..first + starts.len() - 1`.
pub(crate) struct Window {
    first: usize,
    /// Where each asset's holders start in `ranks`, from `first` on; then their total.
    starts: Vec<usize>,
    /// Holder ranks, each asset's sorted and distinct.
    ranks: Vec<u32>,
}

impl Window {
    /// The rank of the window's first asset: [`SortedHoldings::lists_from`] starts there.
    pub(crate) fn first(&self) -> usize {
        self.first
    }

    /// The rank after the window's last asset.
    pub(crate) fn end(&self) -> usize {
        self.first + self.starts.len() - 1
    }
}

impl SortedHoldings {
    /// The next assets' holders, as many assets as `max_grants` grants allow (one at least),
    /// or none when every asset has been given: a counting sort over the file, read once,
    /// then each asset's slice sorted and its duplicates dropped.
    pub(crate) fn next_window(&mut self, max_grants: usize) -> std::io::Result<Option<Window>> {
        let first = self.next;
        if first >= self.counts.len() {
            return Ok(None);
        }
        let mut end = first;
        let mut total = 0usize;
        while end < self.counts.len()
            && (end == first || total + self.counts[end] as usize <= max_grants)
        {
            total += self.counts[end] as usize;
            end += 1;
        }
        self.next = end;
        // Where each asset's slice starts; the last entry is the total.
        let mut starts = vec![0usize; end - first + 1];
        for r in first..end {
            starts[r - first + 1] = starts[r - first] + self.counts[r] as usize;
        }
        let mut ranks = vec![0u32; total];
        if let Some(file) = &mut self.pairs {
            file.seek(SeekFrom::Start(0))?;
            let mut reader = BufReader::with_capacity(PAIR_BUFFER, &*file);
            let mut next = starts.clone();
            let mut pair = [0u8; 8];
            let all: usize = self.counts.iter().map(|&n| n as usize).sum();
            for _ in 0..all {
                reader.read_exact(&mut pair)?;
                let a = u32::from_le_bytes(pair[..4].try_into().expect("4 bytes"));
                let r = self.asset_rank[a as usize] as usize;
                if !(first..end).contains(&r) {
                    continue;
                }
                let h = u32::from_le_bytes(pair[4..].try_into().expect("4 bytes"));
                let slot = &mut next[r - first];
                ranks[*slot] = self.holder_rank[h as usize];
                *slot += 1;
            }
        }
        // Each slice sorted and its duplicates dropped, moved down to close the gaps.
        let mut kept = 0;
        for i in 0..starts.len() - 1 {
            let (lo, hi) = (starts[i], starts[i + 1]);
            ranks[lo..hi].sort_unstable();
            starts[i] = kept;
            let mut last = None;
            for j in lo..hi {
                if last != Some(ranks[j]) {
                    last = Some(ranks[j]);
                    ranks[kept] = ranks[j];
                    kept += 1;
                }
            }
        }
        *starts.last_mut().expect("one entry at least") = kept;
        ranks.truncate(kept);
        Ok(Some(Window {
            first,
            starts,
            ranks,
        }))
    }

    /// The holder lists of the window's assets from rank `from` on: at most `max_lists`
    /// lists, and no more holders than `max_holders` unless one list alone has more. Returns
    /// them and the rank the next call starts at ([`Window::end`] once the window is done).
    pub(crate) fn lists_from(
        &self,
        window: &Window,
        from: usize,
        max_lists: usize,
        max_holders: usize,
    ) -> (Vec<(&str, Vec<&str>)>, usize) {
        let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
        let (mut at, mut held) = (from, 0);
        while at < window.end() && out.len() < max_lists {
            let i = at - window.first;
            let slice = &window.ranks[window.starts[i]..window.starts[i + 1]];
            if !out.is_empty() && held + slice.len() > max_holders {
                break;
            }
            let list = slice.iter().map(|&h| self.holders.get(h)).collect();
            out.push((self.assets.get(at as u32), list));
            held += slice.len();
            at += 1;
        }
        (out, at)
    }
}

/// Stores the holder lists of some assets of `app` (of workspace `ws`), replacing those held.
pub(crate) async fn write_lists<A: AsRef<str>, H: AsRef<str>>(
    conn: &mut AnyConnection,
    backend: Backend,
    ws: &str,
    app: &str,
    lists: &[(A, Vec<H>)],
) -> Result<()> {
    if lists.is_empty() {
        return Ok(());
    }
    let rows: Vec<(&str, String)> = lists
        .iter()
        .map(|(a, hs)| {
            let hs: Vec<&str> = hs.iter().map(|h| h.as_ref()).collect();
            (
                a.as_ref(),
                serde_json::to_string(&hs).expect("strings serialise"),
            )
        })
        .collect();
    sqlx::query(&format!(
        "INSERT INTO app_asset_holders (workspace_id, app_id, asset_id, holders) SELECT $1, $2, j.value->>0, j.value->>1 FROM {} \
         WHERE true ON CONFLICT (app_id, asset_id) DO UPDATE SET holders = excluded.holders",
        json_rows(backend, 3)
    ))
    .bind(ws)
    .bind(app)
    .bind(serde_json::to_string(&rows).expect("strings serialise"))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The stored holder lists of some assets of `app` (at most `CHUNK` a call), an unreadable
/// list read as empty.
pub(crate) async fn lists_of<A: AsRef<str>>(
    conn: &mut AnyConnection,
    backend: Backend,
    app: &str,
    assets: &[A],
) -> Result<Vec<(String, Vec<String>)>> {
    let ids: Vec<[&str; 1]> = assets.iter().map(|a| [a.as_ref()]).collect();
    let rows = sqlx::query(&format!(
        "SELECT asset_id, holders FROM app_asset_holders WHERE app_id = $1 AND asset_id IN (SELECT j.value->>0 FROM {})",
        json_rows(backend, 2)
    ))
    .bind(app)
    .bind(serde_json::to_string(&ids).expect("ids serialise"))
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let list = serde_json::from_str(&r.try_get::<String, _>("holders")?).unwrap_or_default();
        out.push((r.try_get("asset_id")?, list));
    }
    Ok(out)
}

/// The vanished grants of some assets of `app` (at most `CHUNK` a call) as `(asset_id,
/// holder)`, from the partial index `app_grants_vanished` (migration 0029): an asset's live
/// holders are its list less these, so a page of assets needs no lookup per listed holder.
pub(crate) async fn vanished_of<A: AsRef<str>>(
    conn: &mut AnyConnection,
    backend: Backend,
    app: &str,
    assets: &[A],
) -> Result<Vec<(String, String)>> {
    let ids: Vec<[&str; 1]> = assets.iter().map(|a| [a.as_ref()]).collect();
    // SQLite's planner, without statistics, takes the primary key's `app_id` prefix (every
    // grant of the app: 100 ms at a million) over the partial index; it is named.
    let index = match backend {
        Backend::Sqlite => "INDEXED BY app_grants_vanished",
        Backend::Postgres => "",
    };
    let rows = sqlx::query(&format!(
        "SELECT asset_id, holder FROM app_grants {index} WHERE app_id = $1 AND vanished_at IS NOT NULL \
         AND asset_id IN (SELECT j.value->>0 FROM {})",
        json_rows(backend, 2)
    ))
    .bind(app)
    .bind(serde_json::to_string(&ids).expect("ids serialise"))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("asset_id")?, r.try_get("holder")?)))
        .collect()
}

/// The permissions of the live grants of `app` among `keys` (`[holder, asset_id]`, a chunk a
/// call) as `(holder, asset_id, permissions)`, each looked up in the primary key from a
/// materialized JSON parameter (which the planners take for about 100 rows, so neither scans
/// the app's grants).
pub(crate) async fn live_grants_of(
    conn: &mut AnyConnection,
    backend: Backend,
    app: &str,
    keys: &[[&str; 2]],
) -> Result<Vec<(String, String, String)>> {
    let rows = sqlx::query(&format!(
        "{} SELECT x.holder, x.asset_id, x.permissions FROM j JOIN app_grants x \
         ON x.app_id = $1 AND x.holder = j.value->>0 AND x.asset_id = j.value->>1 WHERE x.vanished_at IS NULL",
        json_cte(backend, 2)
    ))
    .bind(app)
    .bind(serde_json::to_string(keys).expect("keys serialise"))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("holder")?,
                r.try_get("asset_id")?,
                r.try_get("permissions")?,
            ))
        })
        .collect()
}

/// Takes deleted grants' keys (`(holder, asset_id)`) out of their assets' lists, so the lists
/// keep naming exactly the keys of `app_grants` (the Assets page's totals count on it).
pub(crate) async fn drop_from_lists(
    conn: &mut AnyConnection,
    backend: Backend,
    ws: &str,
    app: &str,
    deleted: &[(String, String)],
) -> Result<()> {
    let mut gone: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (holder, asset) in deleted {
        gone.entry(asset.as_str())
            .or_default()
            .insert(holder.as_str());
    }
    let assets: Vec<&str> = gone.keys().copied().collect();
    for chunk in assets.chunks(CHUNK) {
        let lists: Vec<(String, Vec<String>)> = lists_of(conn, backend, app, chunk)
            .await?
            .into_iter()
            .map(|(asset, list)| {
                let drop = gone.get(asset.as_str());
                let list = list
                    .into_iter()
                    .filter(|h| !drop.is_some_and(|d| d.contains(h.as_str())))
                    .collect();
                (asset, list)
            })
            .collect();
        write_lists(conn, backend, ws, app, &lists).await?;
    }
    Ok(())
}

/// Inserts rows as [`insert_rows`] does and adds new grants' keys to their assets' lists:
/// how every writer of new rows keeps the lists whole, but a first check (which writes the
/// lists once, at its end).
pub(crate) async fn insert_listed(
    conn: &mut AnyConnection,
    backend: Backend,
    ws: &str,
    app: &str,
    now: i64,
    rows: &[Row],
) -> Result<u64> {
    let inserted = insert_rows(conn, backend, ws, app, now, rows).await?;
    add_holders(conn, backend, ws, app, rows).await?;
    Ok(inserted)
}

/// Adds the keys of new grant rows to their assets' lists.
async fn add_holders(
    conn: &mut AnyConnection,
    backend: Backend,
    ws: &str,
    app: &str,
    rows: &[Row],
) -> Result<()> {
    let mut new: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.table == Table::Grants) {
        new.entry(r.key[1].as_str())
            .or_default()
            .push(r.key[0].as_str());
    }
    let assets: Vec<&str> = new.keys().copied().collect();
    for chunk in assets.chunks(CHUNK) {
        // An unreadable list is rebuilt from what this check found new; it cannot name grants
        // it lost, but the page then shows fewer holders rather than failing.
        let mut lists: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (asset, list) in lists_of(conn, backend, app, chunk).await? {
            if let Some((&key, _)) = new.get_key_value(asset.as_str()) {
                lists.insert(key, list);
            }
        }
        let merged: Vec<(&str, Vec<String>)> = chunk
            .iter()
            .map(|a| {
                let mut list = lists.remove(a).unwrap_or_default();
                list.extend(new[a].iter().map(|h| h.to_string()));
                list.sort_unstable();
                list.dedup();
                (*a, list)
            })
            .collect();
        write_lists(conn, backend, ws, app, &merged).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use castellan_domain::platform::{Batch, GrantRecord, Holder};

    #[test]
    fn holdings_come_out_per_asset_distinct_and_in_order() {
        let grant = |h: &str, a: &str| GrantRecord {
            holder: Holder::Member(h.into()),
            asset_id: a.into(),
            permissions: vec![],
        };
        let mut h = Holdings::default();
        h.add(&Row::from_batch(Batch::Grants(vec![
            grant("2", "b"),
            grant("2", "a"),
            grant("1", "b"),
        ])))
        .unwrap();
        h.add(&Row::from_batch(Batch::Grants(vec![
            grant("1", "a"),
            grant("2", "a"),
        ])))
        .unwrap();
        // A window of one grant: each asset a window of its own, since one alone may exceed it.
        let lists = |h: Holdings| -> Vec<(String, Vec<String>)> { h.lists(1) };
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            lists(h),
            vec![
                ("a".to_string(), s(&["member:1", "member:2"])),
                ("b".to_string(), s(&["member:1", "member:2"])),
            ]
        );
    }

    #[test]
    fn many_keys_in_any_order_come_out_as_sorted_sets_in_bounded_calls() {
        let grant = |h: u64, a: u64| GrantRecord {
            holder: Holder::Member(format!("u{h}")),
            asset_id: format!("asset-{a}"),
            permissions: vec![],
        };
        let mut h = Holdings::default();
        let mut want: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        let mut x: u64 = 7;
        for _ in 0..20 {
            let mut batch = Vec::new();
            for _ in 0..500 {
                // A small linear congruential sequence: repeats keys, visits assets in no order.
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let (hd, ad) = ((x >> 33) % 301, (x >> 17) % 37);
                want.entry(format!("asset-{ad}"))
                    .or_default()
                    .insert(format!("member:u{hd}"));
                batch.push(grant(hd, ad));
            }
            h.add(&Row::from_batch(Batch::Grants(batch))).unwrap();
        }
        let mut sorted = h.into_sorted().unwrap();
        let (mut got, mut calls, mut windows) = (Vec::new(), 0, 0);
        // Windows of at most 2,000 of the 10,000 grants: several file passes.
        while let Some(w) = sorted.next_window(2000).unwrap() {
            windows += 1;
            let mut at = w.first();
            while at < w.end() {
                let (lists, next) = sorted.lists_from(&w, at, 5, 600);
                assert!(lists.len() <= 5 && next > at);
                let held: usize = lists.iter().map(|(_, l)| l.len()).sum();
                assert!(held <= 600 || lists.len() == 1);
                got.extend(
                    lists
                        .into_iter()
                        .map(|(a, l)| (a.to_string(), l.into_iter().map(str::to_string).collect())),
                );
                at = next;
                calls += 1;
            }
        }
        assert!(windows >= 5, "{windows} windows");
        assert!(calls > 1);
        let want: Vec<(String, std::collections::BTreeSet<String>)> = want.into_iter().collect();
        let got: Vec<(String, std::collections::BTreeSet<String>)> = got
            .into_iter()
            .map(|(a, l): (String, Vec<String>)| {
                let set: std::collections::BTreeSet<String> = l.iter().cloned().collect();
                assert_eq!(set.len(), l.len(), "duplicates in {a}");
                assert!(l.windows(2).all(|w| w[0] < w[1]), "{a} out of order");
                (a, set)
            })
            .collect();
        assert_eq!(got, want);
    }
}
