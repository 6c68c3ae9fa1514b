//! OIDC sign-in: a workspace's IdP settings (Owners set them; the client secret sealed), and
//! the authorization-code flow with PKCE, state and nonce (the `openidconnect` crate), the
//! RFC 9207 `iss` response parameter checked, and the person the IdP vouches for linked
//! just in time to their directory identity by subject or verified e-mail.

use castellan_domain::audit::{Actor, NewAuditEvent};
use castellan_domain::auth::generate_secret;
use castellan_domain::oidc::{
    OidcRefusal, OidcSettings, domain_allowed, parse_claim, parse_domains, parse_issuer,
};
use castellan_domain::policy::Action;
use castellan_domain::values::{Email, required_text};
use castellan_domain::workspace::WorkspaceRole;
use castellan_domain::{FieldError, WorkspaceId};
use castellan_store::Person;
use castellan_vault::Secret;
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClient, CoreClientAuthMethod,
    CoreGenderClaim, CoreGrantType, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalClaims, AdditionalProviderMetadata, AuthenticationFlow, AuthorizationCode, ClientId,
    ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, ProviderMetadata, RedirectUrl, Scope, TokenResponse, reqwest,
};
use serde::{Deserialize, Serialize};

use crate::Services;
use crate::error::ServiceError;
use crate::sessions::SignedIn;

/// The discovery document's RFC 9207 flag, beside the core metadata.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct IssParameter {
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}
impl AdditionalProviderMetadata for IssParameter {}

type Metadata = ProviderMetadata<
    IssParameter,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// Every claim of a userinfo answer, for the configured groups claim.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct AnyClaims(serde_json::Map<String, serde_json::Value>);
impl AdditionalClaims for AnyClaims {}

/// The settings as an Admin reads them: the secret never, only whether one is held.
#[derive(Debug, Clone)]
pub struct OidcView {
    pub settings: OidcSettings,
    pub client_secret_set: bool,
    /// The address to register at the IdP as the sign-in redirect URI.
    pub redirect_uri: String,
}

/// The settings as entered (text fields as typed). `client_secret` empty keeps the held one.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OidcInput {
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub allowed_domains: String,
    #[serde(default)]
    pub groups_claim: String,
    #[serde(default)]
    pub passwords_owners_only: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn yes() -> bool {
    true
}

/// Where the IdP sends the browser back: one address for every workspace (the flow's cookie
/// says which workspace started it).
pub fn redirect_uri(svc: &Services) -> String {
    format!(
        "{}/signin/oidc/callback",
        svc.mail.public_url.trim_end_matches('/')
    )
}

fn may(role: WorkspaceRole, action: Action) -> Result<(), ServiceError> {
    if role >= action.requirement().0 {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(format!(
            "only {}s may do this",
            action.requirement().0
        )))
    }
}

pub async fn settings(
    svc: &Services,
    ws: WorkspaceId,
    role: WorkspaceRole,
) -> Result<Option<OidcView>, ServiceError> {
    may(role, Action::ReadSignIn)?;
    Ok(svc.store.ws(ws).oidc_config().await?.map(|c| OidcView {
        settings: c.settings,
        client_secret_set: c.secret.is_some(),
        redirect_uri: redirect_uri(svc),
    }))
}

