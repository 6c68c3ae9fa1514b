//! App details → Partners: the platform's business partners (Pinterest Business Partners,
//! TikTok Business Partners), which way assets go, the assets each way with the partner's
//! permissions, and whether the partner can be connected.

use super::head::{AppHead, app_id, load_head};
use crate::state::AppState;
use crate::web::{Chrome, Nav, Web, WebResult, page};
use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::apps::Platform;
use castellan_domain::policy::Action;
use castellan_domain::words::count;

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
                // Connecting a partner (a monitor account or the consent page) comes next;
                // until then an eligible partner awaits onboarding.
                status: if eligible {
                    "Pending onboarding"
                } else {
                    "Not eligible"
                },
                status_class: if eligible {
                    "status-warn"
                } else {
                    "status-info"
                },
                status_icon: if eligible { "…" } else { "–" },
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
