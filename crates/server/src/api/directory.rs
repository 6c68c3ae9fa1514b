//! Directory identities, groups and CSV import.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use castellan_domain::IdentityId;
use castellan_domain::directory::{IdentityInput, JSON_FIELDS, RawIdentity};
use castellan_domain::policy::Action;
use castellan_store::IdentityFilter;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Page, cursor, limit};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, RowErrorBody};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupRefBody {
    pub id: String,
    pub display_name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityBody {
    pub id: String,
    pub user_name: String,
    pub primary_email: String,
    pub other_emails: Vec<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub display_name: Option<String>,
    pub active: bool,
    /// When the identity was deactivated (the leaver signal).
    pub deactivated_at: Option<chrono::DateTime<chrono::Utc>>,
    pub external_id: Option<String>,
    pub department: Option<String>,
    pub manager: Option<String>,
    /// `api`, `csv` or `scim`.
    pub source: String,
    pub groups: Vec<GroupRefBody>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<castellan_store::Identity> for IdentityBody {
    fn from(i: castellan_store::Identity) -> Self {
        Self {
            id: i.id.to_string(),
            user_name: i.user_name,
            primary_email: i.primary_email,
            other_emails: i.other_emails,
            given_name: i.given_name,
            family_name: i.family_name,
            display_name: i.display_name,
            active: i.active,
            deactivated_at: i.deactivated_at,
            external_id: i.external_id,
            department: i.department,
            manager: i.manager,
            source: i.source,
            groups: i
                .groups
                .into_iter()
                .map(|g| GroupRefBody {
                    id: g.id.to_string(),
                    display_name: g.display_name,
                })
                .collect(),
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

/// An identity as sent by a client (create, or full replace).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityRequest {
    #[schema(schema_with = super::schema::text_256)]
    pub user_name: String,
    #[schema(schema_with = super::schema::email)]
    pub primary_email: String,
    #[serde(default)]
    #[schema(schema_with = super::schema::email_list)]
    pub other_emails: Vec<String>,
    #[schema(schema_with = super::schema::optional_text_256)]
    pub given_name: Option<String>,
    #[schema(schema_with = super::schema::optional_text_256)]
    pub family_name: Option<String>,
    #[schema(schema_with = super::schema::optional_text_256)]
    pub display_name: Option<String>,
    /// Default true.
    pub active: Option<bool>,
    #[schema(schema_with = super::schema::optional_text_256)]
    pub external_id: Option<String>,
    #[schema(schema_with = super::schema::optional_text_256)]
    pub department: Option<String>,
    #[schema(schema_with = super::schema::optional_text_256)]
    pub manager: Option<String>,
}

impl IdentityRequest {
    fn validate(&self) -> Result<IdentityInput, ApiError> {
        let s = |o: &Option<String>| o.clone().unwrap_or_default();
        let (g, f, d, e, dep, m) = (
            s(&self.given_name),
            s(&self.family_name),
            s(&self.display_name),
            s(&self.external_id),
            s(&self.department),
            s(&self.manager),
        );
        let raw = RawIdentity {
            user_name: &self.user_name,
            primary_email: &self.primary_email,
            other_emails: self.other_emails.iter().map(String::as_str).collect(),
            given_name: &g,
            family_name: &f,
            display_name: &d,
            active: self.active.unwrap_or(true),
            external_id: &e,
            department: &dep,
            manager: &m,
        };
        Ok(IdentityInput::validate(&raw, &JSON_FIELDS)?)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IdentityQuery {
    /// Case-insensitive search in userName, e-mail and names.
    pub q: Option<String>,
    pub active: Option<bool>,
    #[param(
        pattern = r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})?$"
    )]
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Directory identities.
#[utoipa::path(get, path = "/api/v1/directory/identities", tag = "directory", params(IdentityQuery),
    responses((status = 200, body = Page<IdentityBody>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_identities(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<IdentityQuery>,
) -> ApiResult<Json<Page<IdentityBody>>> {
    let p = caller.require(Action::ReadDirectory)?;
    let filter = IdentityFilter {
        query: q.q.filter(|s| !s.trim().is_empty()),
        active: q.active,
    };
    let page = s
        .store
        .ws(p.workspace_id)
        .identities(&filter, cursor(&q.cursor)?, limit(q.limit)?)
        .await?;
    Ok(Json(Page::from_store(page, Into::into)))
}

/// Create an identity.
#[utoipa::path(post, path = "/api/v1/directory/identities", tag = "directory", request_body = IdentityRequest,
    responses((status = 201, body = IdentityBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_identity(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<IdentityRequest>,
) -> ApiResult<(StatusCode, Json<IdentityBody>)> {
    let p = *caller.require(Action::WriteDirectory)?;
    let input = req.validate()?;
    let i = castellan_services::directory::create_identity(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        &input,
        "api",
    )
    .await?;
    Ok((StatusCode::CREATED, Json(i.into())))
}

/// One identity.
#[utoipa::path(get, path = "/api/v1/directory/identities/{id}", tag = "directory", params(("id" = String, Path, description = "identity id")),
    responses((status = 200, body = IdentityBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_identity(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::IdentityId>,
) -> ApiResult<Json<IdentityBody>> {
    let p = caller.require(Action::ReadDirectory)?;
    Ok(Json(s.store.ws(p.workspace_id).identity(id).await?.into()))
}

/// Replace an identity (every field). Setting `active` to false deactivates it.
#[utoipa::path(put, path = "/api/v1/directory/identities/{id}", tag = "directory", params(("id" = String, Path, description = "identity id")), request_body = IdentityRequest,
    responses((status = 200, body = IdentityBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn replace_identity(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::IdentityId>,
    ApiJson(req): ApiJson<IdentityRequest>,
) -> ApiResult<Json<IdentityBody>> {
    let p = *caller.require(Action::WriteDirectory)?;
    let input = req.validate()?;
    Ok(Json(
        castellan_services::directory::replace_identity(
            &s.services,
            p.workspace_id,
            &caller.actor(),
            id,
            &input,
        )
        .await?
        .into(),
    ))
}

/// Deactivate an identity (the leaver signal); its time is recorded.
#[utoipa::path(post, path = "/api/v1/directory/identities/{id}/deactivate", tag = "directory", params(("id" = String, Path, description = "identity id")),
    responses((status = 200, body = IdentityBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn deactivate_identity(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::IdentityId>,
) -> ApiResult<Json<IdentityBody>> {
    let p = *caller.require(Action::WriteDirectory)?;
    Ok(Json(
        castellan_services::directory::set_identity_active(
            &s.services,
            p.workspace_id,
            &caller.actor(),
            id,
            false,
        )
        .await?
        .into(),
    ))
}

/// Reactivate an identity.
#[utoipa::path(post, path = "/api/v1/directory/identities/{id}/reactivate", tag = "directory", params(("id" = String, Path, description = "identity id")),
    responses((status = 200, body = IdentityBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reactivate_identity(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::IdentityId>,
) -> ApiResult<Json<IdentityBody>> {
    let p = *caller.require(Action::WriteDirectory)?;
    Ok(Json(
        castellan_services::directory::set_identity_active(
            &s.services,
            p.workspace_id,
            &caller.actor(),
            id,
            true,
        )
        .await?
        .into(),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Import the valid rows even when some are bad (they are still reported).
    #[serde(default)]
    pub skip_invalid: bool,
    /// Validate and report only; write nothing.
    #[serde(default)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportResponse {
    pub rows: u64,
    pub valid_rows: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub deactivated: u64,
    pub groups_created: u64,
    pub dry_run: bool,
    /// Rows that were not imported, with line number (the header is line 1) and column.
    pub errors: Vec<RowErrorBody>,
}

/// The raw body of an import (CSV text, up to the import size limit).
pub struct CsvBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for CsvBody {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let ct = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        if !(ct.starts_with("text/csv")
            || ct.starts_with("text/plain")
            || ct.starts_with("application/octet-stream"))
        {
            return Err(ApiError::UnsupportedMediaType(
                "send the file as text/csv".into(),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge {
                    limit: crate::IMPORT_BODY_LIMIT,
                }
            } else {
                ApiError::invalid("body", e.body_text())
            }
        })?;
        Ok(CsvBody(bytes))
    }
}

/// Import identities from CSV (columns: userName, email, otherEmails, givenName, familyName,
/// displayName, active, externalId, department, manager, groups). Every row is validated
/// first; a file with any bad row changes nothing unless `skip_invalid=true`.
#[utoipa::path(post, path = "/api/v1/directory/import", tag = "directory", params(ImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)))]
pub async fn import(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ImportQuery>,
    CsvBody(body): CsvBody,
) -> ApiResult<Json<ImportResponse>> {
    let p = *caller.require(Action::WriteDirectory)?;
    let out = castellan_services::directory::import_csv(
        &s.store,
        p.workspace_id,
        &caller.actor(),
        &body,
        "api upload",
        q.skip_invalid,
        q.dry_run,
    )
    .await?;
    let errors: Vec<RowErrorBody> = out
        .errors
        .iter()
        .map(|e| RowErrorBody {
            line: e.line,
            field: e.field.clone(),
            message: e.message.clone(),
        })
        .collect();
    if out.refused {
        return Err(ApiError::InvalidRows(errors));
    }
    let w = out.written.unwrap_or_default();
    let resp = ImportResponse {
        rows: out.rows,
        valid_rows: out.valid_rows,
        created: w.created,
        updated: w.updated,
        unchanged: w.unchanged,
        deactivated: w.deactivated,
        groups_created: w.groups_created,
        dry_run: q.dry_run,
        errors,
    };
    Ok(Json(resp))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupBody {
    pub id: String,
    pub display_name: String,
    pub external_id: Option<String>,
    pub member_ids: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<castellan_store::Group> for GroupBody {
    fn from(g: castellan_store::Group) -> Self {
        Self {
            id: g.id.to_string(),
            display_name: g.display_name,
            external_id: g.external_id,
            member_ids: g.member_ids.iter().map(ToString::to_string).collect(),
            created_at: g.created_at,
            updated_at: g.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroupRequest {
    #[schema(schema_with = super::schema::text_256)]
    pub display_name: String,
    pub external_id: Option<String>,
    #[serde(default)]
    #[schema(schema_with = super::schema::uuid_list)]
    pub member_ids: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateGroupRequest {
    #[schema(schema_with = super::schema::optional_required_text_256)]
    pub display_name: Option<String>,
    /// Replaces the members.
    #[schema(schema_with = super::schema::optional_uuid_list)]
    pub member_ids: Option<Vec<String>>,
}

fn member_ids(raw: &[String]) -> Result<Vec<IdentityId>, ApiError> {
    raw.iter()
        .map(|m| {
            m.parse().map_err(|_| {
                ApiError::invalid("member_ids", format!("{m:?} is not an identity id"))
            })
        })
        .collect()
}

/// Directory groups.
#[utoipa::path(get, path = "/api/v1/directory/groups", tag = "directory", params(super::PageQuery),
    responses((status = 200, body = Page<GroupBody>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_groups(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<super::PageQuery>,
) -> ApiResult<Json<Page<GroupBody>>> {
    let p = caller.require(Action::ReadDirectory)?;
    let page = s
        .store
        .ws(p.workspace_id)
        .groups(cursor(&q.cursor)?, limit(q.limit)?)
        .await?;
    Ok(Json(Page::from_store(page, Into::into)))
}

/// Create a group.
#[utoipa::path(post, path = "/api/v1/directory/groups", tag = "directory", request_body = CreateGroupRequest,
    responses((status = 201, body = GroupBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_group(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateGroupRequest>,
) -> ApiResult<(StatusCode, Json<GroupBody>)> {
    let p = *caller.require(Action::WriteDirectory)?;
    let members = member_ids(&req.member_ids)?;
    let g = castellan_services::directory::create_group(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        &req.display_name,
        req.external_id.as_deref(),
        &members,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(g.into())))
}

/// One group.
#[utoipa::path(get, path = "/api/v1/directory/groups/{id}", tag = "directory", params(("id" = String, Path, description = "group id")),
    responses((status = 200, body = GroupBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_group(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::GroupId>,
) -> ApiResult<Json<GroupBody>> {
    let p = caller.require(Action::ReadDirectory)?;
    Ok(Json(s.store.ws(p.workspace_id).group(id).await?.into()))
}

/// Rename a group or replace its members.
#[utoipa::path(patch, path = "/api/v1/directory/groups/{id}", tag = "directory", params(("id" = String, Path, description = "group id")), request_body = UpdateGroupRequest,
    responses((status = 200, body = GroupBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_group(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::GroupId>,
    ApiJson(req): ApiJson<UpdateGroupRequest>,
) -> ApiResult<Json<GroupBody>> {
    let p = *caller.require(Action::WriteDirectory)?;
    let members = req.member_ids.as_deref().map(member_ids).transpose()?;
    Ok(Json(
        castellan_services::directory::update_group(
            &s.services,
            p.workspace_id,
            &caller.actor(),
            id,
            req.display_name.as_deref(),
            members.as_deref(),
        )
        .await?
        .into(),
    ))
}

/// Delete a group (its members stay).
#[utoipa::path(delete, path = "/api/v1/directory/groups/{id}", tag = "directory", params(("id" = String, Path, description = "group id")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_group(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::GroupId>,
) -> ApiResult<StatusCode> {
    let p = *caller.require(Action::WriteDirectory)?;
    castellan_services::directory::delete_group(&s.services, p.workspace_id, &caller.actor(), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
