//! Re-matching an app's seats to the directory: planned (CPU work, no write lock) and then
//! applied, guarded so a manual match or exemption made meanwhile wins.

use castellan_domain::matching::{Candidate, MatchConfig, Outcome, SeatKey, match_all};
use castellan_domain::{AppId, IdentityId, WorkspaceId};
use sqlx::{AnyConnection, Row as _};

use crate::sql::*;
use crate::{Backend, Result, Store, get_id, get_opt_id};

/// An identity as matching sees it: id, userName, e-mails, active.
pub(crate) type IdentityRow = (IdentityId, String, Vec<String>, bool);

pub(crate) async fn load_identities(store: &Store, ws: WorkspaceId) -> Result<Vec<IdentityRow>> {
    let rows = sqlx::query("SELECT id, user_name, primary_email, other_emails, active FROM identities WHERE workspace_id = $1")
        .bind(ws.to_string())
        .fetch_all(&store.pool)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let other: Vec<String> =
            serde_json::from_str(&r.try_get::<String, _>("other_emails")?).unwrap_or_default();
        let mut emails = vec![r.try_get::<String, _>("primary_email")?];
        emails.extend(other);
        out.push((
            get_id(r, "id")?,
            r.try_get("user_name")?,
            emails,
            r.try_get::<i64, _>("active")? != 0,
        ));
    }
    Ok(out)
}

/// The directory's version and the workspace's matching settings: a check records the
/// version its seats were matched against.
pub(crate) async fn directory_of(store: &Store, ws: WorkspaceId) -> Result<(i64, MatchConfig)> {
    let r = sqlx::query("SELECT directory_version, settings FROM workspaces WHERE id = $1")
        .bind(ws.to_string())
        .fetch_one(&store.pool)
        .await?;
    let settings = crate::get_json(&r, "settings")?;
    Ok((
        r.try_get("directory_version")?,
        MatchConfig::from_workspace(&castellan_domain::workspace::WorkspaceSettings::from_json(
            &settings,
        )),
    ))
}

/// The active (or deactivated) identities as matching takes them.
pub(crate) fn candidates(
    identities: &[IdentityRow],
    active: bool,
) -> impl Iterator<Item = Candidate<'_>> {
    identities
        .iter()
        .filter(move |i| i.3 == active)
        .map(|(id, u, e, _)| Candidate {
            id: *id,
            user_name: u,
            emails: e.iter().map(String::as_str).collect(),
        })
}

/// The tab and person a seat of `kind` takes from its match among active identities
/// (`outcome`) and among deactivated ones (`leaver`): a seat no active person claims may
/// belong to a leaver, linked to the deactivated identity it stays Unmatched, and reports
/// list it as pending removal.
pub(crate) fn matched_state(
    kind: &str,
    outcome: Outcome,
    leaver: Outcome,
) -> (&'static str, Option<IdentityId>) {
    match (kind, outcome) {
        ("invite", _) => ("invited", None),
        (_, Outcome::PartnerUser) => ("partner_user", None),
        (_, Outcome::Matched(id, _)) => ("onboarded", Some(id)),
        (_, Outcome::Unmatched) => match leaver {
            Outcome::Matched(id, _) => ("unmatched", Some(id)),
            _ => ("unmatched", None),
        },
    }
}

/// Seats matched at once: the seats of a chunk are indexed and the directory streamed
/// through them (see `match_all`), so a business of 500,000 seats is never held whole
/// (that cost ~130 MB at 500k) while a directory of a million is read a handful of times.
const MATCH_CHUNK: usize = 50_000;

/// A seat as matching sees it.
struct SeatToMatch {
    user_id: String,
    username: Option<String>,
    email: Option<String>,
    kind: String,
    state: String,
    identity: Option<IdentityId>,
    /// Invited as a guest user who has joined: a partner's user, not an employee.
    guest: bool,
}

