//! Connecting a native partner: an automation account whose user is an admin of the
//! partner's business (Pinterest's monitor account with the Manager role, or the token the
//! partner's TikTok Business Center gave through the consent page) reads that business for the
//! checks to come.

use std::collections::{HashMap, HashSet};

use castellan_domain::apps::partner_user_key;
use castellan_domain::audit::Actor;
use castellan_domain::platform::{
    Batch, BoxFuture, FetchStats, GrantRecord, Holder, SeatKind, SeatRecord, SharedAsset,
    SinkError, SnapshotSink,
};
use castellan_domain::{AppId, AutomationAccountId, FieldError, WorkspaceId};
use castellan_store::StoreError;

use crate::Services;
use crate::connector::{connection_check_http, connector_for};
use crate::error::ServiceError;

/// A connection made, with what the seeds recommend and was not found.
#[derive(Debug, Clone)]
pub struct Connected {
    pub partner: castellan_store::Partner,
    /// Said, not refused: e.g. no guest user of the workspace (the partner's admin should
    /// join as one, to share the monitor account's credentials securely).
    pub warning: Option<String>,
}

/// Connects `partner_id` of `app` through `account`, after checking, in this order: the
/// partner shares an asset one way or the other; the account is of the app's platform; its
/// token reaches the partner's business as an admin of it. Nothing is written when a check
/// fails.
pub async fn connect_partner(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    app: AppId,
    partner_id: &str,
    account: AutomationAccountId,
) -> Result<Connected, ServiceError> {
    let scoped = svc.store.ws(ws);
    let (app, _, name) = eligible_partner(svc, ws, app, partner_id).await?;
    let monitor = scoped
        .automation_account(account)
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => ServiceError::NotFound {
                field: "automation_account_id",
                what: "automation account",
            },
            e => e.into(),
        })?;
    if monitor.platform != app.platform {
        return Err(FieldError::new(
            "automation_account_id",
            format!("choose a {} account", app.platform.label()),
        )
        .into());
    }
    if let Err(why) = reaches_as_admin(svc, ws, &app, partner_id, &name, &monitor).await {
        return Err(ServiceError::Conflict(FieldError::new(
            "automation_account_id",
            why,
        )));
    }
    scoped
        .connect_partner(actor, app.id, partner_id, account)
        .await?;
    // The first 1,000 people answer whether there is any guest user at all.
    let guests = scoped
        .people(None, 1000)
        .await?
        .items
        .into_iter()
        .filter(|p| p.role == castellan_domain::workspace::WorkspaceRole::Guest)
        .count();
    let partner = scoped
        .partner(app.id, partner_id)
        .await?
        .ok_or(ServiceError::NotFound {
            field: "partner_id",
            what: "partner",
        })?;
    Ok(Connected {
        partner,
        warning: (guests == 0).then(|| {
            format!(
                "No guest user is in the workspace: invite {name}'s admin as one, so they can share the monitor account with you securely."
            )
        }),
    })
}

/// The app, the partner and its name, when the partner can be connected: it exists on the
/// app and shares an asset one way or the other (the seeds' IMPORTANT).
pub(crate) async fn eligible_partner(
    svc: &Services,
    ws: WorkspaceId,
    app: AppId,
    partner_id: &str,
) -> Result<(castellan_store::App, castellan_store::Partner, String), ServiceError> {
    let scoped = svc.store.ws(ws);
    let app = scoped.app(app).await?;
    let partner = scoped
        .partner(app.id, partner_id)
        .await?
        .ok_or(ServiceError::NotFound {
            field: "partner_id",
            what: "partner",
        })?;
    let name = partner
        .name
        .clone()
        .unwrap_or_else(|| partner_id.to_string());
    if !partner.eligible() {
        return Err(ServiceError::Conflict(FieldError::new(
            "partner_id",
            format!(
                "no asset is shared with {name} either way: a partner can be connected once one is"
            ),
        )));
    }
    Ok((app, partner, name))
}