/// Validates and stores the settings (each field's error names it); the client secret is
/// sealed, and required the first time.
pub async fn configure(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    role: WorkspaceRole,
    input: &OidcInput,
) -> Result<OidcView, ServiceError> {
    may(role, Action::ConfigureSignIn)?;
    let settings = OidcSettings {
        display_name: required_text("display_name", &input.display_name, 60)?,
        issuer: parse_issuer("issuer", &input.issuer)?,
        client_id: required_text("client_id", &input.client_id, 300)?,
        allowed_domains: parse_domains("allowed_domains", &input.allowed_domains)?,
        groups_claim: parse_claim("groups_claim", &input.groups_claim)?,
        passwords_owners_only: input.passwords_owners_only,
        enabled: input.enabled,
    };
    let scoped = svc.store.ws(ws);
    let held = scoped.oidc_config().await?.and_then(|c| c.secret).is_some();
    let secret = match input.client_secret.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => {
            if s.len() > 2000 {
                return Err(
                    FieldError::new("client_secret", "is longer than 2000 characters").into(),
                );
            }
            Some(crate::vault::seal_named(
                svc.store.env(),
                &svc.vault,
                ws,
                "client_secret",
                &Secret::new(s),
            ))
        }
        _ if held => None,
        _ => return Err(FieldError::new("client_secret", "is required").into()),
    };
    scoped
        .put_oidc_config(actor, &settings, secret.as_ref())
        .await?;
    Ok(OidcView {
        settings,
        client_secret_set: true,
        redirect_uri: redirect_uri(svc),
    })
}

pub async fn remove(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    role: WorkspaceRole,
) -> Result<(), ServiceError> {
    may(role, Action::ConfigureSignIn)?;
    svc.store.ws(ws).delete_oidc_config(actor).await?;
    Ok(())
}

/// What a flow is for: a sign-in, or an Owner's or Admin's *Test sign-in* (which reports what
/// the IdP said and what Castellan would do, signing no one in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    SignIn,
    Test,
}

/// An authorization in progress, kept by the browser that started it (an HttpOnly cookie)
/// until the IdP sends it back: the state, nonce and PKCE verifier never leave that browser
/// except to the IdP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    pub workspace: WorkspaceId,
    pub purpose: Purpose,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    /// Where to go after signing in (a local path).
    pub next: String,
}

impl Flow {
    pub fn to_cookie(&self) -> String {
        let p = match self.purpose {
            Purpose::SignIn => "s",
            Purpose::Test => "t",
        };
        format!(
            "{}.{p}.{}.{}.{}.{}",
            self.workspace,
            self.state,
            self.nonce,
            self.verifier,
            hex::encode(&self.next)
        )
    }

    pub fn from_cookie(raw: &str) -> Option<Self> {
        let mut it = raw.split('.');
        let workspace = it.next()?.parse().ok()?;
        let purpose = match it.next()? {
            "s" => Purpose::SignIn,
            "t" => Purpose::Test,
            _ => return None,
        };
        let (state, nonce, verifier) = (it.next()?, it.next()?, it.next()?);
        let next = String::from_utf8(hex::decode(it.next()?).ok()?).ok()?;
        if it.next().is_some() || state.is_empty() || nonce.is_empty() || verifier.len() < 43 {
            return None;
        }
        Some(Self {
            workspace,
            purpose,
            state: state.into(),
            nonce: nonce.into(),
            verifier: verifier.into(),
            next,
        })
    }
}

/// Why an IdP sign-in failed. Each message is for the person at the browser.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("Sign-in with an identity provider is not set up for this workspace.")]
    NotConfigured,
    #[error(
        "The sign-in could not be matched to the one this browser started (its state differs). Start again."
    )]
    StateMismatch,
    #[error(
        "The answer did not come from this workspace's identity provider (its iss parameter is {0})."
    )]
    IssuerMismatch(String),
    #[error("The identity provider refused the sign-in: {0}")]
    Idp(String),
    #[error(
        "The identity provider's ID token did not match this sign-in (its nonce differs). Start again."
    )]
    NonceMismatch,
    #[error("The identity provider could not be reached or answered wrongly: {0}")]
    Protocol(String),
    #[error("{}", .0.message())]
    Refused(OidcRefusal),
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<castellan_store::StoreError> for OidcError {
    fn from(e: castellan_store::StoreError) -> Self {
        Self::Service(e.into())
    }
}

