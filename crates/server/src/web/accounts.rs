//! All accounts: the caller's own account cards (Connect your account, Log in with the
//! audited reveal of the saved credentials and the current TOTP code), and every card of the
//! workspace for Admins and Owners. Sharing comes with people's accounts.

use askama::Template;
use axum::extract::State;
use castellan_domain::apps::CardStatus;
use castellan_domain::policy::Action;

use super::apps::platform_letter;
use super::{Chrome, Nav, Query, Web, WebResult, page, with_query};
use crate::state::AppState;
use axum::response::IntoResponse;

pub struct CardView {
    pub label: String,
    pub letter: &'static str,
    pub platform: &'static str,
    pub kind: &'static str,
    pub status: &'static str,
    pub status_icon: &'static str,
    pub status_class: &'static str,
    pub app: String,
    pub role: String,
}

pub struct MyCard {
    pub id: String,
    pub label: String,
    pub letter: &'static str,
    pub platform: &'static str,
    pub connected: bool,
    /// A new password waits for an Owner's confirmation.
    pub rotation_due: bool,
    /// The app signs in with SSO: nothing to connect or reveal.
    pub sso: bool,
    /// The app of a seat card whose Owner the caller is (they may share access to it).
    pub shares_app: Option<String>,
    pub app: String,
    /// The caller's one role on it (on their own seat's card, their role on the app), and
    /// how they hold it.
    pub mine: &'static str,
    pub owner: bool,
    /// They may save its credentials: their own seat's card (or one they added), whatever
    /// their role, or one they own — not one they only manage for a partner.
    pub own: bool,
    pub via: String,
}

#[derive(Template)]
#[template(path = "web/accounts.html")]
pub struct AccountsPage {
    chrome: Chrome,
    /// The filter shown: `all`, `mine`, `shared` or `needs_connecting`.
    show: String,
    mine: Vec<MyCard>,
    cards: Vec<CardView>,
    may_read_all: bool,
    next: Option<String>,
}

pub(super) fn role_word(r: castellan_domain::apps::AppRole) -> &'static str {
    match r {
        castellan_domain::apps::AppRole::Owner => "Owner",
        castellan_domain::apps::AppRole::Collaborator => "Collaborator",
    }
}

