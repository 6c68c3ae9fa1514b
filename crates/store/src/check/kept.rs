//! Lists a check kept unread (`castellan_domain::coverage`): their rows as the store holds
//! them, fed to the check as if fetched, and each list's age.
//!
//! A kept asset's holders are its live grants to members the check still found (a member gone
//! from the business takes every grant with it, read or kept); a kept partner is its live row
//! and its live grants. Fed into the digests and the diff like fetched rows, they make the
//! check's outcome what it would be had the platform answered as it did last time.
//!
//! The kept holder lists are read beside the fetch, from when the connector names them (after
//! the members, whose ids filter them): at 100k members that scan of a million grants was
//! most of a coverage-window check's end (1.5 s of a 4.4 s fetch). A member found after the
//! scan began makes it stale, and the end reads the lists again.

use std::collections::{HashMap, HashSet};

use castellan_domain::coverage::Kept;
use castellan_domain::snapshot::{self, Digests, Held, Row, Table};
use sqlx::{AnyConnection, AnyPool, Row as _};

use super::rows::each_held;
use super::spool::Spool;
use crate::sql::json_rows;
use crate::{Backend, Result, Scoped};

/// What a later check was told to keep, and the members it found (to keep only their grants).
#[derive(Default)]
pub(crate) struct KeptLists {
    pub(crate) holders: Vec<String>,
    pub(crate) shares: Vec<String>,
    members: HashSet<String>,
    /// The kept holder lists' grants being read beside the fetch.
    scan: Option<Scan>,
    /// Whether those grants were carried already (by the scan), so `rows` skips them.
    holders_carried: bool,
}

/// A read of the kept holder lists' grants started beside the fetch, and what it read them
/// against (it is stale when either grew since).
struct Scan {
    handle: tokio::task::JoinHandle<Result<(Spool, Digests)>>,
    holders: usize,
    members: usize,
}

impl Drop for Scan {
    /// A check dropped before its end stops reading.
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// Whether a held grant is carried: live, of a member the check found, on a kept asset.
fn carried(held: &Held, kept: &HashSet<&str>, members: &HashSet<String>) -> bool {
    let key = &held.row.key;
    let found = key[0]
        .strip_prefix("member:")
        .is_some_and(|u| members.contains(u));
    !held.vanished && found && kept.contains(key[1].as_str())
}

impl KeptLists {
    pub(crate) fn add(&mut self, kept: &[Kept]) {
        for k in kept {
            match k {
                Kept::Holders(a) => self.holders.push(a.clone()),
                Kept::Shares(p) => self.shares.push(p.clone()),
            }
        }
    }

