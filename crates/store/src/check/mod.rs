//! A check for updates as the store runs it ([`CheckRun`]).
//!
//! Fetched batches arrive while the connector pages through the platform. Each row's
//! fingerprint is added to the digest of its bucket (see `castellan_domain::snapshot`):
//!
//! - **First check** of an app (it has no committed snapshot yet): rows go straight into the
//!   app's tables as they arrive, in small transactions. Readers do not see them: an app
//!   without a completed check shows no seats, assets or partners. The grant keys, gathered
//!   in memory, are then written as each asset's holder list (`app_asset_holders`, see
//!   `holders`), in short transactions too (each seat went in with its match, see
//!   `first_match`, unless the directory is too large or moved meanwhile: those seats are
//!   matched then); the final transaction
//!   stores the digests and the report and marks the app checked, which makes the whole
//!   snapshot visible at once. A first check that dies leaves invisible rows that the next
//!   one deletes before it starts.
//! - **Later checks**: rows are spooled to an unnamed temporary file (gone with the process).
//!   At the end, buckets whose digests equal the stored ones are skipped unread; only rows of
//!   differing buckets are read back from the spool and from the database and diffed. The
//!   difference (new, changed, reappeared, vanished rows), the new digests, the re-matching
//!   and the report are written in one transaction, so readers see the previous snapshot
//!   until it commits and a check that dies changes nothing. A check that finds no change
//!   writes no seat, asset, grant or partner row.
//!
//! Invariants: an app's stored digests always describe its live rows. Anything else that
//! changes those rows must adjust or drop the digests (a missing digest makes the next check
//! diff that whole table). The holder lists of a checked app name the key of every grant row
//! it has; whatever adds grant rows does it through `holders::insert_listed`.

mod copy;
mod diff;
mod first_match;
pub(crate) mod holders;
mod kept;
mod lease;
mod names;
mod native;
mod rematch;
mod report;
pub(crate) mod rows;
mod spool;

use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::platform::Batch;
use castellan_domain::snapshot::{BUCKETS, Digests, Row, Table};
use castellan_domain::{AppId, TaskId, WorkspaceId};
use sqlx::{AnyConnection, Row as _};

use crate::apps::App;
use crate::audit::append;
use crate::sql::CHUNK;
use crate::{Backend, Result, Scoped, Store, StoreError, ms};
use castellan_domain::reports::{CheckSummary, FetchSummary, ReportSummary};
use first_match::FirstMatch;
use holders::*;
pub use kept::CoverageAges;
use kept::KeptLists;
pub use lease::CheckLease;
use lease::*;
use rematch::*;
use report::*;
use rows::*;
use spool::*;

/// Rows diffed at once: bounds the memory of a check that finds many changes.
const PASS_ROWS: u64 = 50_000;
/// Rows a first check writes per transaction: fewer, larger commits write each index page
/// to the log fewer times.
const FIRST_CHECK_TX_ROWS: usize = 20_000;
/// Rows a first check writes between the checkpoints it makes on SQLite.
const CHECKPOINT_EVERY: usize = 640_000;
/// Entries per list in a check report.
pub(crate) const REPORT_CAP: usize = 1000;
/// One check for updates in progress (see the module docs).
pub struct CheckRun {
    store: Store,
    lease: Option<CheckLease>,
    ws: WorkspaceId,
    app: App,
    task: TaskId,
    now: i64,
    initial: bool,
    /// The stored digests (later checks; `None` when missing).
    held: [Option<Digests>; 4],
    fetched: [Digests; 4],
    spools: [Option<Spool>; 4],
    /// First check: rows inserted per table, and the first new seats for the report.
    inserted: [u64; 4],
    new_seats: Vec<String>,
    /// First check: the grant keys, for `app_asset_holders`.
    holdings: Holdings,
    /// First check: rows waiting for the next transaction.
    buffer: [Vec<Row>; 4],
    buffered: usize,
    /// First check on SQLite: scattered grants waiting for their sweep (see `accept`), and
    /// the grants handed to the writer so far.
    sweep: Vec<Row>,
    grants_written: usize,
    /// First check: rows handed to the writer since its last checkpoint (SQLite).
    unchecked_rows: usize,
    /// First check: the writes handed off and not yet awaited, oldest first.
    in_flight: std::collections::VecDeque<tokio::task::JoinHandle<Result<[u64; 4]>>>,
    /// First check on SQLite: fires when the last write handed off has committed (its
    /// successor binds its rows meanwhile, then writes).
    turn: Option<tokio::sync::oneshot::Receiver<()>>,
    /// First check: seconds the fetch waited for the writer, and the writer wrote rows (for
    /// the debug line at the end: which of the two bounds a first check).
    waited_secs: f64,
    writing_secs: std::sync::Arc<std::sync::Mutex<f64>>,
    /// Later checks: the lists the connector left unread (see `kept`), and whether it may
    /// leave any (only then are the members' ids kept, 500,000 of them in a large business).
    kept: KeptLists,
    keeping: bool,
    /// Rows diffed at once (`PASS_ROWS`; tests set it small to cover many passes).
    pass_rows: u64,
    /// First check: its seats matched as they arrive (none with a very large directory).
    first_match: Option<FirstMatch>,
    /// First check on SQLite: the connection of SQLite's own C API its rows go in through.
    native: Option<std::sync::Arc<std::sync::Mutex<rusqlite::Connection>>>,
}