/// Everyone reaches the page; until accounts can be shared with people, only Admins and
/// Owners (who may read every card) see cards on it.
pub async fn list(State(s): State<AppState>, web: Web, Query(q): Query) -> WebResult {
    let may_read_all = web.require(Action::ReadAccounts).is_ok();
    let scoped = s.store.ws(web.ws());
    let labels: std::collections::HashMap<String, String> = if may_read_all {
        scoped
            .apps(None, 500)
            .await?
            .items
            .into_iter()
            .map(|a| (a.id.to_string(), a.label))
            .collect()
    } else {
        Default::default()
    };
    let mine = scoped
        .held_cards(web.p().person_id, &web.person_email)
        .await?
        .into_iter()
        .filter(|h| match q.get("show") {
            "mine" => h.paths.iter().any(|(v, _)| v == "own"),
            "shared" => h.paths.iter().any(|(v, _)| v != "own"),
            "needs_connecting" => h.card.status == CardStatus::ConnectYourAccount,
            "rotation_due" => h.card.status == CardStatus::RotationDue,
            _ => true,
        })
        .map(|h| {
            let via = h
                .paths
                .iter()
                .map(|(via, r)| {
                    let how = match via.as_str() {
                        "own" if h.card.app_id.is_none() => "you added it".to_string(),
                        "own" => "your seat on the app".to_string(),
                        "automation" => "the automation account, held by Owners".to_string(),
                        "person" => "shared with you".to_string(),
                        p if p.starts_with("partner:") => {
                            format!("shared with partner {}", p.trim_start_matches("partner:"))
                        }
                        g => format!("shared with group {}", g.trim_start_matches("group:")),
                    };
                    format!("{}: {how}", role_word(*r))
                })
                .collect::<Vec<_>>()
                .join("; ");
            let own = castellan_services::accounts::may_save_credentials(&h);
            (h.card, h.role, via, own)
        })
        .map(|(c, my, via, own)| MyCard {
            own,
            mine: role_word(my),
            // Owners share and change a card; an automation account's card is neither.
            owner: my == castellan_domain::apps::AppRole::Owner
                && c.automation_account_id.is_none(),
            via,
            id: c.id.to_string(),
            label: c.label,
            letter: platform_letter(c.platform),
            platform: c.platform.label(),
            connected: matches!(c.status, CardStatus::Connected | CardStatus::RotationDue),
            rotation_due: c.status == CardStatus::RotationDue,
            sso: c.status == CardStatus::SignsInWithSso,
            shares_app: c
                .app_id
                // Owners of the app (their seat's card says so) share access to it.
                .filter(|_| own && c.app_role == Some(castellan_domain::apps::AppRole::Owner))
                .map(|a| a.to_string()),
            app: c
                .app_id
                .and_then(|a| labels.get(&a.to_string()).cloned())
                .unwrap_or_default(),
        })
        .collect();
    let mut cards = Vec::new();
    let mut next = None;
    if may_read_all {
        let scoped = s.store.ws(web.ws());
        let apps: std::collections::HashMap<String, String> = scoped
            .apps(None, 500)
            .await?
            .items
            .into_iter()
            .map(|a| (a.id.to_string(), a.label))
            .collect();
        let page_ = scoped
            .account_cards(q.get("cursor").parse().ok(), 50)
            .await?;
        next = page_
            .next_cursor
            .as_ref()
            .map(|c| with_query("/accounts", &[("cursor", c)]));
        for c in page_.items {
            let (status, status_icon, status_class) = match c.status {
                CardStatus::Connected => ("Connected", "✓", "status-ok"),
                CardStatus::ConnectYourAccount => ("Connect your account", "!", "status-warn"),
                CardStatus::SignsInWithSso => ("Signs in with SSO", "⇄", "status-info"),
                CardStatus::RotationDue => ("Rotation due", "↻", "status-warn"),
            };
            cards.push(CardView {
                label: c.label,
                letter: platform_letter(c.platform),
                platform: c.platform.label(),
                kind: if c.automation_account_id.is_some() {
                    "Automation account"
                } else {
                    "Person's account"
                },
                status,
                status_icon,
                status_class,
                app: c
                    .app_id
                    .and_then(|a| apps.get(&a.to_string()).cloned())
                    .unwrap_or_default(),
                role: c.app_role.map(role_word).unwrap_or_default().to_string(),
            });
        }
    }
    page(
        &web,
        &AccountsPage {
            chrome: web.chrome(Nav::Accounts, "All accounts"),
            show: match q.get("show") {
                "mine" | "shared" | "needs_connecting" => q.get("show").to_string(),
                _ => "all".into(),
            },
            mine,
            cards,
            may_read_all,
            next,
        },
    )
}

pub(super) fn card_id(raw: &str) -> Result<castellan_domain::CardId, super::WebError> {
    raw.parse().map_err(|_| {
        super::WebError::NotFound("This account does not exist, or is not yours.".into())
    })
}

pub(crate) fn holder(web: &Web) -> castellan_services::accounts::Holder {
    castellan_services::accounts::Holder {
        person: web.p().person_id,
        email: web.person_email.clone(),
    }
}

/// One of the caller's own cards, or 404.
pub(super) async fn my_card(
    s: &AppState,
    web: &Web,
    id: castellan_domain::CardId,
) -> Result<castellan_store::AccountCard, super::WebError> {
    Ok(
        castellan_services::accounts::held_card(&s.services, web.ws(), &holder(web), id)
            .await
            .map_err(|e| super::WebError::from(crate::error::ApiError::from(e)))?
            .card,
    )
}

#[derive(Template)]
#[template(path = "web/connect_account.html", blocks = ["dialog"])]
pub struct ConnectAccountPage {
    chrome: Chrome,
    standalone: bool,
    id: String,
    platform: &'static str,
    label: String,
    login: String,
    /// A freshly generated strong password, for someone choosing a new one (not stored).
    suggested: String,
    errors: super::Errors,
}

fn suggest(s: &AppState) -> String {
    s.env.with_rng(|r| {
        castellan_domain::passwords::generate(&castellan_domain::passwords::Recipe::default(), r)
    })
}

