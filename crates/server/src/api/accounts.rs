//! Automation accounts (the dedicated platform users Castellan acts as) and account cards.
//! Secrets go into the vault on the way in and never come back out, except through the
//! audited reveal.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use castellan_domain::apps::Platform;
use castellan_domain::policy::Action;
use castellan_store::{AccountCard, AutomationAccount};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Page, PageQuery, cursor, limit};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, PathId};
use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct CardBody {
    pub id: String,
    pub label: String,
    pub platform: String,
    #[schema(value_type = super::CardStatusName)]
    pub status: String,
    pub automation_account_id: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// A person's card on an app (from *Match and invite*): the app, the person, and their
    /// role there (`owner` or `collaborator`).
    pub app_id: Option<String>,
    pub identity_id: Option<String>,
    #[schema(value_type = Option<super::AppRoleName>)]
    pub app_role: Option<String>,
}

impl From<AccountCard> for CardBody {
    fn from(c: AccountCard) -> Self {
        Self {
            id: c.id.to_string(),
            label: c.label,
            platform: c.platform.to_string(),
            status: c.status.as_str().into(),
            automation_account_id: c.automation_account_id.map(|a| a.to_string()),
            created_at: c.created_at,
            app_id: c.app_id.map(|a| a.to_string()),
            identity_id: c.identity_id.map(|i| i.to_string()),
            app_role: c.app_role.map(|r| r.as_str().to_string()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AutomationAccountBody {
    pub id: String,
    /// `pinterest` or `tiktok`.
    pub platform: String,
    pub label: String,
    pub email: String,
    pub phone: Option<String>,
    pub token_scopes: Option<String>,
    pub token_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Which secrets the vault holds (`password`, `access_token`, `refresh_token`); never their values.
    pub secrets: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<AutomationAccount> for AutomationAccountBody {
    fn from(a: AutomationAccount) -> Self {
        Self {
            id: a.id.to_string(),
            platform: a.platform.to_string(),
            label: a.label,
            email: a.email,
            phone: a.phone,
            token_scopes: a.token_scopes,
            token_expires_at: a.token_expires_at,
            secrets: a.secrets,
            created_at: a.created_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAutomationAccountRequest {
    /// `pinterest` or `tiktok`.
    #[schema(value_type = super::PlatformName)]
    pub platform: String,
    /// Account label in Castellan.
    #[schema(schema_with = super::schema::text_100)]
    pub label: String,
    /// E-mail linked to the platform account.
    #[schema(schema_with = super::schema::email)]
    pub email: String,
    /// Current password of the platform account.
    #[schema(schema_with = super::schema::secret_1024)]
    pub password: String,
    /// Phone number linked to the account.
    #[schema(schema_with = super::schema::optional_phone)]
    pub phone: Option<String>,
    /// A platform API token, when pasted instead of obtained through OAuth.
    #[schema(schema_with = super::schema::optional_secret_8192)]
    pub access_token: Option<String>,
    #[schema(schema_with = super::schema::optional_secret_8192)]
    pub refresh_token: Option<String>,
    pub token_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub token_scopes: Option<String>,
}

// Request bodies hold secrets: their Debug must not print them.
impl std::fmt::Debug for CreateAutomationAccountRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateAutomationAccountRequest")
            .field("platform", &self.platform)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAutomationAccount {
    pub account: AutomationAccountBody,
    /// The account card created with it ("Connect your account").
    pub card: CardBody,
}

/// Automation accounts of the workspace.
#[utoipa::path(get, path = "/api/v1/automation-accounts", tag = "accounts", params(PageQuery),
    responses((status = 200, body = Page<AutomationAccountBody>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_automation_accounts(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<AutomationAccountBody>>> {
    let p = caller.require(Action::ReadAutomationAccounts)?;
    let page = s
        .store
        .ws(p.workspace_id)
        .automation_accounts(cursor(&q.cursor)?, limit(q.limit)?)
        .await?;
    Ok(Json(Page::from_store(page, Into::into)))
}

/// Add an automation account (label, e-mail, password, phone, optional pasted token). Its
/// secrets are sealed in the vault; an account card with the status "Connect your account"
/// is created with it.
#[utoipa::path(post, path = "/api/v1/automation-accounts", tag = "accounts", request_body = CreateAutomationAccountRequest,
    responses((status = 201, body = CreatedAutomationAccount), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_automation_account(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateAutomationAccountRequest>,
) -> ApiResult<(StatusCode, Json<CreatedAutomationAccount>)> {
    let p = *caller.require(Action::ManageAutomationAccounts)?;
    let platform = Platform::parse("platform", &req.platform)?;
    let (account, card) = castellan_services::accounts::create_automation_account(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        platform,
        castellan_services::accounts::NewAccount {
            label: req.label.clone(),
            email: req.email.clone(),
            phone: req.phone.clone(),
            password: req.password.clone(),
            access_token: req.access_token.clone(),
            refresh_token: req.refresh_token.clone(),
            token_scopes: req.token_scopes.clone(),
            token_expires_at: req.token_expires_at,
        },
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAutomationAccount {
            account: account.into(),
            card: card.into(),
        }),
    ))
}

/// One automation account (without its secrets).
#[utoipa::path(get, path = "/api/v1/automation-accounts/{id}", tag = "accounts", params(("id" = String, Path, description = "automation account id")),
    responses((status = 200, body = AutomationAccountBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_automation_account(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::AutomationAccountId>,
) -> ApiResult<Json<AutomationAccountBody>> {
    let p = caller.require(Action::ReadAutomationAccounts)?;
    Ok(Json(
        s.store
            .ws(p.workspace_id)
            .automation_account(id)
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevealRequest {
    /// `password`, `access_token` or `refresh_token`.
    #[schema(value_type = super::SecretName)]
    pub secret: String,
}

#[derive(Serialize, ToSchema)]
pub struct RevealResponse {
    pub secret: String,
    pub value: String,
}

/// Reveal one secret of an automation account to an Owner. Every reveal is recorded in the
/// activity log.
#[utoipa::path(post, path = "/api/v1/automation-accounts/{id}/reveal", tag = "accounts", params(("id" = String, Path, description = "automation account id")), request_body = RevealRequest,
    responses((status = 200, body = RevealResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reveal(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::AutomationAccountId>,
    ApiJson(req): ApiJson<RevealRequest>,
) -> ApiResult<Json<RevealResponse>> {
    let p = *caller.require(Action::RevealSecrets)?;
    let value = castellan_services::accounts::reveal_automation_secret(
        &s.services,
        p.workspace_id,
        &caller.actor(),
        id,
        &req.secret,
    )
    .await?;
    Ok(Json(RevealResponse {
        secret: req.secret,
        value: value.expose().to_string(),
    }))
}

/// Account cards (the All accounts view).
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", params(PageQuery),
    responses((status = 200, body = Page<CardBody>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_accounts(
    State(s): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> ApiResult<Json<Page<CardBody>>> {
    let p = caller.require(Action::ReadAccounts)?;
    let page = s
        .store
        .ws(p.workspace_id)
        .account_cards(cursor(&q.cursor)?, limit(q.limit)?)
        .await?;
    Ok(Json(Page::from_store(page, Into::into)))
}

/// The caller as the holder of their own account cards.
pub async fn holder(
    s: &AppState,
    caller: &Caller,
) -> Result<castellan_services::accounts::Holder, ApiError> {
    let p = caller.principal;
    let person = s.store.ws(p.workspace_id).person(p.person_id).await?;
    Ok(castellan_services::accounts::Holder {
        person: p.person_id,
        email: person.email,
    })
}

/// One way the caller holds a card.
#[derive(Debug, Serialize, ToSchema)]
pub struct HoldingPath {
    /// `own` (their seat's card), `person` (shared with them) or `group:<name>`.
    pub via: String,
    #[schema(value_type = super::AppRoleName)]
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HeldCardBody {
    #[serde(flatten)]
    pub card: CardBody,
    /// The caller's role on it: the highest of their paths.
    #[schema(value_type = super::AppRoleName)]
    pub my_role: String,
    pub paths: Vec<HoldingPath>,
}

/// The caller's own account cards: theirs, those of seats matched to their identity, and
/// those shared with them or their directory groups, each with their role.
#[utoipa::path(get, path = "/api/v1/me/accounts", tag = "accounts",
    responses((status = 200, body = Vec<HeldCardBody>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn my_accounts(
    State(s): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<HeldCardBody>>> {
    caller.require(Action::ReadSelf)?;
    let who = holder(&s, &caller).await?;
    Ok(Json(
        s.store
            .ws(caller.ws())
            .held_cards(who.person, &who.email)
            .await?
            .into_iter()
            .map(|h| HeldCardBody {
                my_role: h.role.as_str().into(),
                paths: h
                    .paths
                    .into_iter()
                    .map(|(via, role)| HoldingPath {
                        via,
                        role: role.as_str().into(),
                    })
                    .collect(),
                card: h.card.into(),
            })
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddAccountRequest {
    #[schema(value_type = super::PlatformName)]
    pub platform: String,
    /// What the account is, as its holder calls it.
    #[schema(schema_with = super::schema::text_200)]
    pub label: String,
}

/// Add an account by hand (yours, not tied to an app): you hold it as Owner and can connect
/// and share it. Guests may.
#[utoipa::path(post, path = "/api/v1/me/accounts", tag = "accounts", request_body = AddAccountRequest,
    responses((status = 201, body = CardBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn add_account(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<AddAccountRequest>,
) -> ApiResult<(StatusCode, Json<CardBody>)> {
    caller.require(Action::UpdateSelf)?;
    let who = holder(&s, &caller).await?;
    let card = castellan_services::accounts::add_account(
        &s.services,
        caller.ws(),
        &caller.actor(),
        &who,
        &req.platform,
        &req.label,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(card.into())))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ShareBody {
    pub id: String,
    /// The person shared with (or the group).
    pub person_id: Option<String>,
    pub group_id: Option<String>,
    /// The local partner shared with: every guest of it holds the account.
    pub partner_id: Option<String>,
    /// The person's e-mail, the group's or the partner's name.
    pub with: String,
    #[schema(value_type = super::AppRoleName)]
    pub role: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<castellan_store::Share> for ShareBody {
    fn from(s: castellan_store::Share) -> Self {
        let (person_id, group_id, partner_id) = match s.to {
            castellan_store::ShareTarget::Person(p) => (Some(p.to_string()), None, None),
            castellan_store::ShareTarget::Group(g) => (None, Some(g.to_string()), None),
            castellan_store::ShareTarget::Partner(l) => (None, None, Some(l.to_string())),
        };
        Self {
            id: s.id.to_string(),
            person_id,
            group_id,
            partner_id,
            with: s.with,
            role: s.role.as_str().into(),
            created_at: s.created_at,
        }
    }
}

/// Who a card is shared with (for its Owners).
#[utoipa::path(get, path = "/api/v1/accounts/{id}/shares", tag = "accounts", params(("id" = String, Path, description = "account card id")),
    responses((status = 200, body = Vec<ShareBody>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_shares(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::CardId>,
) -> ApiResult<Json<Vec<ShareBody>>> {
    caller.require(Action::ReadSelf)?;
    let who = holder(&s, &caller).await?;
    Ok(Json(
        castellan_services::accounts::account_shares(&s.services, caller.ws(), &who, id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    /// A person of the workspace (or give `group_id`).
    #[schema(schema_with = super::schema::optional_uuid)]
    pub person_id: Option<String>,
    /// A directory group (or give `person_id`).
    #[schema(schema_with = super::schema::optional_uuid)]
    pub group_id: Option<String>,
    /// A local partner: every guest of it holds the account (its Guest Users as Collaborator);
    /// as Owner its Guest Admins are its Managers, who share it onward within the partner only.
    #[schema(schema_with = super::schema::optional_uuid)]
    pub partner_id: Option<String>,
    #[schema(value_type = super::AppRoleName)]
    pub role: String,
}

/// Share an account you own with a person, a directory group or a local partner, as Owner
/// (shares, manages; a partner's Manager shares onward within the partner only) or
/// Collaborator (only logs in). Sharing again changes the role.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/shares", tag = "accounts", params(("id" = String, Path, description = "account card id")), request_body = ShareRequest,
    responses((status = 201, body = ShareBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "the account's state does not allow it", body = ErrorBody)))]
pub async fn share(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::CardId>,
    ApiJson(req): ApiJson<ShareRequest>,
) -> ApiResult<(StatusCode, Json<ShareBody>)> {
    caller.require(Action::UpdateSelf)?;
    let who = holder(&s, &caller).await?;
    let role = castellan_domain::apps::AppRole::parse("role", &req.role)?;
    let to = match (&req.person_id, &req.group_id, &req.partner_id) {
        (Some(p), None, None) => castellan_store::ShareTarget::Person(
            p.parse()
                .map_err(|_| ApiError::invalid("person_id", "person_id is not an id"))?,
        ),
        (None, Some(g), None) => castellan_store::ShareTarget::Group(
            g.parse()
                .map_err(|_| ApiError::invalid("group_id", "group_id is not an id"))?,
        ),
        (None, None, Some(l)) => castellan_store::ShareTarget::Partner(
            l.parse()
                .map_err(|_| ApiError::invalid("partner_id", "partner_id is not an id"))?,
        ),
        _ => {
            return Err(ApiError::invalid(
                "person_id",
                "give exactly one of person_id, group_id and partner_id",
            ));
        }
    };
    let share = castellan_services::accounts::share_account(
        &s.services,
        caller.ws(),
        &caller.actor(),
        &who,
        id,
        to,
        role,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(share.into())))
}

/// Stop sharing an account you own.
#[utoipa::path(delete, path = "/api/v1/accounts/{id}/shares/{share_id}", tag = "accounts",
    params(("id" = String, Path, description = "account card id"), ("share_id" = String, Path, description = "share")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn unshare(
    State(s): State<AppState>,
    caller: Caller,
    axum::extract::Path((id, share)): axum::extract::Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Action::UpdateSelf)?;
    let id: castellan_domain::CardId = super::parse_id("id", &id, "account card")?;
    let share: castellan_domain::ShareId = super::parse_id("share_id", &share, "share")?;
    let who = holder(&s, &caller).await?;
    castellan_services::accounts::unshare_account(
        &s.services,
        caller.ws(),
        &caller.actor(),
        &who,
        id,
        share,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectAccountRequest {
    /// The e-mail or username the account signs in with.
    #[schema(schema_with = super::schema::text_320)]
    pub login: String,
    #[schema(schema_with = super::schema::secret_1024)]
    pub password: String,
    /// An `otpauth://totp/…` URI or a base32 secret, for the account's one-time codes.
    #[schema(schema_with = super::schema::optional_totp)]
    pub totp: Option<String>,
}

/// Connect your account: save your own credentials for one of your cards (each field sealed
/// in the vault); the card becomes Connected.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/connect", tag = "accounts", params(("id" = String, Path, description = "account card id")), request_body = ConnectAccountRequest,
    responses((status = 200, body = CardBody), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "the account's state does not allow it", body = ErrorBody)))]
pub async fn connect_account(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::CardId>,
    ApiJson(req): ApiJson<ConnectAccountRequest>,
) -> ApiResult<Json<CardBody>> {
    caller.require(Action::UpdateSelf)?;
    // The document's pattern applies to the string as sent (the web form's blank field
    // means "none"; here an empty or padded string is refused as the document says).
    if let Some(t) = &req.totp {
        castellan_domain::totp::Totp::parse("totp", t)?;
    }
    let who = holder(&s, &caller).await?;
    Ok(Json(
        castellan_services::accounts::connect_account(
            &s.services,
            caller.ws(),
            &caller.actor(),
            &who,
            id,
            castellan_services::accounts::Credentials {
                login: req.login.clone(),
                password: req.password.clone(),
                totp: req.totp.clone(),
            },
        )
        .await?
        .into(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RevealedAccount {
    pub login: String,
    pub password: String,
    /// A rotation's new password, to set on the platform before an Owner confirms it.
    pub pending_password: Option<String>,
    /// The current one-time code, when a TOTP secret is saved.
    pub totp_code: Option<String>,
    /// Seconds the code stays valid.
    pub totp_seconds_left: Option<u64>,
}

/// Log in: your saved credentials and the current TOTP code, audited with who, when, the IP
/// and the user agent. Sent with `Cache-Control: no-store`.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/reveal", tag = "accounts", params(("id" = String, Path, description = "account card id")),
    responses((status = 200, body = RevealedAccount), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "the account's state does not allow it", body = ErrorBody)))]
pub async fn reveal_account(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::CardId>,
    headers: axum::http::HeaderMap,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
) -> ApiResult<axum::response::Response> {
    caller.require(Action::UpdateSelf)?;
    let who = holder(&s, &caller).await?;
    let ua = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let r = castellan_services::accounts::reveal_account(
        &s.services,
        caller.ws(),
        &caller.actor(),
        &who,
        id,
        Some(&peer.ip().to_string()),
        ua,
    )
    .await?;
    let body = RevealedAccount {
        login: r.login,
        password: r.password.expose().to_string(),
        pending_password: r.pending_password.as_ref().map(|p| p.expose().to_string()),
        totp_code: r.totp.as_ref().map(|t| t.code.clone()),
        totp_seconds_left: r.totp.as_ref().map(|t| t.seconds_left),
    };
    Ok(super::no_store(body))
}

/// An Owner confirms the platform has the account's new password: it becomes the password,
/// the earlier one stays sealed, the card is Connected again.
#[utoipa::path(post, path = "/api/v1/accounts/{id}/rotation/confirm", tag = "accounts", params(("id" = String, Path, description = "account card id")),
    responses((status = 200, body = CardBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, description = "no new password is waiting", body = ErrorBody)))]
pub async fn confirm_rotation(
    State(s): State<AppState>,
    caller: Caller,
    PathId(id): PathId<castellan_domain::CardId>,
) -> ApiResult<Json<CardBody>> {
    caller.require(Action::UpdateSelf)?;
    let who = holder(&s, &caller).await?;
    Ok(Json(
        castellan_services::rotation::confirm(&s.services, caller.ws(), &caller.actor(), &who, id)
            .await?
            .into(),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GeneratePasswordRequest {
    /// 12 to 128 (default 24).
    #[schema(minimum = 12, maximum = 128)]
    #[serde(default, deserialize_with = "super::opt_int")]
    pub length: Option<i64>,
    /// `lower`, `upper`, `digits`, `symbols`: at least one, each once (default all).
    pub kinds: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GeneratedPassword {
    pub password: String,
}

/// A strong random password of the chosen length and kinds of characters (nothing is stored;
/// sent `Cache-Control: no-store`).
#[utoipa::path(post, path = "/api/v1/passwords/generate", tag = "accounts", request_body = GeneratePasswordRequest,
    responses((status = 200, body = GeneratedPassword), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn generate_password(
    State(s): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<GeneratePasswordRequest>,
) -> ApiResult<axum::response::Response> {
    caller.require(Action::ReadSelf)?;
    let length = req.length.unwrap_or(24);
    let kinds = match &req.kinds {
        None => vec!["lower", "upper", "digits", "symbols"],
        Some(k) => {
            let mut seen: Vec<&str> = Vec::new();
            for x in k {
                if !["lower", "upper", "digits", "symbols"].contains(&x.as_str()) {
                    return Err(ApiError::invalid(
                        "kinds",
                        format!("{x:?} is not lower, upper, digits or symbols"),
                    ));
                }
                if seen.contains(&x.as_str()) {
                    return Err(ApiError::invalid("kinds", format!("{x} is named twice")));
                }
                seen.push(x.as_str());
            }
            seen
        }
    };
    let recipe = castellan_domain::passwords::Recipe::new(
        usize::try_from(length).unwrap_or(0),
        kinds.contains(&"lower"),
        kinds.contains(&"upper"),
        kinds.contains(&"digits"),
        kinds.contains(&"symbols"),
    )
    .map_err(|e| {
        if e.field == "lower" {
            ApiError::invalid("kinds", "name at least one kind of character")
        } else {
            e.into()
        }
    })?;
    let password = s
        .env
        .with_rng(|r| castellan_domain::passwords::generate(&recipe, r));
    Ok(super::no_store(GeneratedPassword { password }))
}
