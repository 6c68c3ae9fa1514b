//! The Connect app wizard: platform, automation account (or the platform's consent page),
//! the app's fields, and the first check queued.

use crate::state::AppState;
use crate::web::{
    Chrome, Errors, Flash, Form, Nav, Query, Web, WebError, WebResult, done, invalid, page,
};
use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use castellan_domain::AutomationAccountId;
use castellan_domain::apps::Platform;
use castellan_domain::policy::Action;
use castellan_store::App;

// ----------------------------------------------------------------- Connect app wizard

/// An automation account to pick in the wizard.
pub struct AccountChoice {
    pub id: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "web/connect.html")]
pub struct ConnectPage {
    chrome: Chrome,
    /// `intro`, `select`, `details` (Enter app details), `account` (Select or Add automation
    /// account) or `consent`.
    step: &'static str,
    platform: String,
    platform_label: &'static str,
    accounts: Vec<AccountChoice>,
    form: Form,
    errors: Errors,
    /// The consent page hand-off: where to go to authorize the automation account.
    authorize_url: String,
    /// The platform apps configured for the consent page.
    consent_available: bool,
    /// Where this server points new apps of the platform (the demo's emulator), or empty.
    default_api_base: String,
}

impl ConnectPage {
    pub fn value(&self, name: &str) -> &str {
        self.form.get(name)
    }
    pub fn is(&self, name: &str, value: &str) -> bool {
        self.form.get(name) == value
    }

    /// Back from the automation account to the app's details, with them kept.
    pub fn back_to_details(&self) -> String {
        let mut pairs = vec![("step", "details")];
        for f in DETAIL_FIELDS {
            pairs.push((f, self.form.get(f)));
        }
        crate::web::with_query("/apps/connect", &pairs)
    }
}

/// The fields of Enter app details (step 1); the rest belong to the automation account.
const DETAIL_FIELDS: &[&str] = &[
    "platform",
    "label",
    "business_id",
    "login_method",
    "api_base_url",
];

const INTRO_COOKIE: &str = "castellan_hide_connect_intro";

async fn connect_view(
    s: &AppState,
    web: &Web,
    step: &'static str,
    form: Form,
    errors: Errors,
) -> Result<ConnectPage, WebError> {
    let platform = Platform::parse("platform", form.get("platform")).ok();
    let mut accounts = Vec::new();
    let mut consent_available = false;
    if let Some(p) = platform {
        let scoped = s.store.ws(web.ws());
        let chosen = form.get("automation_account_id");
        for a in scoped.automation_accounts(None, 500).await?.items {
            if a.platform == p {
                accounts.push(AccountChoice {
                    selected: chosen == a.id.to_string(),
                    id: a.id.to_string(),
                    label: format!("{} ({})", a.label, a.email),
                });
            }
        }
        consent_available = scoped.platform_app(p).await.is_ok();
    }
    let default_api_base = platform
        .and_then(|p| s.settings.default_api_base(p))
        .unwrap_or_default()
        .to_string();
    Ok(ConnectPage {
        default_api_base,
        chrome: web.chrome(Nav::Apps, "Connect app"),
        step,
        platform: platform.map(|p| p.to_string()).unwrap_or_default(),
        platform_label: platform.map(Platform::label).unwrap_or(""),
        accounts,
        form,
        errors,
        authorize_url: String::new(),
        consent_available,
    })
}

pub async fn connect_page(
    State(s): State<AppState>,
    web: Web,
    headers: axum::http::HeaderMap,
    Query(q): Query,
) -> WebResult {
    web.require(Action::ManageApps)?;
    let hide_intro = crate::auth::cookie_value(&headers, INTRO_COOKIE).is_some();
    let platform_ok = Platform::parse("platform", q.get("platform")).is_ok();
    let step = match q.get("step") {
        "select" => "select",
        "details" | "account" if !platform_ok => "select",
        "details" => "details",
        "account" => "account",
        _ if hide_intro => "select",
        _ => "intro",
    };
    let mut form = q.clone();
    if form.get("login_method").is_empty() {
        form.fields.push(("login_method".into(), "password".into()));
    }
    // Next from the details checks them before the automation account is asked for.
    let (step, errors) = match step {
        "account" => match details(&s, &form) {
            Ok(_) => ("account", Errors::default()),
            Err(e) => ("details", Errors::from_api(e, CONNECT_FIELDS)?),
        },
        other => (other, Errors::default()),
    };
    let mut view = connect_view(&s, &web, step, form, errors).await?;
    if step == "details" && view.value("api_base_url").is_empty() && q.get("step") == "details" {
        let default = view.default_api_base.clone();
        view.form.fields.retain(|(k, _)| k != "api_base_url");
        view.form.fields.push(("api_base_url".into(), default));
    }
    if view.value("token_mode").is_empty() {
        // The consent page when the workspace has the platform's app, else a pasted token.
        let mode = if view.consent_available {
            "consent"
        } else {
            "paste"
        };
        view.form.fields.push(("token_mode".into(), mode.into()));
    }
    if view.value("account_mode").is_empty() {
        let mode = if view.accounts.is_empty() {
            "new"
        } else {
            "existing"
        };
        view.form.fields.push(("account_mode".into(), mode.into()));
    }
    let mut r = page(&web, &view)?;
    if q.checked("hide_intro") {
        r.headers_mut().append(
            header::SET_COOKIE,
            HeaderValue::from_str(&format!(
                "{INTRO_COOKIE}=1; Path=/; SameSite=Strict; HttpOnly; Max-Age=31536000"
            ))
            .expect("ascii"),
        );
    }
    Ok(r)
}