impl Drop for CheckRun {
    /// A check dropped before it finished (failed, cancelled) stops its write in flight, so
    /// no row of it lands after the next check has cleared the leftovers.
    fn drop(&mut self) {
        for h in self.in_flight.drain(..) {
            h.abort();
        }
    }
}

impl Scoped<'_> {
    /// Starts a check of `app` for `task`. The caller holds the app (see `acquire_app`), so no
    /// other check runs beside it.
    pub async fn begin_check(&self, app: AppId, task: TaskId) -> Result<CheckRun> {
        let app = self.app(app).await?;
        let a = app.id.to_string();
        let initial = app.last_check_at.is_none();
        let mut held: [Option<Digests>; 4] = Default::default();
        if initial {
            // Leftovers of a first check that died.
            let mut tx = self.store.begin_write().await?;
            let tables = Table::ALL.map(table_name);
            for t in tables.iter().chain(&["app_asset_holders", "app_digests"]) {
                sqlx::query(&format!("DELETE FROM {t} WHERE app_id = $1"))
                    .bind(&a)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        } else {
            let rows = sqlx::query("SELECT tbl, digests FROM app_digests WHERE app_id = $1")
                .bind(&a)
                .fetch_all(&self.store.pool)
                .await?;
            for r in rows {
                let name: String = r.try_get("tbl")?;
                if let Some(t) = Table::ALL.into_iter().find(|t| t.as_str() == name) {
                    // Unreadable digests count as missing: that table is diffed in full.
                    held[t.index()] = Digests::decode(&r.try_get::<String, _>("digests")?);
                }
            }
        }
        let first_match = if initial {
            FirstMatch::load(self.store, self.ws, app.id).await?
        } else {
            None
        };
        let native = match (&self.store.sqlite_path, initial) {
            (Some(path), true) => {
                let path = path.clone();
                let conn = tokio::task::spawn_blocking(move || native::open(&path))
                    .await
                    .map_err(|e| StoreError::Corrupt(format!("bulk connection: {e}")))??;
                Some(std::sync::Arc::new(std::sync::Mutex::new(conn)))
            }
            _ => None,
        };
        let spools = if initial {
            Default::default()
        } else {
            [
                Some(Spool::new()?),
                Some(Spool::new()?),
                Some(Spool::new()?),
                Some(Spool::new()?),
            ]
        };
        Ok(CheckRun {
            store: self.store.clone(),
            lease: None,
            ws: self.ws,
            now: ms(self.store.env.now()),
            app,
            task,
            initial,
            held,
            fetched: Default::default(),
            spools,
            inserted: [0; 4],
            new_seats: Vec::new(),
            holdings: Holdings::default(),
            buffer: Default::default(),
            buffered: 0,
            unchecked_rows: 0,
            in_flight: Default::default(),
            turn: None,
            sweep: Vec::new(),
            grants_written: 0,
            waited_secs: 0.0,
            writing_secs: Default::default(),
            kept: KeptLists::default(),
            keeping: false,
            pass_rows: PASS_ROWS,
            first_match,
            native,
        })
    }
}

impl CheckRun {
    /// Writes only while `lease` holds (see [`CheckLease`]).
    pub fn leased(mut self, lease: CheckLease) -> Self {
        self.lease = Some(lease);
        self
    }