pub async fn connect_page(
    State(s): State<AppState>,
    web: Web,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> WebResult {
    let id = card_id(&id)?;
    let h = castellan_services::accounts::held_card(&s.services, web.ws(), &holder(&web), id)
        .await
        .map_err(|e| super::WebError::from(crate::error::ApiError::from(e)))?;
    if h.card.automation_account_id.is_some() {
        return Err(super::WebError::Forbidden(
            "The automation account's credentials are those it was added with.".into(),
        ));
    }
    if !castellan_services::accounts::may_save_credentials(&h) {
        return Err(super::WebError::Forbidden(
            "Only the account's holder or an Owner of it saves its credentials.".into(),
        ));
    }
    let c = h.card;
    let view = ConnectAccountPage {
        chrome: web.chrome(Nav::Accounts, "Connect your account"),
        standalone: !web.htmx,
        id: id.to_string(),
        platform: c.platform.label(),
        label: c.label,
        login: web.person_email.clone(),
        suggested: suggest(&s),
        errors: super::Errors::default(),
    };
    if web.htmx {
        page(&web, &view.as_dialog())
    } else {
        page(&web, &view)
    }
}

pub async fn connect_submit(
    State(s): State<AppState>,
    web: Web,
    axum::extract::Path(id): axum::extract::Path<String>,
    form: super::Form,
) -> WebResult {
    let id = card_id(&id)?;
    let c = my_card(&s, &web, id).await?;
    match castellan_services::accounts::connect_account(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        &holder(&web),
        id,
        castellan_services::accounts::Credentials {
            login: form.get("login").to_string(),
            password: form.get("password").to_string(),
            totp: Some(form.get("totp").to_string()),
        },
    )
    .await
    {
        Ok(card) => Ok(super::done(
            &web,
            "/accounts",
            super::Flash::success(format!(
                "{} is connected: Log in shows your credentials.",
                card.label
            )),
        )),
        Err(e) => {
            let errors = super::Errors::from_api(e.into(), &["login", "password", "totp"])?;
            super::invalid(
                &web,
                &ConnectAccountPage {
                    chrome: web.chrome(Nav::Accounts, "Connect your account"),
                    standalone: true,
                    id: id.to_string(),
                    platform: c.platform.label(),
                    label: c.label,
                    login: form.get("login").to_string(),
                    suggested: suggest(&s),
                    errors,
                },
            )
        }
    }
}

#[derive(Template)]
#[template(path = "web/reveal.html", blocks = ["panel"])]
pub struct RevealPage {
    chrome: Chrome,
    label: String,
    login: String,
    password: String,
    /// A rotation's new password, waiting to be set on the platform and confirmed.
    pending: Option<String>,
    code: Option<String>,
    seconds_left: u64,
}

/// Log in: the saved credentials and the current code, to the holder only; audited; never
/// cached (`Cache-Control: no-store`, which every web page carries).
pub async fn reveal(
    State(s): State<AppState>,
    web: Web,
    axum::extract::Path(id): axum::extract::Path<String>,
    headers: axum::http::HeaderMap,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
) -> WebResult {
    let id = card_id(&id)?;
    let c = my_card(&s, &web, id).await?;
    let ua = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let r = castellan_services::accounts::reveal_account(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        &holder(&web),
        id,
        Some(&peer.ip().to_string()),
        ua,
    )
    .await
    .map_err(|e| super::WebError::from(crate::error::ApiError::from(e)))?;
    let view = RevealPage {
        chrome: web.chrome(Nav::Accounts, format!("Log in · {}", c.label)),
        label: c.label,
        login: r.login,
        password: r.password.expose().to_string(),
        pending: r.pending_password.as_ref().map(|p| p.expose().to_string()),
        code: r.totp.as_ref().map(|t| t.code.clone()),
        seconds_left: r.totp.as_ref().map(|t| t.seconds_left).unwrap_or(0),
    };
    let mut resp = if web.htmx {
        page(&web, &view.as_panel())?
    } else {
        page(&web, &view)?
    };
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    Ok(resp)
}

#[derive(Template)]
#[template(path = "web/account.html")]
pub struct AccountPage {
    chrome: Chrome,
    label: String,
    platform: &'static str,
    /// The card's status as words, and its class.
    status: (&'static str, &'static str),
    /// When each earlier password was replaced (they stay sealed).
    versions: Vec<String>,
    events: Vec<super::activity::EventRow>,
    export: String,
}

/// The newest `limit` events of a card, newest first.
async fn card_events(
    s: &AppState,
    web: &Web,
    id: castellan_domain::CardId,
    limit: i64,
) -> Result<Vec<super::activity::EventRow>, super::WebError> {
    Ok(s.store
        .ws(web.ws())
        .audit_list(
            &castellan_store::AuditFilter {
                target: Some(format!("account_card:{id}")),
                ..Default::default()
            },
            None,
            limit,
        )
        .await?
        .items
        .into_iter()
        .map(super::activity::EventRow::from)
        .collect())
}

/// An account's page: its activity (connects, shares, reveals), with CSV export, for its
/// holders.
pub async fn account(
    State(s): State<AppState>,
    web: Web,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> WebResult {
    let id = card_id(&id)?;
    let c = my_card(&s, &web, id).await?;
    let events = card_events(&s, &web, id, 200).await?;
    page(
        &web,
        &AccountPage {
            chrome: web.chrome(Nav::Accounts, c.label.clone()),
            label: c.label,
            platform: c.platform.label(),
            status: match c.status {
                CardStatus::Connected => ("Connected", "status-ok"),
                CardStatus::ConnectYourAccount => ("Connect your account", "status-warn"),
                CardStatus::SignsInWithSso => ("Signs in with SSO", "status-info"),
                CardStatus::RotationDue => ("Rotation due", "status-warn"),
            },
            versions: s
                .store
                .ws(web.ws())
                .password_versions(id)
                .await?
                .iter()
                .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                .collect(),
            events,
            export: with_query("/accounts/export.csv", &[("card", &id.to_string())]),
        },
    )
}

/// The account's activity as CSV (its holders may export what they may read).
pub async fn export(State(s): State<AppState>, web: Web, Query(q): Query) -> WebResult {
    let id = card_id(q.get("card"))?;
    my_card(&s, &web, id).await?;
    let events = card_events(&s, &web, id, 1000).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["seq", "at", "actor", "action", "outcome", "details"])
        .map_err(|e| super::WebError::Internal(e.to_string()))?;
    for row in events {
        w.write_record([
            row.seq.to_string(),
            row.at,
            row.actor,
            row.action,
            if row.ok {
                "success".into()
            } else {
                "failure".into()
            },
            row.details,
        ])
        .map_err(|e| super::WebError::Internal(e.to_string()))?;
    }
    let body = w
        .into_inner()
        .map_err(|e| super::WebError::Internal(e.to_string()))?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"account-activity.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Template)]
#[template(path = "web/add_account.html", blocks = ["dialog"])]
pub struct AddAccountPage {
    chrome: Chrome,
    standalone: bool,
    platform: String,
    label: String,
    errors: super::Errors,
}

/// "Add account": a card of one's own (guests too), for an account no app manages.
pub async fn add_page(web: Web) -> WebResult {
    let v = AddAccountPage {
        chrome: web.chrome(Nav::Accounts, "Add an account"),
        standalone: !web.htmx,
        platform: "pinterest".into(),
        label: String::new(),
        errors: super::Errors::default(),
    };
    if web.htmx {
        page(&web, &v.as_dialog())
    } else {
        page(&web, &v)
    }
}

pub async fn add_submit(State(s): State<AppState>, web: Web, form: super::Form) -> WebResult {
    match castellan_services::accounts::add_account(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        &holder(&web),
        form.get("platform"),
        form.get("label"),
    )
    .await
    {
        Ok(c) => Ok(super::done(
            &web,
            "/accounts",
            super::Flash::success(format!(
                "Added {}. Log in to save its credentials, then share it.",
                c.label
            )),
        )),
        Err(e) => {
            let errors = super::Errors::from_api(e.into(), &["label", "platform"])?;
            super::invalid(
                &web,
                &AddAccountPage {
                    chrome: web.chrome(Nav::Accounts, "Add an account"),
                    standalone: true,
                    platform: form.get("platform").to_string(),
                    label: form.get("label").to_string(),
                    errors,
                },
            )
        }
    }
}

/// An Owner confirms the platform has the new password.
pub async fn confirm_rotation(
    State(s): State<AppState>,
    web: Web,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> WebResult {
    let id = card_id(&id)?;
    match castellan_services::rotation::confirm(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        &holder(&web),
        id,
    )
    .await
    {
        Ok(c) => Ok(super::done(
            &web,
            "/accounts",
            super::Flash::success(format!(
                "{}: the new password is now the saved one; the earlier one stays sealed.",
                c.label
            )),
        )),
        Err(e) => match crate::error::ApiError::from(e) {
            crate::error::ApiError::Conflict { message, .. } => {
                Ok(super::done(&web, "/accounts", super::Flash::error(message)))
            }
            other => Err(other.into()),
        },
    }
}
