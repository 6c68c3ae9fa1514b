//! All accounts: the account cards (automation accounts' and people's), with their status.
//! Connecting one's own account and sharing come with people's accounts.

use askama::Template;
use axum::extract::State;
use castellan_domain::apps::CardStatus;
use castellan_domain::policy::Action;

use super::apps::platform_letter;
use super::{Chrome, Nav, Query, Web, WebResult, page, with_query};
use crate::state::AppState;

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

#[derive(Template)]
#[template(path = "web/accounts.html")]
pub struct AccountsPage {
    chrome: Chrome,
    cards: Vec<CardView>,
    may_read_all: bool,
    next: Option<String>,
}

/// Everyone reaches the page; until accounts can be shared with people, only Admins and
/// Owners (who may read every card) see cards on it.
pub async fn list(State(s): State<AppState>, web: Web, Query(q): Query) -> WebResult {
    let may_read_all = web.require(Action::ReadAccounts).is_ok();
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
            };
            cards.push(CardView {
                label: c.label,
                letter: platform_letter(c.platform),
                platform: super::apps::platform_name(c.platform),
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
                role: c
                    .app_role
                    .map(|r| match r {
                        castellan_domain::apps::AppRole::Owner => "Owner".to_string(),
                        castellan_domain::apps::AppRole::Collaborator => "Collaborator".to_string(),
                    })
                    .unwrap_or_default(),
            });
        }
    }
    page(
        &web,
        &AccountsPage {
            chrome: web.chrome(Nav::Accounts, "All accounts"),
            cards,
            may_read_all,
            next,
        },
    )
}