/// Re-matches the app's live seats that are not manually decided to `identities`; writes
/// only the seats whose state or person changed. Returns how many changed.
pub(crate) async fn plan_rematch(
    conn: &mut AnyConnection,
    ws: WorkspaceId,
    app: AppId,
    identities: &[IdentityRow],
    cfg: &MatchConfig,
) -> Result<Rematch> {
    use futures_util::TryStreamExt;
    let mut plan = Rematch {
        changes: Vec::new(),
    };
    let mut chunk = Vec::with_capacity(MATCH_CHUNK.min(1024));
    let mut seats = sqlx::query(
        "SELECT user_id, username, email, kind, state, identity_id, \
         CAST(CASE WHEN EXISTS (SELECT 1 FROM seat_guests sg JOIN people p ON p.id = sg.person_id WHERE sg.app_id = app_seats.app_id \
         AND sg.user_id = app_seats.user_id AND p.password_hash IS NOT NULL) THEN 1 ELSE 0 END AS BIGINT) AS guest \
         FROM app_seats WHERE workspace_id = $1 AND app_id = $2 \
         AND vanished_at IS NULL AND (match_source IS NULL OR match_source = 'auto') AND state <> 'exempted'",
    )
    .bind(ws.to_string())
    .bind(app.to_string())
    .fetch(&mut *conn);
    while let Some(r) = seats.try_next().await? {
        chunk.push(SeatToMatch {
            user_id: r.try_get("user_id")?,
            username: r.try_get("username")?,
            email: r.try_get("email")?,
            kind: r.try_get("kind")?,
            state: r.try_get("state")?,
            identity: get_opt_id(&r, "identity_id")?,
            guest: crate::get_bool(&r, "guest")?,
        });
        if chunk.len() == MATCH_CHUNK {
            plan.add(&chunk, identities, cfg);
            chunk.clear();
        }
    }
    plan.add(&chunk, identities, cfg);
    Ok(plan)
}

/// Seats whose match changes: `[user_id, state, identity_id]` each.
pub(crate) struct Rematch {
    pub(crate) changes: Vec<Vec<Option<String>>>,
}

impl Rematch {
    /// Matches one chunk of seats and notes those whose state or person changes.
    fn add(&mut self, seats: &[SeatToMatch], identities: &[IdentityRow], cfg: &MatchConfig) {
        if seats.is_empty() {
            return;
        }
        let keys: Vec<SeatKey> = seats
            .iter()
            .map(|s| SeatKey {
                email: s.email.as_deref(),
                username: s.username.as_deref(),
                partner: s.kind == "partner_user" || s.guest,
            })
            .collect();
        let outcomes = match_all(cfg, &keys, candidates(identities, true));
        let leavers = match_all(cfg, &keys, candidates(identities, false));
        for ((s, outcome), leaver) in seats.iter().zip(outcomes).zip(leavers) {
            let (state, identity) = matched_state(&s.kind, outcome, leaver);
            if state != s.state || identity != s.identity {
                self.changes.push(vec![
                    Some(s.user_id.clone()),
                    Some(state.into()),
                    identity.map(|i| i.to_string()),
                ]);
            }
        }
    }
}

/// The update of one chunk of re-matched seats (`$1` the app, `$2` the JSON rows).
fn rematch_sql(backend: Backend) -> String {
    format!(
        "{} UPDATE app_seats AS x SET state = j.value->>1, identity_id = j.value->>2, match_source = 'auto' FROM j \
         WHERE x.app_id = $1 AND x.user_id = j.value->>0 \
         AND (x.match_source IS NULL OR x.match_source = 'auto') AND x.state <> 'exempted'",
        json_cte(backend, 2)
    )
}

/// Writes (part of) a planned rematch, `Rematch::changes`. A seat matched by hand or exempted
/// since the plan was read keeps what the person did.
pub(crate) async fn apply_rematch(
    conn: &mut AnyConnection,
    backend: Backend,
    app: AppId,
    changes: &[Vec<Option<String>>],
) -> Result<u64> {
    let sql = rematch_sql(backend);
    for chunk in changes.chunks(CHUNK) {
        sqlx::query(&sql)
            .bind(app.to_string())
            .bind(encode(&as_refs(chunk)))
            .execute(&mut *conn)
            .await?;
    }
    Ok(changes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SQLite looks each re-matched seat up by its primary key, the JSON rows read once (with
    /// `json_each` in the FROM it scanned every seat of the app and re-read the JSON for each).
    #[tokio::test]
    async fn the_rematch_update_looks_seats_up_by_key() {
        sqlx::any::install_default_drivers();
        use sqlx::Connection as _;
        // One connection: each connection to `sqlite::memory:` is a database of its own.
        let mut conn = AnyConnection::connect("sqlite::memory:").await.unwrap();
        sqlx::query(
            "CREATE TABLE app_seats (app_id TEXT, user_id TEXT, state TEXT, identity_id TEXT, match_source TEXT, \
             PRIMARY KEY (app_id, user_id))",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        let plan: Vec<String> = sqlx::query(&format!(
            "EXPLAIN QUERY PLAN {}",
            rematch_sql(Backend::Sqlite)
        ))
        .bind("app")
        .bind(r#"[["u1","onboarded","i1"]]"#)
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get::<String, _>("detail").unwrap())
        .collect();
        assert!(
            plan.iter()
                .any(|d| d.starts_with("SEARCH x") && d.contains("app_id=? AND user_id=?")),
            "{plan:?}"
        );
        assert!(
            plan.iter().any(|d| d.starts_with("MATERIALIZE j")),
            "{plan:?}"
        );
    }
}
