//! Sharing an account card: the Share dialog (people, directory groups, local partners, as
//! Owner or Collaborator), and ending a share. Split from `accounts.rs`, which lists the cards.

use askama::Template;
use axum::extract::State;

use super::accounts::{card_id, holder, my_card, role_word};
use super::{Chrome, Nav, Web, WebResult, page};
use crate::state::AppState;

pub struct ShareRow {
    pub id: String,
    pub with: String,
    pub role: &'static str,
}

#[derive(Template)]
#[template(path = "web/share.html", blocks = ["dialog"])]
pub struct SharePage {
    chrome: Chrome,
    standalone: bool,
    id: String,
    label: String,
    shares: Vec<ShareRow>,
    people: Vec<(String, String)>,
    groups: Vec<(String, String)>,
    /// Local partners (every guest of one holds the account).
    partners: Vec<(String, String)>,
    errors: super::Errors,
}

async fn share_view(
    s: &AppState,
    web: &Web,
    id: castellan_domain::CardId,
    errors: super::Errors,
) -> Result<SharePage, super::WebError> {
    let c = my_card(s, web, id).await?;
    let shares =
        castellan_services::accounts::account_shares(&s.services, web.ws(), &holder(web), id)
            .await
            .map_err(|e| super::WebError::from(crate::error::ApiError::from(e)))?
            .into_iter()
            .map(|sh| ShareRow {
                id: sh.id.to_string(),
                with: match sh.to {
                    castellan_store::ShareTarget::Group(_) => format!("Group {}", sh.with),
                    castellan_store::ShareTarget::Partner(_) => format!("Partner {}", sh.with),
                    castellan_store::ShareTarget::Person(_) => sh.with,
                },
                role: role_word(sh.role),
            })
            .collect();
    let scoped = s.store.ws(web.ws());
    // A guest is offered the workspace's own people and the guests of their own partners,
    // never another partner's guests.
    let guest = web.p().role == castellan_domain::workspace::WorkspaceRole::Guest;
    let mut partner_people = std::collections::HashSet::new();
    if guest {
        for (partner, role) in scoped.partner_roles(web.p().person_id).await? {
            if role.is_guest() {
                for p in scoped.partner_people(partner).await? {
                    partner_people.insert(p.person_id);
                }
            }
        }
    }
    let people = scoped
        .people(None, 500)
        .await?
        .items
        .into_iter()
        .filter(|p| p.id != web.p().person_id && !p.disabled)
        .filter(|p| {
            !guest
                || p.role >= castellan_domain::workspace::WorkspaceRole::Member
                || partner_people.contains(&p.id)
        })
        .map(|p| (p.id.to_string(), p.email))
        .collect();
    let groups = scoped
        .groups(None, 500)
        .await?
        .items
        .into_iter()
        .map(|g| (g.id.to_string(), g.display_name))
        .collect();
    // Partners are offered to people of the workspace; a guest shares with persons only.
    let partners = if web.p().role >= castellan_domain::workspace::WorkspaceRole::Member {
        scoped.local_partners().await?
    } else {
        Vec::new()
    };
    let partners = partners
        .into_iter()
        .filter(|p| p.ended_at.is_none())
        .map(|p| (p.id.to_string(), p.name))
        .collect();
    Ok(SharePage {
        chrome: web.chrome(Nav::Accounts, format!("Share {}", c.label)),
        standalone: !web.htmx,
        id: id.to_string(),
        label: c.label,
        shares,
        people,
        groups,
        partners,
        errors,
    })
}

/// The share dialog: who has the account, and sharing it with a person or a group.
pub async fn share_page(
    State(s): State<AppState>,
    web: Web,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> WebResult {
    let id = card_id(&id)?;
    let view = share_view(&s, &web, id, super::Errors::default()).await?;
    if web.htmx {
        page(&web, &view.as_dialog())
    } else {
        page(&web, &view)
    }
}

pub async fn share_submit(
    State(s): State<AppState>,
    web: Web,
    axum::extract::Path(id): axum::extract::Path<String>,
    form: super::Form,
) -> WebResult {
    let id = card_id(&id)?;
    let result = async {
        let role = castellan_domain::apps::AppRole::parse("role", form.get("role"))?;
        let target = form.get("with");
        let to = if let Some(p) = target.strip_prefix("person:") {
            castellan_store::ShareTarget::Person(p.parse().map_err(|_| {
                crate::error::ApiError::invalid("with", "choose a person or a group")
            })?)
        } else if let Some(g) = target.strip_prefix("group:") {
            castellan_store::ShareTarget::Group(g.parse().map_err(|_| {
                crate::error::ApiError::invalid("with", "choose a person or a group")
            })?)
        } else if let Some(l) = target.strip_prefix("partner:") {
            castellan_store::ShareTarget::Partner(l.parse().map_err(|_| {
                crate::error::ApiError::invalid("with", "choose a person or a group")
            })?)
        } else {
            return Err(crate::error::ApiError::invalid(
                "with",
                "choose a person or a group",
            ));
        };
        castellan_services::accounts::share_account(
            &s.services,
            web.ws(),
            &web.caller.actor(),
            &holder(&web),
            id,
            to,
            role,
        )
        .await
        .map_err(crate::error::ApiError::from)
    }
    .await;
    match result {
        Ok(sh) => Ok(super::done(
            &web,
            "/accounts",
            super::Flash::success(format!(
                "Shared with {} as {}.",
                sh.with,
                role_word(sh.role)
            )),
        )),
        Err(e) => {
            let errors = super::Errors::from_api(e, &["with", "role"])?;
            let mut view = share_view(&s, &web, id, errors).await?;
            view.standalone = true;
            super::invalid(&web, &view)
        }
    }
}

pub async fn unshare_submit(
    State(s): State<AppState>,
    web: Web,
    axum::extract::Path((id, share)): axum::extract::Path<(String, String)>,
) -> WebResult {
    let id = card_id(&id)?;
    let share: castellan_domain::ShareId = share
        .parse()
        .map_err(|_| super::WebError::NotFound("This share does not exist.".into()))?;
    castellan_services::accounts::unshare_account(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        &holder(&web),
        id,
        share,
    )
    .await
    .map_err(|e| super::WebError::from(crate::error::ApiError::from(e)))?;
    Ok(super::done(
        &web,
        "/accounts",
        super::Flash::success("The account is no longer shared with them."),
    ))
}