fn http() -> Result<reqwest::Client, OidcError> {
    reqwest::Client::builder()
        // Following redirects would let an issuer send Castellan's requests anywhere (SSRF).
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| OidcError::Protocol(e.to_string()))
}

struct Ready {
    settings: OidcSettings,
    metadata: Metadata,
    secret: Secret,
}

async fn ready(svc: &Services, ws: WorkspaceId, purpose: Purpose) -> Result<Ready, OidcError> {
    let c = svc
        .store
        .ws(ws)
        .oidc_config()
        .await?
        .filter(|c| c.settings.enabled || purpose == Purpose::Test)
        .ok_or(OidcError::NotConfigured)?;
    let sealed = c.secret.ok_or(OidcError::NotConfigured)?;
    let secret = crate::vault::open_sealed(&svc.vault, ws, sealed.id, &sealed.sealed)
        .map_err(ServiceError::from)?;
    let issuer = IssuerUrl::new(c.settings.issuer.clone())
        .map_err(|e| OidcError::Protocol(e.to_string()))?;
    let metadata = Metadata::discover_async(issuer, &http()?)
        .await
        .map_err(|e| OidcError::Protocol(format!("discovery: {e}")))?;
    Ok(Ready {
        settings: c.settings,
        metadata,
        secret,
    })
}

fn client(
    svc: &Services,
    r: &Ready,
) -> Result<
    CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    OidcError,
> {
    Ok(CoreClient::from_provider_metadata(
        r.metadata.clone(),
        ClientId::new(r.settings.client_id.clone()),
        Some(ClientSecret::new(r.secret.expose().to_string())),
    )
    .set_redirect_uri(
        RedirectUrl::new(redirect_uri(svc)).map_err(|e| OidcError::Protocol(e.to_string()))?,
    ))
}

/// Starts a flow: the IdP's authorization address to send the browser to, and the flow the
/// browser keeps meanwhile.
pub async fn start(
    svc: &Services,
    ws: WorkspaceId,
    purpose: Purpose,
    next: &str,
) -> Result<(String, Flow), OidcError> {
    let r = ready(svc, ws, purpose).await?;
    let env = svc.store.env();
    let (state, nonce, verifier) = env.with_rng(|g| {
        (
            generate_secret("", g),
            generate_secret("", g),
            generate_secret("", g),
        )
    });
    let challenge =
        PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(verifier.clone()));
    let (s2, n2) = (state.clone(), nonce.clone());
    let (url, _, _) = client(svc, &r)?
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            move || CsrfToken::new(s2),
            move || Nonce::new(n2),
        )
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    Ok((
        url.to_string(),
        Flow {
            workspace: ws,
            purpose,
            state,
            nonce,
            verifier,
            next: next.to_string(),
        },
    ))
}

/// The callback's query as the IdP sent it.
#[derive(Debug, Clone, Default)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// What the IdP said about the person, and what Castellan made of it.
#[derive(Debug, Clone)]
pub struct Vouched {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    pub groups: Vec<String>,
}

/// A *Test sign-in*'s findings.
#[derive(Debug, Clone)]
pub struct TestReport {
    pub issuer: String,
    pub vouched: Vouched,
    /// The person who would be signed in, or why no one would be.
    pub outcome: Result<Person, OidcRefusal>,
}

pub enum Finished {
    SignedIn(Box<SignedIn>),
    Tested(Box<TestReport>),
}

