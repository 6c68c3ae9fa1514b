//! App details → Members: the User Overview tabs with each seat's person, notes and actions.

use super::head::{AppHead, TABS, app_id, load_head};
use crate::state::AppState;
use crate::web::{Chrome, Nav, Query, Web, WebResult, page, when, with_query};
use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::apps::{MatchSource, SeatState, Tab};
use castellan_domain::policy::Action;
use castellan_domain::words::count;

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
    /// The platform id, shown under the name when the seat has no e-mail to tell it apart.
    pub id_note: String,
    pub notes: Vec<(&'static str, String)>,
    pub automation: bool,
    /// The row's one button (as the articles show it), and the rest under *More options*.
    pub primary: Option<RowAction>,
    pub more: Vec<RowAction>,
}

/// An action on a seat: a dialog to open, or a form posted straight away.
#[derive(Debug, Clone)]
pub struct RowAction {
    pub label: &'static str,
    pub href: String,
    pub post: bool,
}

impl RowAction {
    fn dialog(label: &'static str, href: String) -> Self {
        Self {
            label,
            href,
            post: false,
        }
    }

    fn post(label: &'static str, href: String) -> Self {
        Self {
            label,
            href,
            post: true,
        }
    }
}

#[derive(Template)]
#[template(path = "web/app_members.html")]
pub struct MembersPage {
    chrome: Chrome,
    head: AppHead,
    tab: String,
    q: String,
    /// "1 seat shown", "12 seats shown".
    shown: String,
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
    // Partners' users say whose they are.
    let partner_names: std::collections::HashMap<String, String> =
        if tab == Tab::Seats(SeatState::PartnerUser) {
            s.store
                .ws(web.ws())
                .partners(id)
                .await?
                .into_iter()
                .map(|p| (p.partner_id.clone(), p.name.unwrap_or(p.partner_id)))
                .collect()
        } else {
            Default::default()
        };
    let rows: Vec<SeatRow> = seats
        .items
        .into_iter()
        .map(|seat| {
            let automation = app.automation_user_id.as_deref() == Some(seat.user_id.as_str());
            let mut notes = Vec::new();
            if automation {
                notes.push(("note-info", "Automation account".to_string()));
            }
            if seat.deprovisioned && seat.state != SeatState::Removed && seat.removed_at.is_none() {
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
            if let Some(p) = &seat.partner_id {
                let name = partner_names.get(p).cloned().unwrap_or_else(|| p.clone());
                notes.push(("note-info", format!("Partner: {name}")));
                notes.push(match &seat.guest_user {
                    Some(g) => ("note-info", format!("Guest user: {g}")),
                    None => ("note-warn", "Not a guest user of the workspace".to_string()),
                });
            } else if let Some(g) = &seat.guest_user {
                // A seat invited as a guest user.
                notes.push(("note-info", format!("Guest user: {g}")));
            }
            if let Some(r) = &seat.removed_at {
                notes.push(("note-warn", format!("Removed {}", when(r))));
            }
            let u = form_urlencoded::byte_serialize(seat.user_id.as_bytes()).collect::<String>();
            // As the articles lay rows out: the state's main action is a button, the others
            // sit under the row's More options.
            let dialog = |label, path: &str| RowAction::dialog(label, format!("{base}{u}/{path}"));
            let post = |label, path: &str| RowAction::post(label, format!("{base}{u}/{path}"));
            let actions: Vec<RowAction> = match seat.state {
                _ if !head.may_manage || automation => Vec::new(),
                SeatState::Unmatched => {
                    let mut v = vec![
                        dialog("Match user", "match"),
                        dialog("Exempt user", "exempt"),
                    ];
                    // An external person's seat: invited as a guest user, it is matched to them.
                    if seat.email.is_some() && seat.kind == castellan_domain::apps::SeatKind::Member
                    {
                        v.push(dialog("Invite as guest user", "guest"));
                    }
                    v.push(dialog("Remove user", "remove"));
                    v
                }
                SeatState::Onboarded => vec![
                    dialog("Change role", "role"),
                    post("Re-assign", "unmatch"),
                    dialog("Exempt user", "exempt"),
                    dialog("Remove user", "remove"),
                ],
                SeatState::Exempted => vec![
                    post("Unexempt user", "unexempt"),
                    dialog("Remove user", "remove"),
                ],
                SeatState::Invited => vec![dialog("Cancel invite", "remove?action=cancel_invite")],
                SeatState::PartnerUser | SeatState::Removed => Vec::new(),
            };
            let mut actions = actions.into_iter();
            let primary = actions.next();
            let more = actions.collect();
            SeatRow {
                person: seat.name(),
                id_note: if seat.email.is_none() && seat.name() != seat.user_id {
                    let id = castellan_domain::apps::split_partner_user_key(&seat.user_id)
                        .map_or(seat.user_id.as_str(), |(_, u)| u);
                    format!("ID {id}")
                } else {
                    String::new()
                },
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
                primary,
                more,
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
            shown: format!("{} shown", count(rows.len(), "seat", "seats")),
            rows,
            next,
        },
    )
}
