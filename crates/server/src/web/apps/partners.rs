//! App details → Partners: the platform's business partners (Pinterest Business Partners,
//! TikTok Business Partners), which way assets go, the assets each way with the partner's
//! permissions, and whether the partner can be connected.

use super::head::{AppHead, app_id, load_head};
use crate::state::AppState;
use crate::web::{Chrome, Nav, Web, WebResult, page};
use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::apps::{PartnerStatus, Platform};
use castellan_domain::policy::Action;
use castellan_domain::words::count;
use castellan_services::partner_consent::NextStep;

/// One partner's row.
pub struct PartnerRow {
    pub id: String,
    pub name: String,
    pub direction: &'static str,
    /// Our assets it uses: "name (type): permissions".
    pub ours: Vec<String>,
    /// Its assets shared with us: "name (type)".
    pub theirs: Vec<String>,
    pub status: &'static str,
    pub status_class: &'static str,
    pub status_icon: &'static str,
    /// Why its connection fails.
    pub message: String,
    /// Connect to Castellan (under the row's More options), for those who manage the app.
    pub connect: Option<String>,
    /// Disconnect (posted), for a connected partner.
    pub disconnect: Option<String>,
    /// Stop sharing (while it uses our assets) and Remove partnership dialogs.
    pub stop_sharing: Option<String>,
    pub remove: Option<String>,
}

#[derive(Template)]
#[template(path = "web/app_partners.html")]
pub struct PartnersPage {
    chrome: Chrome,
    head: AppHead,
    /// "Pinterest Business Partners" or "TikTok Business Partners".
    title: &'static str,
    shown: String,
    rows: Vec<PartnerRow>,
}

fn label(a: &castellan_store::PartnerAsset) -> String {
    let name = a.name.clone().unwrap_or_else(|| a.asset_id.clone());
    if a.kind.is_empty() {
        name
    } else {
        format!("{name} ({})", a.kind)
    }
}

pub async fn partners(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    web.require(Action::ReadApps)?;
    let id = app_id(&id)?;
    let (app, head) = load_head(&s, &web, id, None, "partners").await?;
    let rows: Vec<PartnerRow> = s
        .store
        .ws(web.ws())
        .partners(id)
        .await?
        .into_iter()
        .map(|p| {
            let eligible = p.eligible();
            let status = p.status().label();
            let (status_class, status_icon) = match p.status() {
                PartnerStatus::Connected => ("status-ok", "✓"),
                PartnerStatus::ConnectionFailing => ("status-bad", "✕"),
                PartnerStatus::PendingOnboarding => ("status-warn", "…"),
                PartnerStatus::NotEligible => ("status-info", "–"),
            };
            let message = p.connection.as_ref().and_then(|c| c.message.clone());
            PartnerRow {
                direction: match p.relation.as_str() {
                    "uses_our_assets" => "Uses our assets",
                    "shares_with_us" => "We use its assets",
                    _ => "Both ways",
                },
                ours: p
                    .ours
                    .iter()
                    .map(|a| format!("{}: {}", label(a), a.permissions.join(", ")))
                    .collect(),
                theirs: p.theirs.iter().map(label).collect(),
                status,
                status_class,
                status_icon,
                message: message.unwrap_or_default(),
                // Connect (or connect again through another account) while eligible.
                connect: (head.may_manage && eligible)
                    .then(|| format!("/apps/{}/partners/{}/connect", head.id, p.partner_id)),
                disconnect: (head.may_manage && p.connection.is_some())
                    .then(|| format!("/apps/{}/partners/{}/disconnect", head.id, p.partner_id)),
                stop_sharing: (head.may_manage && !p.ours.is_empty()).then(|| {
                    format!(
                        "/apps/{}/partners/{}/change/stop-sharing",
                        head.id, p.partner_id
                    )
                }),
                remove: head
                    .may_manage
                    .then(|| format!("/apps/{}/partners/{}/change/remove", head.id, p.partner_id)),
                name: p.name.unwrap_or_else(|| p.partner_id.clone()),
                id: p.partner_id,
            }
        })
        .collect();
    page(
        &web,
        &PartnersPage {
            chrome: web.chrome(Nav::Apps, format!("{} · Partners", head.label)),
            head,
            title: match app.platform {
                Platform::Pinterest => "Pinterest Business Partners",
                Platform::Tiktok => "TikTok Business Partners",
            },
            shown: count(rows.len(), "partner", "partners"),
            rows,
        },
    )
}

