//! App details → Assets: the app's assets with who holds each and with which permissions.

use super::head::{AppHead, app_id, load_head};
use crate::state::AppState;
use crate::web::{Chrome, Nav, Query, Web, WebResult, page, with_query};
use askama::Template;
use axum::extract::{Path, State};
use castellan_domain::policy::Action;
use castellan_domain::words::count;

pub struct AssetRow {
    pub asset_id: String,
    pub kind: String,
    pub name: String,
    pub holders_total: i64,
    /// "12 holders": a long list is collapsed behind it.
    pub holders_count: String,
    pub holders: Vec<(String, String)>,
    /// "Holders as read on …" when a check before the last one read them.
    pub age: String,
}

#[derive(Template)]
#[template(path = "web/app_assets.html")]
pub struct AssetsPage {
    chrome: Chrome,
    head: AppHead,
    rows: Vec<AssetRow>,
    kind: String,
    next: Option<String>,
}

pub async fn assets(
    State(s): State<AppState>,
    web: Web,
    Path(id): Path<String>,
    Query(q): Query,
) -> WebResult {
    web.require(Action::ReadApps)?;
    let id = app_id(&id)?;
    let (_, head) = load_head(&s, &web, id, None, "assets").await?;
    let kind = q.get("kind").trim().to_string();
    let page_ = s
        .store
        .ws(web.ws())
        .assets_with_holders(
            id,
            Some(kind.as_str()).filter(|k| !k.is_empty()),
            Some(q.get("cursor")).filter(|c| !c.is_empty()),
            50,
            20,
        )
        .await?;
    let rows = page_
        .items
        .into_iter()
        .map(|a| AssetRow {
            asset_id: a.asset_id,
            kind: a.kind,
            name: a.name.unwrap_or_default(),
            holders_count: count(
                a.holders_total.max(a.holders.len() as i64),
                "holder",
                "holders",
            ),
            holders_total: a.holders_total,
            age: a
                .holders_as_of
                .map(|t| format!("Holders as read on {}", crate::web::when(&t)))
                .unwrap_or_default(),
            holders: a
                .holders
                .into_iter()
                .map(|h| {
                    let who = match h.holder.split_once(':') {
                        Some(("partner", b)) => {
                            format!("Partner {}", h.label.unwrap_or_else(|| b.to_string()))
                        }
                        Some((_, u)) => h.label.unwrap_or_else(|| u.to_string()),
                        None => h.holder,
                    };
                    (who, h.permissions.join(", "))
                })
                .collect(),
        })
        .collect();
    let next = page_.next_cursor.map(|c| {
        with_query(
            &format!("/apps/{id}/assets"),
            &[("kind", &kind), ("cursor", &c)],
        )
    });
    page(
        &web,
        &AssetsPage {
            chrome: web.chrome(Nav::Apps, format!("{} · Assets", head.label)),
            head,
            rows,
            kind,
            next,
        },
    )
}