    /// The connector may keep lists unread (a coverage window): the check notes its members.
    pub fn keeping(mut self, keeping: bool) -> Self {
        self.keeping = keeping;
        self
    }

    /// Diffs at most about `rows` rows at once (see `passes`): what bounds a check's memory.
    pub fn pass_rows(mut self, rows: u64) -> Self {
        self.pass_rows = rows.max(1);
        self
    }

    async fn renew_lease(&self, conn: &mut AnyConnection) -> Result<()> {
        renew_in(conn, &self.store, self.task, self.lease.as_ref()).await
    }

    /// Whether this is the app's first check (rows are written as they come).
    pub fn is_initial(&self) -> bool {
        self.initial
    }

    /// Takes one fetched batch.
    pub async fn accept(&mut self, batch: Batch) -> Result<()> {
        if let Batch::Kept(k) = &batch {
            // A first check has nothing to keep: the connector reads every list then.
            if !self.initial {
                if !self.keeping {
                    // Without the members' ids every kept grant would look vanished.
                    return Err(StoreError::Corrupt(
                        "the connector kept lists unread in a check without a coverage window"
                            .into(),
                    ));
                }
                self.kept.add(k);
                self.kept.start(
                    &self.store.pool,
                    self.store.backend,
                    self.app.id.to_string(),
                );
            }
            return Ok(());
        }
        let rows = Row::from_batch(batch);
        let Some(t) = rows.first().map(|r| r.table) else {
            return Ok(());
        };
        for r in &rows {
            self.fetched[t.index()].add(r);
        }
        if self.initial {
            match t {
                Table::Seats => {
                    if let Some(m) = &mut self.first_match {
                        m.add(&rows);
                    }
                    let room = REPORT_CAP.saturating_sub(self.new_seats.len());
                    self.new_seats
                        .extend(rows.iter().take(room).map(|r| r.key[0].clone()));
                }
                Table::Grants => {
                    self.holdings.add(&rows)?;
                    // Grants are stored by holder. Lists that name a different holder in
                    // nearly every row (TikTok's per-asset lists, Pinterest's catalogs) put
                    // each row of a 20,000-row transaction on a page of its own once the
                    // table is large, and SQLite wrote each page to its log again for each
                    // transaction (a TikTok first check of 800,000 such grants spent 17 s
                    // writing). Gathered (see `sweep_rows`) and sorted, they go in as sweeps
                    // along it (800,000 grants, outside Castellan: 7.7 s in 20,000-row
                    // transactions, 3.9 s in 100,000-row ones).
                    if self.store.backend == Backend::Sqlite {
                        if scattered(&rows) {
                            self.sweep.extend(rows);
                            if self.sweep.len() >= sweep_rows(self.grants_written) {
                                self.flush_sweep().await?;
                            }
                            return Ok(());
                        }
                        // Lists per holder follow (Pinterest's members after its catalogs):
                        // the gathered grants go first, while the table is still small.
                        self.flush_sweep().await?;
                    }
                    self.grants_written += rows.len();
                }
                Table::Assets | Table::Partners => {}
            }
            self.buffered += rows.len();
            self.buffer[t.index()].extend(rows);
            if self.buffered >= FIRST_CHECK_TX_ROWS {
                self.flush().await?;
            }
        } else if let Some(spool) = &mut self.spools[t.index()] {
            if self.keeping {
                self.kept.see_seats(&rows);
            }
            for r in &rows {
                spool.push(r)?;
            }
        }
        Ok(())
    }

    /// First check: hands the buffered rows to a transaction of their own, which runs while
    /// the next rows arrive. Two are handed off at most, so memory stays bounded. SQLite has
    /// one writer: the second sorts and binds its rows while the first writes (the writer
    /// sat idle for both before, half of a first check's writing time), then waits for it to
    /// commit. PostgreSQL writes with several backends, so the two run at once there (its
    /// writes were what a first check waited for); they cannot deadlock on a row listed
    /// twice, since each writes its tables in the same order, each table's rows sorted by key.
    async fn flush(&mut self) -> Result<()> {
        while self.in_flight.len() >= 2 {
            self.settle_one().await?;
        }
        if self.buffered == 0 {
            return Ok(());
        }
        let buffer = std::mem::take(&mut self.buffer);
        let rows = std::mem::take(&mut self.buffered);
        // The seats matched so far that no write took yet are this buffer's.
        let matches = self
            .first_match
            .as_mut()
            .map(|m| std::mem::take(&mut m.matches))
            .unwrap_or_default();
        self.hand_off(buffer, rows, matches);
        Ok(())
    }