// ------------------------------------------------------------- Connect to Castellan

#[derive(Template)]
#[template(path = "web/connect_partner.html", blocks = ["dialog"])]
pub struct ConnectPartnerPage {
    chrome: Chrome,
    standalone: bool,
    /// `intro` (Connect your partner … → Get started), `select` (the account → Confirm or
    /// Next), or `consent` (on to the platform's consent page).
    step: &'static str,
    pinterest: bool,
    platform: &'static str,
    intro_title: &'static str,
    select_title: &'static str,
    partner: String,
    base: String,
    back: String,
    /// The platform's automation accounts and the account cards the person holds: (value,
    /// label, chosen).
    accounts: Vec<(String, String, bool)>,
    errors: crate::web::Errors,
    /// The platform's consent page, once an account without a token was chosen.
    consent_url: String,
}

async fn connect_view(
    s: &AppState,
    web: &Web,
    app: &castellan_store::App,
    partner: &castellan_store::Partner,
    step: &'static str,
    chosen: &str,
    errors: crate::web::Errors,
) -> Result<ConnectPartnerPage, crate::web::WebError> {
    let pinterest = app.platform == Platform::Pinterest;
    let scoped = s.store.ws(web.ws());
    let mut accounts: Vec<(String, String, bool)> = scoped
        .automation_accounts(None, 500)
        .await?
        .items
        .into_iter()
        .filter(|a| a.platform == app.platform && a.id != app.automation_account_id)
        .map(|a| {
            (
                a.id.to_string(),
                format!("{} ({})", a.label, a.email),
                false,
            )
        })
        .collect();
    // Accounts shared with the person (the partner's admin, a guest user, adds the monitor
    // account and shares it): the consent page signs in as it.
    let who = crate::web::accounts::holder(web);
    accounts.extend(
        scoped
            .held_cards(who.person, &who.email)
            .await?
            .into_iter()
            .filter(|h| {
                h.card.platform == app.platform
                    && h.card.automation_account_id.is_none()
                    && h.card.app_id.is_none()
                    && h.card.status == castellan_domain::apps::CardStatus::Connected
            })
            .map(|h| {
                let via = if h.paths.iter().any(|(p, _)| p == "own") {
                    "your account"
                } else {
                    "shared with you"
                };
                (
                    format!("card:{}", h.card.id),
                    format!("{} ({via})", h.card.label),
                    false,
                )
            }),
    );
    for a in &mut accounts {
        a.2 = a.0 == chosen;
    }
    Ok(ConnectPartnerPage {
        chrome: web.chrome(Nav::Apps, "Connect to Castellan"),
        standalone: !web.htmx || errors.any(),
        step,
        pinterest,
        platform: app.platform.label(),
        // The seeds' dialog names.
        intro_title: if pinterest {
            "Connect your partner to Castellan"
        } else {
            "Connect your partner token"
        },
        select_title: if pinterest {
            "Select monitor account"
        } else {
            "Grant access"
        },
        partner: partner
            .name
            .clone()
            .unwrap_or_else(|| partner.partner_id.clone()),
        base: format!("/apps/{}/partners/{}/connect", app.id, partner.partner_id),
        back: format!("/apps/{}/partners", app.id),
        accounts,
        errors,
        consent_url: String::new(),
    })
}

async fn partner_of(
    s: &AppState,
    web: &Web,
    app: castellan_domain::AppId,
    partner: &str,
) -> Result<castellan_store::Partner, crate::web::WebError> {
    s.store
        .ws(web.ws())
        .partner(app, partner)
        .await?
        .ok_or_else(|| crate::web::WebError::NotFound("This partner is not on the app.".into()))
}