    /// Notes the business's own seats among fetched rows (partners' users are read apart).
    pub(crate) fn see_seats(&mut self, rows: &[Row]) {
        for r in rows.iter().filter(|r| r.table == Table::Seats) {
            if r.fields
                .get(snapshot::seat::KIND)
                .and_then(|k| k.as_deref())
                != Some("partner_user")
            {
                self.members.insert(r.key[0].clone());
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.holders.is_empty() && self.shares.is_empty()
    }

    /// Starts reading the kept holder lists' grants beside the fetch (see the module docs),
    /// on a connection of `pool`.
    pub(crate) fn start(&mut self, pool: &AnyPool, backend: Backend, app: String) {
        // A later batch naming only kept partners leaves a scan of the same lists running.
        let same = |s: &Scan| s.holders == self.holders.len();
        if self.holders.is_empty() || self.scan.as_ref().is_some_and(same) {
            return;
        }
        let (pool, kept) = (pool.clone(), self.holders.clone());
        let members = self.members.clone();
        let (n_holders, n_members) = (kept.len(), members.len());
        let handle = tokio::spawn(async move {
            let kept: HashSet<&str> = kept.iter().map(String::as_str).collect();
            let mut conn = pool.acquire().await?;
            let (mut spool, mut digests) = (Spool::new()?, Digests::default());
            let all = (0, snapshot::BUCKETS - 1);
            each_held(&mut conn, backend, Table::Grants, &app, all, |_, held| {
                if carried(&held, &kept, &members) {
                    digests.add(&held.row);
                    spool.push(&held.row)?;
                }
                Ok(())
            })
            .await?;
            Ok((spool, digests))
        });
        self.scan = Some(Scan {
            handle,
            holders: n_holders,
            members: n_members,
        });
    }

    /// The kept holder lists' grants read beside the fetch (spooled, and their digests),
    /// unless none was started or it is stale; then [`rows`](Self::rows) reads them.
    pub(crate) async fn scanned(&mut self) -> Result<Option<(Spool, Digests)>> {
        let Some(mut scan) = self.scan.take() else {
            return Ok(None);
        };
        let read = (&mut scan.handle)
            .await
            .map_err(|e| crate::StoreError::Corrupt(format!("kept lists: {e}")))??;
        if scan.holders != self.holders.len() || scan.members != self.members.len() {
            return Ok(None);
        }
        self.holders_carried = true;
        Ok(Some(read))
    }

    /// Hands each of the kept lists' rows as held (see the module docs) to `out`, streamed:
    /// hundreds of thousands of kept grants are never in memory at once.
    pub(crate) async fn rows(
        &self,
        conn: &mut AnyConnection,
        backend: Backend,
        app: &str,
        out: &mut (dyn FnMut(Row) -> Result<()> + Send),
    ) -> Result<()> {
        if !self.holders.is_empty() && !self.holders_carried {
            // A window keeps most assets' lists (all but 1/N of them): one pass over the
            // app's grants costs less than looking up each kept grant by key (730,000
            // lookups took 7–8 s at 100k members; the scan about 1 s), read packed (a row
            // of sqlx's a grant took 4 s more).
            let kept: HashSet<&str> = self.holders.iter().map(String::as_str).collect();
            let all = (0, snapshot::BUCKETS - 1);
            each_held(conn, backend, Table::Grants, app, all, |_, held| {
                if carried(&held, &kept, &self.members) {
                    out(held.row)?;
                }
                Ok(())
            })
            .await?;
        }
        for p in &self.shares {
            let partner = sqlx::query(
                "SELECT name, relation FROM app_partners WHERE app_id = $1 AND partner_id = $2 AND vanished_at IS NULL",
            )
            .bind(app)
            .bind(p)
            .fetch_optional(&mut *conn)
            .await?;
            // A partner never stored (or gone) has nothing to keep; the next read finds it.
            let Some(partner) = partner else { continue };
            out(Row {
                table: Table::Partners,
                key: vec![p.clone()],
                fields: vec![partner.try_get("name")?, partner.try_get("relation")?],
            })?;
            let holder = format!("partner:{p}");
            for r in sqlx::query(
                "SELECT asset_id, permissions FROM app_grants WHERE app_id = $1 AND holder = $2 AND vanished_at IS NULL",
            )
            .bind(app)
            .bind(&holder)
            .fetch_all(&mut *conn)
            .await?
            {
                out(Row {
                    table: Table::Grants,
                    key: vec![holder.clone(), r.try_get("asset_id")?],
                    fields: vec![r.try_get("permissions")?],
                })?;
            }
        }
        Ok(())
    }

    /// Records each list's age: a kept list keeps the time it was last read (the app's
    /// previous check, `previous`, when that one read it); every other is fresh (NULL).
    pub(crate) async fn record_ages(
        &self,
        conn: &mut AnyConnection,
        backend: Backend,
        app: &str,
        previous: Option<i64>,
    ) -> Result<()> {
        for (table, column, key, kept) in [
            ("app_assets", "holders_as_of", "asset_id", &self.holders),
            ("app_partners", "shares_as_of", "partner_id", &self.shares),
        ] {
            let ids = ids_json(kept);
            sqlx::query(&format!(
                "UPDATE {table} SET {column} = NULL WHERE app_id = $1 AND {column} IS NOT NULL \
                 AND {key} NOT IN (SELECT j.value->>0 FROM {})",
                json_rows(backend, 2)
            ))
            .bind(app)
            .bind(&ids)
            .execute(&mut *conn)
            .await?;
            if !kept.is_empty() {
                sqlx::query(&format!(
                    "UPDATE {table} SET {column} = COALESCE({column}, $3) WHERE app_id = $1 \
                     AND {key} IN (SELECT j.value->>0 FROM {})",
                    json_rows(backend, 2)
                ))
                .bind(app)
                .bind(&ids)
                .bind(previous)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }
}

fn ids_json(ids: &[String]) -> String {
    serde_json::to_string(&ids.iter().map(|i| [i]).collect::<Vec<_>>()).expect("ids serialise")
}

/// When each list of an app was last read (ms), for the coverage window: assets that have
/// holders read per asset and partners, live ones only.
#[derive(Debug, Default, Clone)]
pub struct CoverageAges {
    pub holders: HashMap<String, i64>,
    pub shares: HashMap<String, i64>,
}

impl Scoped<'_> {
    /// The ages of `app`'s lists (empty before its first check). Connected partners are left
    /// out: their users are read through the assets they are shared, so they are read always.
    pub async fn coverage_ages(&self, app: castellan_domain::AppId) -> Result<CoverageAges> {
        let a = app.to_string();
        let mut out = CoverageAges::default();
        let rows = sqlx::query(
            "SELECT x.asset_id AS id, COALESCE(x.holders_as_of, p.last_check_at) AS at FROM app_assets x \
             JOIN apps p ON p.id = x.app_id WHERE x.app_id = $1 AND p.workspace_id = $2 AND x.vanished_at IS NULL \
             AND p.last_check_at IS NOT NULL",
        )
        .bind(&a)
        .bind(self.ws_str())
        .fetch_all(&self.store.pool)
        .await?;
        for r in rows {
            out.holders.insert(r.try_get("id")?, r.try_get("at")?);
        }
        let rows = sqlx::query(
            "SELECT x.partner_id AS id, COALESCE(x.shares_as_of, p.last_check_at) AS at FROM app_partners x \
             JOIN apps p ON p.id = x.app_id WHERE x.app_id = $1 AND p.workspace_id = $2 AND x.vanished_at IS NULL \
             AND p.last_check_at IS NOT NULL AND NOT EXISTS (SELECT 1 FROM partner_connections c \
               WHERE c.app_id = x.app_id AND c.partner_id = x.partner_id)",
        )
        .bind(&a)
        .bind(self.ws_str())
        .fetch_all(&self.store.pool)
        .await?;
        for r in rows {
            out.shares.insert(r.try_get("id")?, r.try_get("at")?);
        }
        Ok(out)
    }
}
