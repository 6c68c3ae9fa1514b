//! Directory: people (identities) with their status and seats, groups, deactivate and
//! reactivate, and CSV import with a table of each bad row's error.

use askama::Template;
use axum::extract::{Multipart, Path, State};
use castellan_domain::IdentityId;
use castellan_domain::policy::Action;
use castellan_domain::words::count;
use castellan_store::IdentityFilter;

use super::{Chrome, Flash, Nav, Query, Web, WebError, WebResult, done, invalid, page, with_query};
use crate::state::AppState;

pub struct IdentityRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub user_name: String,
    pub department: String,
    pub groups: String,
    pub active: bool,
    pub source: String,
}

#[derive(Template)]
#[template(path = "web/directory.html")]
pub struct DirectoryPage {
    chrome: Chrome,
    rows: Vec<IdentityRow>,
    groups: Vec<(String, usize)>,
    q: String,
    status: String,
    next: Option<String>,
    may_write: bool,
    /// Admins also manage guest users (a tab of the Directory).
    may_see_guests: bool,
}

pub async fn list(State(s): State<AppState>, web: Web, Query(q): Query) -> WebResult {
    web.require(Action::ReadDirectory)?;
    let scoped = s.store.ws(web.ws());
    let filter = IdentityFilter {
        query: Some(q.get("q").trim().to_string()).filter(|x| !x.is_empty()),
        active: match q.get("status") {
            "active" => Some(true),
            "deactivated" => Some(false),
            _ => None,
        },
    };
    let people = scoped
        .identities(&filter, q.get("cursor").parse().ok(), 50)
        .await?;
    let groups = scoped
        .groups(None, 100)
        .await?
        .items
        .into_iter()
        .map(|g| (g.display_name, g.member_ids.len()))
        .collect();
    let next = people.next_cursor.as_ref().map(|c| {
        with_query(
            "/directory",
            &[
                ("q", q.get("q")),
                ("status", q.get("status")),
                ("cursor", c),
            ],
        )
    });
    let rows = people
        .items
        .into_iter()
        .map(|i| IdentityRow {
            id: i.id.to_string(),
            name: i
                .display_name
                .clone()
                .unwrap_or_else(|| {
                    format!(
                        "{} {}",
                        i.given_name.clone().unwrap_or_default(),
                        i.family_name.clone().unwrap_or_default()
                    )
                })
                .trim()
                .to_string(),
            email: i.primary_email,
            user_name: i.user_name,
            department: i.department.unwrap_or_default(),
            groups: i
                .groups
                .iter()
                .map(|g| g.display_name.clone())
                .collect::<Vec<_>>()
                .join(", "),
            active: i.active,
            source: i.source,
        })
        .collect();
    page(
        &web,
        &DirectoryPage {
            chrome: web.chrome(Nav::Directory, "Directory"),
            rows,
            groups,
            q: q.get("q").to_string(),
            status: q.get("status").to_string(),
            next,
            may_write: web.require(Action::WriteDirectory).is_ok(),
            may_see_guests: web.require(Action::ReadPeople).is_ok(),
        },
    )
}

async fn set_active(s: &AppState, web: &Web, id: &str, active: bool) -> WebResult {
    web.require(Action::WriteDirectory)?;
    let id: IdentityId = id
        .parse()
        .map_err(|_| WebError::NotFound("This person is not in your directory.".into()))?;
    let i = castellan_services::directory::set_identity_active(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        id,
        active,
    )
    .await
    .map_err(crate::error::ApiError::from)?;
    Ok(done(
        web,
        "/directory",
        Flash::success(if active {
            format!("{} was reactivated.", i.primary_email)
        } else {
            format!(
                "{} was deactivated. The next check for updates lists their seats for removal.",
                i.primary_email
            )
        }),
    ))
}

#[derive(Template)]
#[template(path = "web/deactivate.html", blocks = ["dialog"])]
pub struct DeactivatePage {
    chrome: Chrome,
    standalone: bool,
    id: String,
    name: String,
    email: String,
}

/// Deactivate asks first: it is the leaver signal every app's next check acts on.
pub async fn deactivate_page(
    State(s): State<AppState>,
    web: Web,
    Path(id): Path<String>,
) -> WebResult {
    web.require(Action::WriteDirectory)?;
    let iid: IdentityId = id
        .parse()
        .map_err(|_| WebError::NotFound("No such person in the directory.".into()))?;
    let i = s.store.ws(web.ws()).identity(iid).await?;
    let view = DeactivatePage {
        chrome: web.chrome(Nav::Directory, "Deactivate"),
        standalone: !web.htmx,
        id: i.id.to_string(),
        name: i
            .display_name
            .clone()
            .unwrap_or_else(|| i.user_name.clone()),
        email: i.primary_email,
    };
    if web.htmx {
        page(&web, &view.as_dialog())
    } else {
        page(&web, &view)
    }
}

pub async fn deactivate(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    set_active(&s, &web, &id, false).await
}

pub async fn reactivate(State(s): State<AppState>, web: Web, Path(id): Path<String>) -> WebResult {
    set_active(&s, &web, &id, true).await
}

pub struct RowErrorView {
    pub line: u64,
    pub field: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "web/import.html")]
pub struct ImportPage {
    chrome: Chrome,
    errors: Vec<RowErrorView>,
    problem: Option<String>,
}

pub async fn import_page(web: Web) -> WebResult {
    web.require(Action::WriteDirectory)?;
    page(
        &web,
        &ImportPage {
            chrome: web.chrome(Nav::Directory, "Import people"),
            errors: Vec::new(),
            problem: None,
        },
    )
}

pub async fn import_submit(State(s): State<AppState>, web: Web, mut mp: Multipart) -> WebResult {
    web.require(Action::WriteDirectory)?;
    let mut data = Vec::new();
    let mut skip_invalid = false;
    while let Some(field) = mp
        .next_field()
        .await
        .map_err(|e| WebError::Internal(e.to_string()))?
    {
        match field.name() {
            Some("file") => {
                data = field
                    .bytes()
                    .await
                    .map_err(|e| WebError::Internal(e.to_string()))?
                    .to_vec()
            }
            Some("skip_invalid") => skip_invalid = true,
            _ => {}
        }
    }
    let mut view = ImportPage {
        chrome: web.chrome(Nav::Directory, "Import people"),
        errors: Vec::new(),
        problem: None,
    };
    if data.is_empty() {
        view.problem = Some("Choose a CSV file to import.".into());
        return invalid(&web, &view);
    }
    let out = castellan_services::directory::import_csv(
        &s.store,
        web.ws(),
        &web.caller.actor(),
        &data,
        "web upload",
        skip_invalid,
        false,
    )
    .await?;
    view.errors = out
        .errors
        .iter()
        .map(|e| RowErrorView {
            line: e.line,
            field: e.field.clone(),
            message: e.message.clone(),
        })
        .collect();
    if out.refused {
        view.problem = Some(format!(
            "{} of {} have errors; nothing was imported. Fix them, or import only the valid rows.",
            count(view.errors.len(), "row", "rows"),
            out.rows
        ));
        return invalid(&web, &view);
    }
    let w = out.written.unwrap_or_default();
    Ok(done(
        &web,
        "/directory",
        Flash::success(format!(
            "Imported {} rows: {} created, {} updated, {} unchanged, {} deactivated{}.",
            out.valid_rows,
            w.created,
            w.updated,
            w.unchanged,
            w.deactivated,
            if view.errors.is_empty() {
                String::new()
            } else {
                format!("; {} bad rows skipped", view.errors.len())
            }
        )),
    ))
}