/// Ends a flow: checks state and `iss`, exchanges the code with the PKCE verifier, verifies
/// the ID token (signature, issuer, audience, expiry, nonce) at the environment's time, reads
/// the claims, and signs the person in (or, for a test, says what would happen).
pub async fn finish(
    svc: &Services,
    ttl: chrono::Duration,
    flow: &Flow,
    cb: &Callback,
) -> Result<Finished, OidcError> {
    let state_ok = cb.state.as_deref().is_some_and(|s| {
        castellan_domain::auth::hash_secret(s) == castellan_domain::auth::hash_secret(&flow.state)
    });
    if !state_ok {
        return Err(OidcError::StateMismatch);
    }
    let r = ready(svc, flow.workspace, flow.purpose).await?;
    let issuer = r.metadata.issuer().to_string();
    match cb.iss.as_deref() {
        Some(i) if i != issuer => return Err(OidcError::IssuerMismatch(i.to_string())),
        None if r
            .metadata
            .additional_metadata()
            .authorization_response_iss_parameter_supported =>
        {
            return Err(OidcError::IssuerMismatch("missing".into()));
        }
        _ => {}
    }
    if let Some(e) = &cb.error {
        return Err(OidcError::Idp(
            cb.error_description.clone().unwrap_or_else(|| e.clone()),
        ));
    }
    let code = cb
        .code
        .clone()
        .ok_or_else(|| OidcError::Protocol("the answer holds no code".into()))?;
    let client = client(svc, &r)?;
    let http = http()?;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| OidcError::Protocol(e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()))
        .request_async(&http)
        .await
        .map_err(|e| OidcError::Protocol(format!("token: {e}")))?;
    let id_token = tokens
        .id_token()
        .ok_or_else(|| OidcError::Protocol("the token answer holds no ID token".into()))?;
    let now = svc.store.env().now();
    let verifier = client.id_token_verifier().set_time_fn(move || now);
    let claims = id_token
        .claims(&verifier, &Nonce::new(flow.nonce.clone()))
        .map_err(|e| match e {
            openidconnect::ClaimsVerificationError::InvalidNonce(_) => OidcError::NonceMismatch,
            e => OidcError::Protocol(format!("ID token: {e}")),
        })?;
    let subject = claims.subject().to_string();
    let mut email = claims.email().map(|e| e.to_string());
    let mut email_verified = claims.email_verified();
    // The ID token's own claims (its signature was checked above) for the groups claim.
    let raw = id_token_payload(&id_token.to_string());
    let mut groups = r
        .settings
        .groups_claim
        .as_deref()
        .map(|c| strings(raw.get(c)))
        .unwrap_or_default();
    let needs_userinfo = email.is_none()
        || email_verified.is_none()
        || (r.settings.groups_claim.is_some() && groups.is_empty());
    if needs_userinfo && r.metadata.userinfo_endpoint().is_some() {
        let info: openidconnect::UserInfoClaims<AnyClaims, CoreGenderClaim> = client
            .user_info(
                tokens.access_token().clone(),
                Some(claims.subject().clone()),
            )
            .map_err(|e| OidcError::Protocol(e.to_string()))?
            .request_async(&http)
            .await
            .map_err(|e| OidcError::Protocol(format!("userinfo: {e}")))?;
        if email.is_none() {
            email = info.email().map(|e| e.to_string());
        }
        if email_verified.is_none() {
            email_verified = info.email_verified();
        }
        if groups.is_empty()
            && let Some(c) = r.settings.groups_claim.as_deref()
        {
            groups = strings(info.additional_claims().0.get(c));
        }
    }
    let vouched = Vouched {
        subject,
        email,
        email_verified,
        groups,
    };
    let outcome = resolve(svc, flow.workspace, &r.settings, &vouched, flow.purpose).await?;
    let actor = Actor::Automation {
        name: format!("OIDC {}", r.settings.display_name),
    };
    match flow.purpose {
        Purpose::Test => Ok(Finished::Tested(Box::new(TestReport {
            issuer,
            vouched,
            outcome,
        }))),
        Purpose::SignIn => {
            let scoped = svc.store.ws(flow.workspace);
            let person = match outcome {
                Ok(p) => p,
                Err(refusal) => {
                    scoped
                        .audit(NewAuditEvent {
                            outcome: castellan_domain::audit::Outcome::Failure,
                            ..NewAuditEvent::success(
                                &actor,
                                "session.oidc",
                                format!("oidc:{}", vouched.subject),
                                serde_json::json!({ "email": vouched.email, "refused": refusal.code() }),
                            )
                        })
                        .await?;
                    return Err(OidcError::Refused(refusal));
                }
            };
            let mut person = person;
            let voided = scoped.void_one_time_password(person.id).await?;
            person.must_change_password = false;
            let signed = crate::sessions::start_session(svc, ttl, person).await?;
            scoped
                .audit(NewAuditEvent::success(
                    &actor,
                    "session.oidc",
                    format!("person:{}", signed.person.id),
                    serde_json::json!({ "subject": vouched.subject, "email": vouched.email, "groups": vouched.groups, "one_time_password_voided": voided }),
                ))
                .await?;
            Ok(Finished::SignedIn(Box::new(signed)))
        }
    }
}