    /// First check on SQLite: writes the gathered scattered grants in one transaction; a
    /// large sweep waits until it is alone in flight, for memory.
    async fn flush_sweep(&mut self) -> Result<()> {
        // Nothing gathered (every list per holder asks): the fetch need not wait for a write.
        if self.sweep.is_empty() {
            return Ok(());
        }
        let alone = self.sweep.len() > 2 * FIRST_CHECK_TX_ROWS;
        while self.in_flight.len() >= if alone { 1 } else { 2 } {
            self.settle_one().await?;
        }
        let grants = std::mem::take(&mut self.sweep);
        let rows = grants.len();
        self.grants_written += rows;
        let mut buffer: [Vec<Row>; 4] = Default::default();
        buffer[Table::Grants.index()] = grants;
        self.hand_off(buffer, rows, Matches::new());
        Ok(())
    }

    /// Spawns the transaction that writes `buffer` (`rows` rows) with its seats' `matches`.
    fn hand_off(&mut self, buffer: [Vec<Row>; 4], rows: usize, matches: Matches) {
        self.unchecked_rows += rows;
        // SQLite's log only starts over once a checkpoint has copied all of it; the background
        // checkpointer never catches up with a writer that commits back to back (at 500k
        // members the log reached 6.4 GB and every page read searched its index). Right after
        // its own commit nothing else is writing, so the check checkpoints, rarely, since
        // the next write waits for it.
        let checkpoint =
            self.store.backend == Backend::Sqlite && self.unchecked_rows >= CHECKPOINT_EVERY;
        if checkpoint {
            self.unchecked_rows = 0;
        }
        let write = FirstWrite {
            store: self.store.clone(),
            ws: self.ws.to_string(),
            app: self.app.id.to_string(),
            now: self.now,
            task: self.task,
            lease: self.lease.clone(),
            writing_secs: self.writing_secs.clone(),
            checkpoint,
            native: self.native.clone(),
            matches,
        };
        let job = match self.store.backend {
            Backend::Sqlite => {
                let (done, next) = tokio::sync::oneshot::channel();
                tokio::spawn(write.sqlite(buffer, self.turn.replace(next), done))
            }
            Backend::Postgres => tokio::spawn(write.postgres(buffer)),
        };
        self.in_flight.push_back(job);
    }

    /// First check: starts writing the grant keys to `app_asset_holders` in their order, in
    /// transactions of `FIRST_CHECK_TX_ROWS` (short, so heartbeats and claims get the write
    /// lock in between), as the write in flight: it runs while the seats are matched, and
    /// [`settle`](Self::settle) waits for it. Like the rows, the keys are unseen until the
    /// final transaction.
    fn write_holdings(&mut self) {
        let holdings = std::mem::take(&mut self.holdings);
        let (store, w, a, task, lease) = (
            self.store.clone(),
            self.ws.to_string(),
            self.app.id.to_string(),
            self.task,
            self.lease.clone(),
        );
        self.in_flight.push_back(tokio::spawn(async move {
            // Reading the keys back and sorting them is seconds of CPU and file reads at
            // 500,000 members: off the runtime's workers, so heartbeats keep running.
            let mut sorted = tokio::task::spawn_blocking(move || holdings.into_sorted())
                .await
                .map_err(|e| StoreError::Corrupt(format!("holder lists: {e}")))??;
            loop {
                // A window of assets' holders at a time (`WINDOW_GRANTS`), for memory.
                let (back, window) = tokio::task::spawn_blocking(move || {
                    let w = sorted.next_window(WINDOW_GRANTS);
                    (sorted, w)
                })
                .await
                .map_err(|e| StoreError::Corrupt(format!("holder lists: {e}")))?;
                sorted = back;
                let Some(window) = window? else { break };
                let mut at = window.first();
                while at < window.end() {
                    // Lists of about `FIRST_CHECK_TX_ROWS` holders per transaction, built as
                    // they are written.
                    let (lists, next) = sorted.lists_from(&window, at, CHUNK, FIRST_CHECK_TX_ROWS);
                    let mut tx = begin_unseen(&store, task, lease.as_ref()).await?;
                    write_lists(&mut tx, store.backend, &w, &a, &lists).await?;
                    renew_in(&mut tx, &store, task, lease.as_ref()).await?;
                    tx.commit().await?;
                    at = next;
                }
            }
            Ok([0; 4])
        }));
    }