/// Disconnects a partner: Castellan stops reading its business (nothing is called on the
/// platform; the automation account stays). Returns the partner as it now stands.
pub async fn disconnect_partner(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    app: AppId,
    partner_id: &str,
) -> Result<castellan_store::Partner, ServiceError> {
    let scoped = svc.store.ws(ws);
    scoped.app(app).await?;
    scoped.disconnect_partner(actor, app, partner_id).await?;
    scoped
        .partner(app, partner_id)
        .await?
        .ok_or(ServiceError::NotFound {
            field: "partner_id",
            what: "partner",
        })
}

/// A connector for the partner's business, with `monitor`'s token: the app's platform and
/// address, the partner's business id. `quick` uses the connection check's short HTTP budget.
pub async fn partner_connector(
    svc: &Services,
    ws: WorkspaceId,
    app: &castellan_store::App,
    partner_id: &str,
    monitor: &castellan_store::AutomationAccount,
    quick: bool,
) -> Result<Box<dyn castellan_domain::platform::Connector>, String> {
    let mut svc = svc.clone();
    if quick {
        svc.http = connection_check_http(&svc.http);
    }
    let as_partner = castellan_store::App {
        business_id: partner_id.to_string(),
        automation_account_id: monitor.id,
        ..app.clone()
    };
    connector_for(&svc, ws, &as_partner)
        .await
        .map_err(|f| f.to_string())
}

/// Whether `monitor`'s token reaches the partner's business as an admin of it; else why not.
/// The partner's business is read as the app's own is, with the monitor's token.
async fn reaches_as_admin(
    svc: &Services,
    ws: WorkspaceId,
    app: &castellan_store::App,
    partner_id: &str,
    name: &str,
    monitor: &castellan_store::AutomationAccount,
) -> Result<(), String> {
    let connector = partner_connector(svc, ws, app, partner_id, monitor, true).await?;
    admin_check(connector.as_ref(), name, monitor).await
}

/// Whether the connector's token acts as an admin of its business; else why not.
async fn admin_check(
    connector: &dyn castellan_domain::platform::Connector,
    name: &str,
    monitor: &castellan_store::AutomationAccount,
) -> Result<(), String> {
    match connector.check().await {
        Ok(c) if c.admin => Ok(()),
        Ok(_) => Err(format!(
            "{} is not an admin of {name}'s business (Pinterest: Manager / BIZ_ADMIN; TikTok: Admin)",
            monitor.label
        )),
        Err(e) => Err(format!(
            "{}'s token does not reach {name}'s business: {e}",
            monitor.label
        )),
    }
}

/// Keeps a partner's batches until its read completes, so a read that fails half-way adds
/// nothing (the partner's users as last held are taken instead).
#[derive(Default)]
struct Collect(Vec<Batch>);

impl SnapshotSink for Collect {
    fn accept(&mut self, batch: Batch) -> BoxFuture<'_, Result<(), SinkError>> {
        self.0.push(batch);
        Box::pin(async { Ok(()) })
    }
}

/// Keys a partner's users among the app's seats (`partner_user_key`), on their grants too;
/// nothing else of a partner's business is taken.
fn keyed(partner_id: &str, batch: Batch) -> Option<Batch> {
    Some(match batch {
        Batch::Seats(v) => Batch::Seats(
            v.into_iter()
                .map(|s| SeatRecord {
                    user_id: partner_user_key(partner_id, &s.user_id),
                    kind: SeatKind::PartnerUser,
                    ..s
                })
                .collect(),
        ),
        Batch::Grants(v) => Batch::Grants(
            v.into_iter()
                .filter_map(|g| match g.holder {
                    Holder::Member(u) => Some(GrantRecord {
                        holder: Holder::Member(partner_user_key(partner_id, &u)),
                        ..g
                    }),
                    Holder::Partner(_) => None,
                })
                .collect(),
        ),
        Batch::Assets(_) | Batch::Partners(_) | Batch::Kept(_) => return None,
    })
}

/// What a check found of its app's partners while fetching: which partners there are now, and
/// the assets of ours each uses (with their types).
#[derive(Debug, Default)]
pub(crate) struct PartnerSight {
    pub(crate) partners: HashSet<String>,
    pub(crate) shared: HashMap<String, Vec<String>>,
    pub(crate) kinds: HashMap<String, String>,
}