const CONNECT_FIELDS: &[&str] = &[
    "platform",
    "label",
    "business_id",
    "login_method",
    "automation_account_id",
    "account_label",
    "account_email",
    "account_password",
    "account_phone",
    "access_token",
    "api_base_url",
];

/// Enter app details' fields, as the service reads them: the app's fields and its API base
/// URL — left empty, the platform's own API, or where this server points new apps (the demo's
/// embedded emulators).
fn details(
    s: &AppState,
    form: &Form,
) -> Result<(castellan_services::apps::AppFields, Option<String>), crate::error::ApiError> {
    let fields = castellan_services::apps::AppFields::parse(
        form.get("platform"),
        form.get("label"),
        form.get("business_id"),
        form.get("login_method"),
    )?;
    let api_base_url = castellan_services::apps::parse_api_base_url(
        Some(form.get("api_base_url").trim())
            .filter(|u| !u.is_empty())
            .or(s.settings.default_api_base(fields.platform)),
    )?;
    Ok((fields, api_base_url))
}

/// Maps a service's field names onto the wizard's.
fn wizard_field(e: crate::error::ApiError, new_account: bool) -> crate::error::ApiError {
    use crate::error::ApiError;
    match e {
        ApiError::Invalid {
            field: Some(f),
            message,
            code,
        } if new_account => {
            let f = match f.as_str() {
                "label" => "account_label",
                "email" => "account_email",
                "password" => "account_password",
                "phone" => "account_phone",
                other => other,
            };
            ApiError::Invalid {
                field: Some(f.to_string()),
                message,
                code,
            }
        }
        other => other,
    }
}

pub async fn connect_submit(State(s): State<AppState>, web: Web, form: Form) -> WebResult {
    web.require(Action::ManageApps)?;
    web.require(Action::ManageAutomationAccounts)?;
    match connect(&s, &web, &form).await {
        Ok(Connected::Queued(queued)) => {
            let (app, task) = *queued;
            Ok(done(
            &web,
            &format!("/apps/{}/members", app.id),
            Flash::success(format!(
                "{} was added. Castellan is checking that its automation account reaches the business.",
                app.label
            ))
            .with_link(format!("/automation/{}", task.id)),
        ))
        }
        Ok(Connected::AwaitingConsent(url)) => {
            let mut view = connect_view(&s, &web, "consent", form, Errors::default()).await?;
            view.authorize_url = url;
            page(&web, &view)
        }
        Err(e) => {
            let errors = Errors::from_api(e, CONNECT_FIELDS)?;
            // Back to the step whose field is wrong.
            let step = if errors
                .items
                .iter()
                .any(|(f, _)| DETAIL_FIELDS.contains(&f.as_str()))
            {
                "details"
            } else {
                "account"
            };
            let view = connect_view(&s, &web, step, form, errors).await?;
            invalid(&web, &view)
        }
    }
}

enum Connected {
    Queued(Box<(App, castellan_store::Task)>),
    AwaitingConsent(String),
}

async fn connect(
    s: &AppState,
    web: &Web,
    form: &Form,
) -> Result<Connected, crate::error::ApiError> {
    use crate::error::ApiError;
    let (fields, api_base_url) = details(s, form)?;
    let platform = fields.platform;
    let new_account = form.get("account_mode") == "new";
    let consent = new_account && form.get("token_mode") == "consent";
    let account: AutomationAccountId = if new_account {
        let token = Some(form.get("access_token").trim())
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if !consent && token.is_none() {
            return Err(ApiError::invalid(
                "access_token",
                "paste the automation account's token, or choose the consent page",
            ));
        }
        if consent {
            s.store.ws(web.ws()).platform_app(platform).await.map_err(|_| {
                ApiError::invalid(
                    "token_mode",
                    format!(
                        "the consent page needs the workspace's {} app: add it in Settings → Platform apps first",
                        platform.label()
                    ),
                )
            })?;
        }
        let (acct, _) = castellan_services::accounts::create_automation_account(
            &s.services,
            web.ws(),
            &web.caller.actor(),
            platform,
            castellan_services::accounts::NewAccount {
                label: form.get("account_label").to_string(),
                email: form.get("account_email").to_string(),
                phone: Some(form.get("account_phone").to_string()),
                password: form.get("account_password").to_string(),
                access_token: if consent { None } else { token },
                ..Default::default()
            },
        )
        .await
        .map_err(|e| wizard_field(e.into(), true))?;
        acct.id
    } else {
        form.get("automation_account_id").parse().map_err(|_| {
            ApiError::invalid(
                "automation_account_id",
                "choose an automation account, or add one",
            )
        })?
    };
    let req = fields.with(account, api_base_url);
    if consent {
        castellan_services::apps::add_app_awaiting_consent(
            &s.services,
            web.ws(),
            &web.caller.actor(),
            req,
        )
        .await?;
        let url =
            crate::api::oauth::authorize_url(s, web.ws(), &web.caller.actor(), account).await?;
        return Ok(Connected::AwaitingConsent(url));
    }
    let (app, task) = castellan_services::apps::connect_app(
        &s.services,
        web.ws(),
        &web.caller.actor(),
        Some(web.p().person_id),
        req,
    )
    .await?;
    Ok(Connected::Queued(Box::new((app, task))))
}
