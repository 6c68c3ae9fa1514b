//! People of the workspace (Admin).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use castellan_domain::PersonId;
use castellan_domain::policy::Action;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Page, PageQuery, cursor, limit};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonBody {
    pub id: String,
    pub email: String,
    pub display_name: Option<String>,
    /// `owner`, `admin`, `member` or `guest`.
    pub role: String,
    pub disabled: bool,
    pub must_change_password: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<castellan_store::Person> for PersonBody {
    fn from(p: castellan_store::Person) -> Self {
        Self {
            id: p.id.to_string(),
            email: p.email,
            display_name: p.display_name,
            role: p.role.to_string(),
            disabled: p.disabled,
            must_change_password: p.must_change_password,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePersonRequest {
    #[schema(schema_with = super::schema::email)]
    pub email: String,
    #[schema(schema_with = super::schema::optional_text_256)]
    pub display_name: Option<String>,
    /// `owner`, `admin`, `member` or `guest`.
    #[schema(value_type = super::WorkspaceRoleName)]
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedPerson {
    pub person: PersonBody,
    /// A one-time password to hand over; it must be changed at first sign-in.
    pub one_time_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePersonRequest {
    #[schema(value_type = Option<super::WorkspaceRoleName>)]
    pub role: Option<String>,
    #[schema(schema_with = super::schema::optional_text_256)]
    pub display_name: Option<String>,
    pub disabled: Option<bool>,
}

/// People in the workspace.
#[utoipa::path(get, path = "/api/v1/people", tag = "people", params(PageQuery),
    responses((status = 200, body = Page<PersonBody>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_people(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<PersonBody>>> {
    let p = caller.require(Action::ReadPeople)?;
    let page = s
        .store
        .ws(p.workspace_id)
        .people(cursor(&q.cursor)?, limit(q.limit)?)
        .await?;
    Ok(Json(Page::from_store(page, Into::into)))
}

/// Add a local person with a one-time password.
#[utoipa::path(post, path = "/api/v1/people", tag = "people", request_body = CreatePersonRequest,
    responses((status = 201, body = CreatedPerson), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_person(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreatePersonRequest>,
) -> ApiResult<(StatusCode, Json<CreatedPerson>)> {
    let (person, password) = create(
        &s,
        &caller,
        &req.email,
        req.display_name.as_deref(),
        &req.role,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedPerson {
            person: person.into(),
            one_time_password: password,
        }),
    ))
}

/// Adds a person with a one-time password (returned once). Shared by the API and the web app.
pub async fn create(
    s: &AppState,
    caller: &Caller,
    email: &str,
    display_name: Option<&str>,
    role: &str,
) -> Result<(castellan_store::Person, String), ApiError> {
    let p = *caller.require(Action::ManagePeople)?;
    let (person, password) = castellan_services::people::create_person(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        p.role,
        email,
        display_name,
        role,
    )
    .await?;
    Ok((person, password))
}

/// One person.
#[utoipa::path(get, path = "/api/v1/people/{id}", tag = "people", params(("id" = String, Path, description = "person id")),
    responses((status = 200, body = PersonBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_person(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::PersonId>,
) -> ApiResult<Json<PersonBody>> {
    let p = caller.require(Action::ReadPeople)?;
    Ok(Json(s.store.ws(p.workspace_id).person(id).await?.into()))
}

/// Change a person's role, name, or disable them (disabling ends their sessions).
#[utoipa::path(patch, path = "/api/v1/people/{id}", tag = "people", params(("id" = String, Path, description = "person id")), request_body = UpdatePersonRequest,
    responses((status = 200, body = PersonBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update_person(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::PersonId>,
    ApiJson(req): ApiJson<UpdatePersonRequest>,
) -> ApiResult<Json<PersonBody>> {
    Ok(Json(
        update(
            &s,
            &caller,
            id,
            req.role.as_deref(),
            req.display_name.as_deref(),
            req.disabled,
        )
        .await?
        .into(),
    ))
}

/// Changes a person's role, name or disabled flag, as the caller's own role allows. Shared by
/// the API and the web app.
pub async fn update(
    s: &AppState,
    caller: &Caller,
    id: PersonId,
    role: Option<&str>,
    display_name: Option<&str>,
    disabled: Option<bool>,
) -> Result<castellan_store::Person, ApiError> {
    let p = *caller.require(Action::ManagePeople)?;
    Ok(castellan_services::people::update_person(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        p.role,
        id,
        role,
        display_name,
        disabled,
    )
    .await?)
}