    /// Waits for every transaction in flight.
    async fn settle(&mut self) -> Result<()> {
        while !self.in_flight.is_empty() {
            self.settle_one().await?;
        }
        Ok(())
    }

    /// Waits for the oldest transaction in flight, if any.
    async fn settle_one(&mut self) -> Result<()> {
        if let Some(h) = self.in_flight.pop_front() {
            let started = std::time::Instant::now();
            let n = h
                .await
                .map_err(|e| StoreError::Corrupt(format!("first-check writer: {e}")))??;
            for (total, n) in self.inserted.iter_mut().zip(n) {
                *total += n;
            }
            self.waited_secs += started.elapsed().as_secs_f64();
        }
        Ok(())
    }

    /// Applies what was fetched (see the module docs), matches the seats, and records the
    /// report and the audit event. `fetch` (request counts, duration) goes into the report.
    pub async fn finish(mut self, actor: &Actor, fetch: FetchSummary) -> Result<CheckSummary> {
        let started = std::time::Instant::now();
        self.flush().await?;
        self.flush_sweep().await?;
        self.settle().await?;
        let rows_secs = started.elapsed().as_secs_f64();
        if self.initial {
            self.write_holdings();
        }
        let store = self.store.clone();
        self.carry_kept().await?;
        let differing = self.differing();
        let seats_change = !self.initial && differing[0].iter().any(|&d| d);
        let (dir_version, cfg) = directory_of(&store, self.ws).await?;
        // A first check matched its seats as they came, unless the directory moved since.
        let first_match = self
            .first_match
            .take()
            .filter(|m| self.initial && m.version == dir_version);
        let rematch = first_match.is_none()
            && (self.initial || seats_change || self.app.matched_version != Some(dir_version));
        let identities = if rematch {
            Some(load_identities(&store, self.ws).await?)
        } else {
            None
        };
        let matched = identities.is_some() || first_match.is_some();
        // Seats matched as they came were written with their match.
        let first_matched = first_match.as_ref().map_or(0, |m| m.matched);
        // Matching is CPU work over every seat: when the write below does not change seats (a
        // first check wrote them already; a later one whose seats are unchanged), it is planned
        // before taking the write lock, so heartbeats and claims do not wait behind it.
        let early = match (&identities, first_match) {
            (_, Some(_)) => Some(Rematch {
                changes: Vec::new(),
            }),
            (Some(ids), None) if !seats_change => {
                let mut conn = store.pool.acquire().await?;
                Some(plan_rematch(&mut conn, self.ws, self.app.id, ids, &cfg).await?)
            }
            _ => None,
        };
        let planned_secs = started.elapsed().as_secs_f64();
        self.settle().await?;
        let lists_secs = started.elapsed().as_secs_f64();
        // A first check's seats are unseen until the final transaction, so they are matched
        // before it, in short transactions: the final one stays short however many seats.
        let mut rematched = None;
        if let (true, Some(plan)) = (self.initial, &early) {
            for part in plan.changes.chunks(FIRST_CHECK_TX_ROWS) {
                let mut tx = begin_unseen(&store, self.task, self.lease.as_ref()).await?;
                apply_rematch(&mut tx, store.backend, self.app.id, part).await?;
                self.renew_lease(&mut tx).await?;
                tx.commit().await?;
            }
            rematched = Some(plan.changes.len() as u64 + first_matched);
        }
        let mut tx = store.begin_write().await?;
        self.renew_lease(&mut tx).await?;
        let mut s = CheckSummary::default();
        let mut report = Report::default();
        if self.initial {
            (s.seats_new, s.assets_new, s.grants_new, s.partners_new) = (
                self.inserted[0],
                self.inserted[1],
                self.inserted[2],
                self.inserted[3],
            );
            report.new_seats = std::mem::take(&mut self.new_seats);
            report.new_seats.sort();
        } else {
            self.apply_difference(&mut tx, &differing, &mut s, &mut report)
                .await?;
        }
        s.rows_written = s.seats_new
            + s.seats_changed
            + s.seats_vanished
            + s.assets_new
            + s.assets_changed
            + s.assets_vanished
            + s.grants_new
            + s.grants_changed
            + s.grants_vanished
            + s.partners_new
            + s.partners_changed
            + s.partners_vanished;
        self.write_digests(&mut tx, &differing).await?;
        if !self.initial {
            let previous = self.app.last_check_at.map(ms);
            self.kept
                .record_ages(&mut tx, store.backend, &self.app.id.to_string(), previous)
                .await?;
        }
        if matched {
            s.rematched = match (rematched, early) {
                (Some(n), _) => n,
                (None, Some(plan)) => {
                    apply_rematch(&mut tx, store.backend, self.app.id, &plan.changes).await?
                }
                (None, None) => {
                    let identities = identities.as_deref().unwrap_or_default();
                    let plan =
                        plan_rematch(&mut tx, self.ws, self.app.id, identities, &cfg).await?;
                    apply_rematch(&mut tx, store.backend, self.app.id, &plan.changes).await?
                }
            };
        }
        self.write_report(&mut tx, &mut s, report, fetch).await?;
        self.mark_checked(&mut tx, matched.then_some(dir_version))
            .await?;
        append(
            &mut tx,
            &store.env,
            self.ws,
            NewAuditEvent::success(
                actor,
                "app.check",
                format!("app:{}", self.app.id),
                serde_json::to_value(&s).expect("summary serialises"),
            ),
        )
        .await?;
        // Renewed last as well, so the lease is fresh when the write lock is released.
        self.renew_lease(&mut tx).await?;
        tx.commit().await?;
        // Where the end of a check goes (seconds since `finish` began, each step's end).
        tracing::debug!(
            initial = self.initial,
            rows_secs,
            planned_secs,
            lists_secs,
            total_secs = started.elapsed().as_secs_f64(),
            waited_for_writer_secs = self.waited_secs,
            writing_secs = *self.writing_secs.lock().expect("timing"),
            "check finished"
        );
        if self.initial && store.backend == Backend::Postgres {
            refresh_statistics(&store);
        }
        Ok(s)
    }