/// The Connect to Castellan dialog: its intro, then the account to read the partner with.
pub async fn connect_page(
    State(s): State<AppState>,
    web: Web,
    Path((id, partner)): Path<(String, String)>,
    crate::web::Query(q): crate::web::Query,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let app = s.store.ws(web.ws()).app(id).await?;
    let p = partner_of(&s, &web, id, &partner).await?;
    let step = if q.get("step") == "select" {
        "select"
    } else {
        "intro"
    };
    let v = connect_view(&s, &web, &app, &p, step, "", crate::web::Errors::default()).await?;
    if web.htmx {
        page(&web, &v.as_dialog())
    } else {
        page(&web, &v)
    }
}

/// Confirm: connects the partner (or says why not, in the dialog).
pub async fn connect_submit(
    State(s): State<AppState>,
    web: Web,
    Path((id, partner)): Path<(String, String)>,
    form: crate::web::Form,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let app = s.store.ws(web.ws()).app(id).await?;
    let p = partner_of(&s, &web, id, &partner).await?;
    let result = async {
        let choice = castellan_services::partner_consent::MonitorChoice::parse(
            "automation_account_id",
            form.get("automation_account_id"),
        )
        .map_err(crate::error::ApiError::from)?;
        Ok::<_, crate::error::ApiError>(
            castellan_services::partner_consent::connect_through(
                &s.services,
                web.ws(),
                &web.caller.actor(),
                Some(&crate::web::accounts::holder(&web)),
                id,
                &partner,
                choice,
                &s.settings.public_url,
            )
            .await?,
        )
    }
    .await;
    match result {
        // The page links to the consent page (the CSP's form-action keeps a form from
        // redirecting to another origin, as for apps connected in the wizard).
        Ok(NextStep::Consent { authorize_url }) => {
            let mut v = connect_view(
                &s,
                &web,
                &app,
                &p,
                "consent",
                form.get("automation_account_id"),
                crate::web::Errors::default(),
            )
            .await?;
            v.standalone = true;
            v.consent_url = authorize_url;
            page(&web, &v)
        }
        Ok(NextStep::Connected(done)) => {
            let name = done.partner.name.clone().unwrap_or_else(|| partner.clone());
            Ok(crate::web::done(
                &web,
                &format!("/apps/{id}/partners"),
                connected_flash(&name, done.warning),
            ))
        }
        Err(e) => {
            let errors = crate::web::Errors::from_api(e, &["automation_account_id"])?;
            let v = connect_view(
                &s,
                &web,
                &app,
                &p,
                "select",
                form.get("automation_account_id"),
                errors,
            )
            .await?;
            crate::web::invalid(&web, &v)
        }
    }
}

/// The message a partner connected shows (the seeds' success box), with what the seeds
/// recommend and was not found; the consent page's callback shows it too.
pub(crate) fn connected_flash(name: &str, warning: Option<String>) -> crate::web::Flash {
    match warning {
        Some(w) => crate::web::Flash::warning(format!("{name} is connected to Castellan. {w}")),
        None => crate::web::Flash::success(format!(
            "{name} is connected to Castellan: check for updates to see its users."
        )),
    }
}

/// Disconnect from Castellan (the row's More options): Castellan stops reading the partner.
pub async fn disconnect_submit(
    State(s): State<AppState>,
    web: Web,
    Path((id, partner)): Path<(String, String)>,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let id = app_id(&id)?;
    let p = castellan_services::partners::disconnect_partner(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        id,
        &partner,
    )
    .await
    .map_err(crate::error::ApiError::from)?;
    Ok(crate::web::done(
        &web,
        &format!("/apps/{id}/partners"),
        crate::web::Flash::success(format!(
            "{} is disconnected: Castellan no longer reads its business.",
            p.name.unwrap_or(partner)
        )),
    ))
}