impl PartnerSight {
    /// Notes what `batch` says of partners and their assets.
    pub(crate) fn see(&mut self, batch: &Batch) {
        match batch {
            Batch::Assets(v) => {
                for a in v {
                    self.kinds.insert(a.id.clone(), a.kind.clone());
                }
            }
            Batch::Grants(v) => {
                for g in v {
                    if let Holder::Partner(p) = &g.holder {
                        self.shared
                            .entry(p.clone())
                            .or_default()
                            .push(g.asset_id.clone());
                    }
                }
            }
            Batch::Partners(v) => self.partners.extend(v.iter().map(|p| p.id.clone())),
            // Connected partners are never kept (see `fetch_scope`), so a kept list names
            // none whose users are read.
            Batch::Seats(_) | Batch::Kept(_) => {}
        }
    }
}

/// After the app's own fetch, within its check: each connected partner's users who reach our
/// shared assets, read with the partner's account and pushed into `sink` keyed as the app's
/// seats. A partner whose business cannot be read (a monitor account demoted behind
/// Castellan's back, a token revoked) is marked *Connection failing* with the reason and keeps
/// its users as last held; a partner read again is *Connected*. A partner gone from the
/// business takes its users with it. Returns the requests made and one line per failure.
pub(crate) async fn read_partner_users(
    svc: &Services,
    ws: WorkspaceId,
    app: &castellan_store::App,
    sight: &PartnerSight,
    sink: &mut dyn SnapshotSink,
) -> Result<(FetchStats, Vec<String>), ServiceError> {
    let scoped = svc.store.ws(ws);
    let mut stats = FetchStats::default();
    let mut failing = Vec::new();
    for p in scoped.partners(app.id).await? {
        let Some(conn) = &p.connection else { continue };
        if !sight.partners.contains(&p.partner_id) {
            continue;
        }
        let name = p.name.clone().unwrap_or_else(|| p.partner_id.clone());
        let mut assets: Vec<SharedAsset> = sight
            .shared
            .get(&p.partner_id)
            .into_iter()
            .flatten()
            .map(|id| SharedAsset {
                id: id.clone(),
                kind: sight.kinds.get(id).cloned().unwrap_or_default(),
            })
            .collect();
        assets.sort();
        assets.dedup();
        let read = async {
            let monitor = scoped
                .automation_account(conn.account)
                .await
                .map_err(|_| "its account was removed from Castellan".to_string())?;
            // One connector for the admin check and the read, so its counts are the partner's.
            let connector = partner_connector(svc, ws, app, &p.partner_id, &monitor, false).await?;
            admin_check(connector.as_ref(), &name, &monitor).await?;
            let mut got = Collect::default();
            let s = connector
                .fetch_partner_users(&assets, &mut got)
                .await
                .map_err(|e| format!("{name}'s users could not be read: {e}"))?;
            Ok::<_, String>((s, got.0))
        };
        let (batches, why) = match read.await {
            Ok((s, batches)) => {
                stats.requests += s.requests;
                stats.retries += s.retries;
                stats.pages += s.pages;
                let keyed: Vec<Batch> = batches
                    .into_iter()
                    .filter_map(|b| keyed(&p.partner_id, b))
                    .collect();
                (keyed, None)
            }
            Err(why) => (
                scoped.held_partner_users(app.id, &p.partner_id).await?,
                Some(why),
            ),
        };
        for b in batches {
            match &b {
                Batch::Seats(v) => stats.seats += v.len() as u64,
                Batch::Grants(v) => stats.grants += v.len() as u64,
                _ => {}
            }
            sink.accept(b).await.map_err(|e| {
                ServiceError::Internal(anyhow::anyhow!("partner users not stored: {e}"))
            })?;
        }
        scoped
            .set_partner_status(app.id, &p.partner_id, why.as_deref())
            .await?;
        if let Some(w) = why {
            failing.push(format!("{name}: {w}"));
        }
    }
    Ok((stats, failing))
}