    /// Later checks: the kept lists' rows, as held, taken as fetched (see `kept`).
    async fn carry_kept(&mut self) -> Result<()> {
        if self.initial || self.kept.is_empty() {
            return Ok(());
        }
        if let Some((mut read, digests)) = self.kept.scanned().await? {
            let i = Table::Grants.index();
            self.fetched[i].absorb(&digests);
            if let Some(spool) = &mut self.spools[i] {
                spool.append(&mut read)?;
            }
        }
        let mut conn = self.store.pool.acquire().await?;
        let (fetched, spools) = (&mut self.fetched, &mut self.spools);
        let mut take = |r: Row| -> Result<()> {
            let i = r.table.index();
            fetched[i].add(&r);
            if let Some(spool) = &mut spools[i] {
                spool.push(&r)?;
            }
            Ok(())
        };
        self.kept
            .rows(
                &mut conn,
                self.store.backend,
                &self.app.id.to_string(),
                &mut take,
            )
            .await
    }

    /// Which buckets differ, per table: none after a first check (everything was written as
    /// it came), all of a table whose digests are missing.
    fn differing(&self) -> [Vec<bool>; 4] {
        let mut differing: [Vec<bool>; 4] = Default::default();
        for t in Table::ALL {
            let i = t.index();
            differing[i] = match (&self.held[i], self.initial) {
                (_, true) => vec![false; BUCKETS],
                (Some(h), false) => {
                    let mut v = vec![false; BUCKETS];
                    for b in h.differing(&self.fetched[i]) {
                        v[b] = true;
                    }
                    v
                }
                (None, false) => vec![true; BUCKETS],
            };
        }
        differing
    }

    /// Digests of the tables that changed (all of them after a first check).
    async fn write_digests(
        &self,
        tx: &mut AnyConnection,
        differing: &[Vec<bool>; 4],
    ) -> Result<()> {
        let (w, a) = (self.ws.to_string(), self.app.id.to_string());
        for t in Table::ALL {
            let i = t.index();
            if self.initial || differing[i].iter().any(|&d| d) {
                sqlx::query(
                    "INSERT INTO app_digests (workspace_id, app_id, tbl, digests) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (app_id, tbl) DO UPDATE SET digests = excluded.digests",
                )
                .bind(&w)
                .bind(&a)
                .bind(t.as_str())
                .bind(self.fetched[i].encode())
                .execute(&mut *tx)
                .await?;
            }
        }
        Ok(())
    }

