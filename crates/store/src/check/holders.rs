//! `app_asset_holders`, each asset's holder keys as one list (what the Assets page reads):
//! gathered in memory during a first check and written once at its end; merged with the
//! grants later checks find new.
//!
//! Grants arrive in holder order, so anything kept in asset order and written as they came
//! would put every grant on a random page (see migration 0014). One list per asset is a few
//! thousand rows for a million grants.

use std::collections::{BTreeMap, HashMap};

use castellan_domain::snapshot::{Row, Table};
use sqlx::{AnyConnection, Row as _};

use super::rows::insert_rows;
use crate::sql::{CHUNK, json_cte, json_rows};
use crate::{Backend, Result};

/// A first check's grant keys, interned: a million grants name some thousands of assets and
/// holders, so each grant is two numbers and each name is held once.
#[derive(Default)]
pub(crate) struct Holdings {
    assets: HashMap<String, u32>,
    holders: HashMap<String, u32>,
    pairs: Vec<(u32, u32)>,
}

fn intern(names: &mut HashMap<String, u32>, name: &str) -> u32 {
    if let Some(&i) = names.get(name) {
        return i;
    }
    let i = names.len() as u32;
    names.insert(name.to_string(), i);
    i
}

/// Names in byte order, moved out of their interning map, and each name's rank in that
/// order by its interned number.
fn sorted_names(names: HashMap<String, u32>) -> (Vec<String>, Vec<u32>) {
    let mut sorted: Vec<(String, u32)> = names.into_iter().collect();
    sorted.sort_unstable();
    let mut rank = vec![0; sorted.len()];
    for (r, (_, i)) in sorted.iter().enumerate() {
        rank[*i as usize] = r as u32;
    }
    (sorted.into_iter().map(|(n, _)| n).collect(), rank)
}

impl Holdings {
    /// Takes the keys of fetched grant rows (`[holder, asset_id]`); other rows are ignored.
    pub(crate) fn add(&mut self, rows: &[Row]) {
        for r in rows.iter().filter(|r| r.table == Table::Grants) {
            let h = intern(&mut self.holders, &r.key[0]);
            let a = intern(&mut self.assets, &r.key[1]);
            self.pairs.push((a, h));
        }
    }

    /// The keys sorted by asset, then holder, duplicates dropped: renumbered in place, so the
    /// pairs are held once (at 500,000 members a copy of them and the lists built from them
    /// whole cost ~130 MB more).
    pub(crate) fn into_sorted(self) -> SortedHoldings {
        let (assets, asset_rank) = sorted_names(self.assets);
        let (holders, holder_rank) = sorted_names(self.holders);
        let mut pairs = self.pairs;
        for p in &mut pairs {
            *p = (asset_rank[p.0 as usize], holder_rank[p.1 as usize]);
        }
        drop((asset_rank, holder_rank));
        pairs.sort_unstable();
        pairs.dedup();
        pairs.shrink_to_fit();
        SortedHoldings {
            assets,
            holders,
            pairs,
        }
    }

    /// Each asset with its distinct holders, both in order.
    #[cfg(test)]
    pub(crate) fn lists(self) -> Vec<(String, Vec<String>)> {
        let sorted = self.into_sorted();
        let (lists, _) = sorted.lists_from(0, usize::MAX, usize::MAX);
        lists
            .into_iter()
            .map(|(a, hs)| (a.to_string(), hs.into_iter().map(str::to_string).collect()))
            .collect()
    }
}

/// A first check's grant keys in asset order (see [`Holdings::into_sorted`]).
pub(crate) struct SortedHoldings {
    assets: Vec<String>,
    holders: Vec<String>,
    /// `(asset rank, holder rank)`, sorted and distinct.
    pairs: Vec<(u32, u32)>,
}

impl SortedHoldings {
    /// How many keys there are: [`lists_from`](Self::lists_from) ends there.
    pub(crate) fn len(&self) -> usize {
        self.pairs.len()
    }

    /// The holder lists of the assets whose keys start at `from` (an asset's first key): at
    /// most `max_lists` lists, and no more holders than `max_holders` unless one list alone
    /// has more. Returns them and where the next call starts.
    pub(crate) fn lists_from(
        &self,
        from: usize,
        max_lists: usize,
        max_holders: usize,
    ) -> (Vec<(&str, Vec<&str>)>, usize) {
        let mut out: Vec<(&str, Vec<&str>)> = Vec::new();
        let (mut at, mut held) = (from, 0);
        while at < self.pairs.len() && out.len() < max_lists {
            let a = self.pairs[at].0;
            let end = at + self.pairs[at..].partition_point(|p| p.0 == a);
            if !out.is_empty() && held + (end - at) > max_holders {
                break;
            }
            let list = self.pairs[at..end]
                .iter()
                .map(|p| self.holders[p.1 as usize].as_str())
                .collect();
            out.push((self.assets[a as usize].as_str(), list));
            held += end - at;
            at = end;
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

/// The live grants of `app` among `keys` (`[holder, asset_id]`, a chunk a call), each looked
/// up in the primary key from a materialized JSON parameter (which the planners take for
/// about 100 rows, so neither scans the app's grants): `(holder, asset_id, permissions)`.
pub(crate) async fn live_grants(
    conn: &mut AnyConnection,
    backend: Backend,
    app: &str,
    keys: &[[String; 2]],
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
        h.add(&Row::from_batch(&Batch::Grants(vec![
            grant("2", "b"),
            grant("2", "a"),
            grant("1", "b"),
        ])));
        h.add(&Row::from_batch(&Batch::Grants(vec![
            grant("1", "a"),
            grant("2", "a"),
        ])));
        let lists = |h: Holdings| -> Vec<(String, Vec<String>)> { h.lists() };
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            lists(h),
            vec![
                ("a".to_string(), s(&["member:1", "member:2"])),
                ("b".to_string(), s(&["member:1", "member:2"])),
            ]
        );
    }
}
