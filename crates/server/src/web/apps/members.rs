//! App details → Members: the User Overview tabs with each seat's person, notes and actions.

use super::head::{AppHead, TABS, app_id, load_head};
use crate::state::AppState;
use crate::web::{Chrome, Nav, Query, Web, WebResult, page, when, with_query};
use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::apps::{MatchSource, SeatState, Tab};
use castellan_domain::policy::Action;

/// One row of the User Overview.
#[derive(Debug, Clone)]
pub struct SeatRow {
    pub user_id: String,
    pub person: String,
    pub email: String,
    pub username: String,
    pub roles: String,
    pub assets: i64,
    /// The seat's assets and its permissions on each (shown on demand).
    pub holdings: Vec<(String, String)>,
    pub notes: Vec<(&'static str, String)>,
    pub automation: bool,
    pub modal_actions: Vec<(&'static str, String)>,
    pub post_actions: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "web/app_members.html")]
pub struct MembersPage {
    chrome: Chrome,
    head: AppHead,
    tab: String,
    q: String,
    rows: Vec<SeatRow>,
    next: Option<String>,
}

pub async fn members(
    State(s): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Query(q): Query,
) -> WebResult {
    web.require(Action::ReadApps)?;
    let id = app_id(&id)?;
    // An unknown tab shows the first one; `guest` is the old name of Partner users.
    let tab_name = match q.get("tab") {
        "guest" => "partner_users",
        t if TABS.iter().any(|(n, _)| *n == t) => t,
        _ => "onboarded",
    };
    let tab = Tab::parse("tab", tab_name).expect("a known tab");
    let (app, head) = load_head(&s, &web, id, Some(tab_name), "members").await?;
    let search = q.get("q").trim().to_string();
    let cursor = q.get("cursor");
    let seats = s
        .store
        .ws(web.ws())
        .seats(
            id,
            tab,
            Some(search.as_str()).filter(|x| !x.is_empty()),
            Some(cursor).filter(|c| !c.is_empty()),
            50,
        )
        .await?;
    let base = format!("/apps/{id}/members/");
    // The page's seats' permissions in one query, for the expandable asset lists.
    let ids: Vec<String> = seats
        .items
        .iter()
        .filter(|s| s.assets > 0)
        .map(|s| s.user_id.clone())
        .collect();
    let mut perms = s.store.ws(web.ws()).seat_permissions(id, &ids).await?;
    let rows = seats
        .items
        .into_iter()
        .map(|seat| {
            let automation = app.automation_user_id.as_deref() == Some(seat.user_id.as_str());
            let mut notes = Vec::new();
            if automation {
                notes.push(("note-info", "Automation account".to_string()));
            }
            if seat.deprovisioned {
                notes.push((
                    "note-warn",
                    "Person deactivated: awaiting removal".to_string(),
                ));
            }
            if let Some(e) = &seat.exemption {
                notes.push((
                    "note-info",
                    match &e.until {
                        Some(u) => format!("Exempt: {} (until {})", e.reason, when(u)),
                        None => format!("Exempt: {}", e.reason),
                    },
                ));
            }
            if seat.match_source == Some(MatchSource::Manual) && seat.state == SeatState::Onboarded
            {
                notes.push(("note-info", "Matched by hand".to_string()));
            }
            if let Some(r) = &seat.removed_at {
                notes.push(("note-warn", format!("Removed {}", when(r))));
            }
            let u = form_urlencoded::byte_serialize(seat.user_id.as_bytes()).collect::<String>();
            let mut modal = Vec::new();
            let mut posts = Vec::new();
            if head.may_manage && !automation {
                match seat.state {
                    SeatState::Unmatched => {
                        modal.push(("Match user", format!("{base}{u}/match")));
                        modal.push(("Exempt user", format!("{base}{u}/exempt")));
                        modal.push(("Remove user", format!("{base}{u}/remove")));
                    }
                    SeatState::Onboarded => {
                        modal.push(("Change role", format!("{base}{u}/role")));
                        modal.push(("Exempt user", format!("{base}{u}/exempt")));
                        modal.push(("Remove user", format!("{base}{u}/remove")));
                        posts.push(("Re-assign", format!("{base}{u}/unmatch")));
                    }
                    SeatState::Exempted => {
                        posts.push(("Un-exempt", format!("{base}{u}/unexempt")));
                        modal.push(("Remove user", format!("{base}{u}/remove")));
                    }
                    SeatState::Invited => {
                        modal.push((
                            "Cancel invite",
                            format!("{base}{u}/remove?action=cancel_invite"),
                        ));
                    }
                    SeatState::PartnerUser | SeatState::Removed => {}
                }
            }
            SeatRow {
                person: seat
                    .display_name
                    .clone()
                    .or_else(|| seat.email.clone())
                    .unwrap_or_else(|| seat.user_id.clone()),
                email: seat.email.clone().unwrap_or_default(),
                username: seat.username.clone().unwrap_or_default(),
                roles: seat.roles.join(", "),
                assets: seat.assets,
                holdings: perms
                    .remove(&seat.user_id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|h| (h.label.unwrap_or(h.asset_id), h.permissions.join(", ")))
                    .collect(),
                notes,
                automation,
                modal_actions: modal,
                post_actions: posts,
                user_id: seat.user_id,
            }
        })
        .collect();
    let tab_s = tab_name.to_string();
    let next = seats.next_cursor.map(|c| {
        with_query(
            &format!("/apps/{id}/members"),
            &[("tab", &tab_s), ("q", &search), ("cursor", &c)],
        )
    });
    page(
        &web,
        &MembersPage {
            chrome: web.chrome(Nav::Apps, format!("{} · Members", head.label)),
            head,
            tab: tab_s,
            q: search,
            rows,
            next,
        },
    )
}