fn id_token_payload(jwt: &str) -> serde_json::Map<String, serde_json::Value> {
    use base64::Engine as _;
    jwt.split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// A claim holding one string or a list of them.
fn strings(v: Option<&serde_json::Value>) -> Vec<String> {
    match v {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Who the IdP's person is in the workspace: the identity linked to their subject, or (once,
/// then linked) the identity holding their e-mail when the IdP verified it — or the domain is
/// one the workspace admits, for IdPs that send no `email_verified` (Entra ID) — then the
/// Castellan account with that identity's e-mail. A test links nothing.
async fn resolve(
    svc: &Services,
    ws: WorkspaceId,
    settings: &OidcSettings,
    v: &Vouched,
    purpose: Purpose,
) -> Result<Result<Person, OidcRefusal>, OidcError> {
    let scoped = svc.store.ws(ws);
    let Some(raw_email) = v.email.clone() else {
        return Ok(Err(OidcRefusal::NoEmail));
    };
    let Ok(email) = Email::parse("email", &raw_email) else {
        return Ok(Err(OidcRefusal::NoEmail));
    };
    let email_s = email.as_str().to_string();
    if !domain_allowed(&settings.allowed_domains, &email_s) {
        return Ok(Err(OidcRefusal::DomainNotAllowed { email: email_s }));
    }
    let identity = match scoped.identity_by_oidc_subject(&v.subject).await? {
        Some(i) => i,
        None => {
            let trusted = match v.email_verified {
                Some(b) => b,
                None => !settings.allowed_domains.is_empty(),
            };
            if !trusted {
                return Ok(Err(OidcRefusal::EmailUnverified { email: email_s }));
            }
            match scoped.identity_by_sign_in_email(&email.canonical()).await? {
                None => return Ok(Err(OidcRefusal::NoIdentity { email: email_s })),
                Some((_, Some(other))) if other != v.subject => {
                    return Ok(Err(OidcRefusal::LinkedElsewhere { email: email_s }));
                }
                Some((i, linked)) => {
                    if linked.is_none() && purpose == Purpose::SignIn && i.active {
                        let actor = Actor::Automation {
                            name: format!("OIDC {}", settings.display_name),
                        };
                        scoped.link_oidc_subject(&actor, i.id, &v.subject).await?;
                    }
                    i
                }
            }
        }
    };
    if !identity.active || identity.scim_deleted_at.is_some() {
        return Ok(Err(OidcRefusal::IdentityInactive {
            email: identity.primary_email,
        }));
    }
    let id_email =
        Email::parse("email", &identity.primary_email).map_err(|e| OidcError::Service(e.into()))?;
    let person = match scoped.person_by_email(&id_email).await {
        Ok(p) => p,
        Err(castellan_store::StoreError::NotFound(_)) => {
            return Ok(Err(OidcRefusal::NoPerson {
                email: identity.primary_email,
            }));
        }
        Err(e) => return Err(e.into()),
    };
    if person.disabled {
        return Ok(Err(OidcRefusal::PersonDisabled {
            email: identity.primary_email,
        }));
    }
    Ok(Ok(person))
}
