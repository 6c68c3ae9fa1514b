//! Connecting a native partner: an automation account whose user is an admin of the
//! partner's business (Pinterest's monitor account with the Manager role, or the token the
//! partner's TikTok Business Center gave through the consent page) reads that business for the
//! checks to come.

use castellan_domain::audit::Actor;
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
    let mut quick = svc.clone();
    quick.http = connection_check_http(&svc.http);
    let as_partner = castellan_store::App {
        business_id: partner_id.to_string(),
        automation_account_id: monitor.id,
        ..app.clone()
    };
    let connector = connector_for(&quick, ws, &as_partner)
        .await
        .map_err(|f| f.to_string())?;
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

/// After an app's check: each connected partner is read again with its account, and marked
/// *Connection failing* with the reason when it no longer reaches the partner's business as an
/// admin (a monitor account demoted behind Castellan's back), or connected again. The app's
/// own check has completed already and stays so; returns one line per partner that fails.
pub async fn recheck_connections(
    svc: &Services,
    ws: WorkspaceId,
    app: &castellan_store::App,
) -> Result<Vec<String>, ServiceError> {
    let scoped = svc.store.ws(ws);
    let mut failing = Vec::new();
    for p in scoped.partners(app.id).await? {
        let Some(conn) = &p.connection else { continue };
        let name = p.name.clone().unwrap_or_else(|| p.partner_id.clone());
        let outcome = match scoped.automation_account(conn.account).await {
            Ok(monitor) => reaches_as_admin(svc, ws, app, &p.partner_id, &name, &monitor).await,
            Err(_) => Err("its account was removed from Castellan".to_string()),
        };
        let why = outcome.err();
        scoped
            .set_partner_status(app.id, &p.partner_id, why.as_deref())
            .await?;
        if let Some(w) = why {
            failing.push(format!("{name}: {w}"));
        }
    }
    Ok(failing)
}