    /// The check's report: what changed, and the seats awaiting removal (with how many of
    /// them no earlier report listed, what a notification is news about).
    async fn write_report(
        &self,
        tx: &mut AnyConnection,
        s: &mut CheckSummary,
        report: Report,
        fetch: FetchSummary,
    ) -> Result<()> {
        let (w, a) = (self.ws.to_string(), self.app.id.to_string());
        let pending = pending_removal(tx, &a).await?;
        let listed = listed_before(tx, &a).await?;
        s.pending_removal = pending.len() as u64;
        s.newly_pending = pending
            .iter()
            .filter(|p| !listed.contains(&p.user_id))
            .count() as u64;
        let report_id = self.store.env.new_uuid().to_string();
        // An app has at most one open report: a later check brings it up to date (the seats
        // still awaiting removal, none of those that are gone) instead of opening another,
        // and closes it when nothing is left to do. The check's own row keeps what it changed.
        let open = crate::reports::refresh_open_reports(tx, &a, &pending).await?;
        let own_list = match &open {
            Some(_) => Vec::new(),
            None => pending.clone(),
        };
        s.report_id = open.unwrap_or_else(|| report_id.clone());
        sqlx::query("INSERT INTO check_reports (id, workspace_id, app_id, task_id, created_at, summary, changes, pending_removal, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(&report_id)
            .bind(&w)
            .bind(&a)
            .bind(self.task.to_string())
            .bind(self.now)
            .bind(
                serde_json::to_string(&ReportSummary {
                    counts: s.clone(),
                    fetch,
                })
                .expect("a summary serialises"),
            )
            .bind(serde_json::to_string(&report.into_changes()).expect("changes serialise"))
            .bind(serde_json::to_string(&own_list).expect("pending removals serialise"))
            .bind(if own_list.is_empty() { "none" } else { "open" })
            .execute(&mut *tx)
            .await?;
        Ok(())
    }

    /// Marks the app checked (which makes a first check's rows visible), and matched against
    /// `dir_version` of the directory when the seats were re-matched.
    async fn mark_checked(&self, tx: &mut AnyConnection, dir_version: Option<i64>) -> Result<()> {
        sqlx::query(
            "UPDATE apps SET status = 'connected', status_message = NULL, last_check_at = $3, updated_at = $3, \
             matched_version = COALESCE($4, matched_version) WHERE workspace_id = $1 AND id = $2",
        )
        .bind(self.ws.to_string())
        .bind(self.app.id.to_string())
        .bind(self.now)
        .bind(dir_version)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

/// Scattered grants gathered before a sweep, once `written` grants are in: a sixth of them
/// (about five rows for each page of the table), at least a transaction's worth and at most
/// 80,000, for memory (with 100,000 and two sweeps in flight, a 500,000-member check peaked
/// 61 MB higher).
fn sweep_rows(written: usize) -> usize {
    (written / 6).clamp(FIRST_CHECK_TX_ROWS, 80_000)
}

/// Grants naming a different holder in most rows (a list per asset), not a few holders
/// each with their grants (a page of members).
fn scattered(rows: &[Row]) -> bool {
    let holders = 1 + rows
        .windows(2)
        .filter(|w| w[0].key[0] != w[1].key[0])
        .count();
    holders * 2 > rows.len()
}

/// After a first check's bulk load on PostgreSQL, beside the next work: fresh planner
/// statistics (without them the planner takes 100,000 seats for one and joins them to JSON
/// parameters by nested loops: pages took 200–400 ms) and a visibility map, so counts are
/// answered from indexes alone. Autovacuum would get there too, minutes later.
fn refresh_statistics(store: &Store) {
    let pool = store.pool.clone();
    tokio::spawn(async move {
        let sql =
            "VACUUM (ANALYZE) app_seats, app_assets, app_grants, app_asset_holders, app_partners";
        if let Err(e) = sqlx::raw_sql(sql).execute(&pool).await {
            tracing::warn!(error = %e, "statistics after a first check not refreshed");
        }
    });
}
