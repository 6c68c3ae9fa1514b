//! Automation accounts: adding one (its secrets sealed in the vault, its account card made),
//! for the API, the web app's Connect app wizard, the CLI and the demo alike.

use castellan_domain::FieldError;
use castellan_domain::apps::{Platform, parse_phone};
use castellan_domain::audit::Actor;
use castellan_domain::values::{Email, required_text};
use castellan_domain::{Timestamp, WorkspaceId};
use castellan_store::{AccountCard, AutomationAccount, NewAutomationAccount};
use castellan_vault::Secret;

use crate::Services;
use crate::error::ServiceError;
use crate::vault::seal_named;

/// What a person enters for a new automation account.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    pub label: String,
    pub email: String,
    pub phone: Option<String>,
    pub password: String,
    /// A token pasted from the platform; without one, the platform's consent page gets it.
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub token_scopes: Option<String>,
    pub token_expires_at: Option<Timestamp>,
}

fn secret_field(field: &str, v: &str, max: usize) -> Result<Secret, FieldError> {
    if v.is_empty() {
        return Err(FieldError::new(field, format!("{field} must not be empty")));
    }
    if v.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("{field} is longer than {max} characters"),
        ));
    }
    Ok(Secret::new(v))
}

/// Adds an automation account of `platform`: checks every field (naming the first bad one),
/// seals the password and tokens one by one, and stores the account with its card.
pub async fn create_automation_account(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    platform: Platform,
    req: NewAccount,
) -> Result<(AutomationAccount, AccountCard), ServiceError> {
    let label = required_text("label", &req.label, 100)?;
    let email = Email::parse("email", &req.email)?;
    let phone = req
        .phone
        .as_deref()
        .filter(|x| !x.trim().is_empty())
        .map(|x| parse_phone("phone", x))
        .transpose()?;
    let mut plain = vec![("password", secret_field("password", &req.password, 1024)?)];
    if let Some(t) = &req.access_token {
        plain.push(("access_token", secret_field("access_token", t, 8192)?));
    }
    if let Some(t) = &req.refresh_token {
        plain.push(("refresh_token", secret_field("refresh_token", t, 8192)?));
    }
    let env = svc.store.env();
    let secrets = plain
        .into_iter()
        .map(|(name, value)| seal_named(env, &svc.vault, ws, name, &value))
        .collect();
    let new = NewAutomationAccount {
        platform,
        label,
        email: email.as_str().to_string(),
        phone,
        token_scopes: req.token_scopes,
        token_expires_at: req.token_expires_at,
        secrets,
    };
    Ok(svc
        .store
        .ws(ws)
        .create_automation_account(actor, &new)
        .await?)
}

/// Who is asking, for people's own accounts: their id and e-mail (cards of seats matched to
/// the directory identity with this e-mail are theirs).
#[derive(Debug, Clone)]
pub struct Holder {
    pub person: castellan_domain::PersonId,
    pub email: String,
}

/// A card the holder may use, with their role, or "not found": another person's card is not
/// shown to exist.
pub async fn held_card(
    svc: &Services,
    ws: WorkspaceId,
    who: &Holder,
    card: castellan_domain::CardId,
) -> Result<castellan_store::HeldCard, ServiceError> {
    svc.store
        .ws(ws)
        .held_cards(who.person, &who.email)
        .await?
        .into_iter()
        .find(|h| h.card.id == card)
        .ok_or(ServiceError::Store(castellan_store::StoreError::NotFound(
            "account card",
        )))
}

/// A card the holder manages (as Owner), for other modules of the services.
pub(crate) async fn owned(
    svc: &Services,
    ws: WorkspaceId,
    who: &Holder,
    card: castellan_domain::CardId,
) -> Result<castellan_store::HeldCard, ServiceError> {
    owned_card(svc, ws, who, card).await
}

/// A card the holder manages (as Owner); a Collaborator only logs in.
async fn owned_card(
    svc: &Services,
    ws: WorkspaceId,
    who: &Holder,
    card: castellan_domain::CardId,
) -> Result<castellan_store::HeldCard, ServiceError> {
    let h = owned_or_managed(svc, ws, who, card).await?;
    if partner_manager_only(&h) {
        return Err(ServiceError::Forbidden(
            "a partner's Manager only shares the account onward within the partner".into(),
        ));
    }
    Ok(h)
}

/// The account held as Owner, or as a partner's Manager (shared with the partner as Owner).
async fn owned_or_managed(
    svc: &Services,
    ws: WorkspaceId,
    who: &Holder,
    card: castellan_domain::CardId,
) -> Result<castellan_store::HeldCard, ServiceError> {
    let h = held_card(svc, ws, who, card).await?;
    if h.role != castellan_domain::apps::AppRole::Owner {
        return Err(ServiceError::Forbidden(
            "only an Owner of this account may do this; Collaborators only log in".into(),
        ));
    }
    if h.card.automation_account_id.is_some() {
        return Err(ServiceError::Forbidden(
            "an automation account's card is held by the workspace's Owners; it is not shared or changed here".into(),
        ));
    }
    Ok(h)
}

/// Held as Owner only through local partners' shares: the partner's Manager.
/// Whether the holder may save the account's credentials: the person whose seat it is (or who
/// added it), whatever their role, and its Owners — not a partner's Manager, who only shares
/// it onward, nor anyone on an automation account's card. The pages ask it to offer the form.
pub fn may_save_credentials(h: &castellan_store::HeldCard) -> bool {
    let own = h.paths.iter().any(|(via, _)| via == "own");
    h.card.automation_account_id.is_none()
        && (own || (h.role == castellan_domain::apps::AppRole::Owner && !partner_manager_only(h)))
}

fn partner_manager_only(h: &castellan_store::HeldCard) -> bool {
    let mut owner_paths = h
        .paths
        .iter()
        .filter(|(_, r)| *r == castellan_domain::apps::AppRole::Owner)
        .peekable();
    owner_paths.peek().is_some() && owner_paths.all(|(p, _)| p.starts_with("partner:"))
}

/// Shares a card its caller owns with a person of the workspace, a directory group or a local
/// partner (every guest of it), as Owner (for a partner: its Manager) or Collaborator.
pub async fn share_account(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    who: &Holder,
    card: castellan_domain::CardId,
    to: castellan_store::ShareTarget,
    role: castellan_domain::apps::AppRole,
) -> Result<castellan_store::Share, ServiceError> {
    let held = owned_or_managed(svc, ws, who, card).await?;
    let scoped = svc.store.ws(ws);
    // A partner's Manager shares onward only within the partner, to its people, as
    // Collaborator.
    if partner_manager_only(&held) {
        let p = match to {
            castellan_store::ShareTarget::Person(p) => p,
            castellan_store::ShareTarget::Group(_) => {
                return Err(FieldError::new(
                    "group_id",
                    "a partner's Manager shares with people of the partner only, not a group",
                )
                .into());
            }
            castellan_store::ShareTarget::Partner(_) => {
                return Err(FieldError::new(
                    "partner_id",
                    "a partner's Manager shares with people of the partner only; sharing with a whole partner is its Owner's",
                )
                .into());
            }
        };
        let mine = scoped.partner_roles(who.person).await?;
        let theirs = scoped.partner_roles(p).await?;
        let same = theirs
            .iter()
            .any(|(tp, tr)| tr.is_guest() && mine.iter().any(|(mp, mr)| mp == tp && mr.is_guest()));
        if !same {
            return Err(FieldError::new(
                "person_id",
                "a partner's Manager shares with people of the partner only",
            )
            .into());
        }
        if role != castellan_domain::apps::AppRole::Collaborator {
            return Err(FieldError::new(
                "role",
                "shared onward within a partner, the account is for logging in: Collaborator",
            )
            .into());
        }
    }
    match to {
        castellan_store::ShareTarget::Partner(l) => {
            let partner = scoped
                .local_partner(l)
                .await
                .map_err(|_| ServiceError::NotFound {
                    field: "partner_id",
                    what: "local partner",
                })?;
            if partner.ended_at.is_some() {
                return Err(ServiceError::Conflict(FieldError::new(
                    "partner_id",
                    "the partnership has ended",
                )));
            }
        }
        castellan_store::ShareTarget::Person(p) => {
            if p == who.person {
                return Err(ServiceError::Conflict(FieldError::new(
                    "person_id",
                    "this account is already yours",
                )));
            }
            let target = scoped.person(p).await.map_err(|_| ServiceError::NotFound {
                field: "person_id",
                what: "person",
            })?;
            if target.role == castellan_domain::workspace::WorkspaceRole::Guest
                && role == castellan_domain::apps::AppRole::Owner
            {
                return Err(FieldError::new(
                    "role",
                    "a guest user can only be a Collaborator (they log in; they do not share or manage)",
                )
                .into());
            }
        }
        castellan_store::ShareTarget::Group(g) => {
            scoped.group(g).await.map_err(|_| ServiceError::NotFound {
                field: "group_id",
                what: "directory group",
            })?;
        }
    }
    Ok(scoped.share_card(actor, card, to, role).await?)
}

pub async fn unshare_account(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    who: &Holder,
    card: castellan_domain::CardId,
    share: castellan_domain::ShareId,
) -> Result<(), ServiceError> {
    owned_card(svc, ws, who, card).await?;
    Ok(svc.store.ws(ws).unshare_card(actor, card, share).await?)
}

/// A card's shares, for its Owners.
pub async fn account_shares(
    svc: &Services,
    ws: WorkspaceId,
    who: &Holder,
    card: castellan_domain::CardId,
) -> Result<Vec<castellan_store::Share>, ServiceError> {
    let held = owned_or_managed(svc, ws, who, card).await?;
    let scoped = svc.store.ws(ws);
    let all = scoped.shares(card).await?;
    if !partner_manager_only(&held) {
        return Ok(all);
    }
    // A partner's Manager sees the shares they may make: with people of their partners.
    let partners: Vec<_> = scoped
        .partner_roles(who.person)
        .await?
        .into_iter()
        .filter(|(_, r)| r.is_guest())
        .map(|(p, _)| p)
        .collect();
    let mut out = Vec::new();
    for sh in all {
        if let castellan_store::ShareTarget::Person(p) = sh.to
            && scoped
                .partner_roles(p)
                .await?
                .iter()
                .any(|(id, r)| r.is_guest() && partners.contains(id))
        {
            out.push(sh);
        }
    }
    Ok(out)
}

/// What a person saves for their own account: the login, the password, and optionally the
/// TOTP secret (an `otpauth://` URI or base32; checked, then kept as given).
#[derive(Debug, Clone, Default)]
pub struct Credentials {
    pub login: String,
    pub password: String,
    pub totp: Option<String>,
}

/// "Connect your account": checks the fields, seals each in the vault on its own, and marks
/// the card Connected. Only the card's holder may.
pub async fn connect_account(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    who: &Holder,
    card: castellan_domain::CardId,
    c: Credentials,
) -> Result<AccountCard, ServiceError> {
    // The person whose seat it is connects it, whatever their role on the app; on a shared
    // card only its Owners do.
    let h = held_card(svc, ws, who, card).await?;
    if h.card.automation_account_id.is_some() {
        return Err(ServiceError::Forbidden(
            "the automation account's credentials are those it was added with".into(),
        ));
    }
    if !may_save_credentials(&h) {
        return Err(ServiceError::Forbidden(
            "only the account's holder or an Owner of it may save its credentials".into(),
        ));
    }
    if h.card.status == castellan_domain::apps::CardStatus::SignsInWithSso {
        return Err(castellan_store::StoreError::conflict(
            "card",
            "this app signs in with SSO: there are no credentials to save",
        )
        .into());
    }
    let login = required_text("login", &c.login, 320)?;
    let password = secret_field("password", &c.password, 1024)?;
    let mut fields = vec![
        ("login", Secret::new(login.as_str())),
        ("password", password),
    ];
    if let Some(t) = c.totp.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        castellan_domain::totp::Totp::parse("totp", t)?;
        fields.push(("totp", Secret::new(t)));
    }
    let env = svc.store.env();
    let sealed: Vec<_> = fields
        .iter()
        .map(|(name, value)| seal_named(env, &svc.vault, ws, name, value))
        .collect();
    Ok(svc.store.ws(ws).connect_card(actor, card, &sealed).await?)
}

/// A card's credentials as revealed to its holder, with the current TOTP code.
pub struct Revealed {
    pub login: String,
    pub password: Secret,
    /// A rotation's new password, waiting until an Owner confirms the platform has it.
    pub pending_password: Option<Secret>,
    pub totp: Option<castellan_domain::totp::TotpCode>,
}

/// "Log in": opens the card's fields for its holder and records who, when, from which IP and
/// browser. The only way a person's saved password or code leaves Castellan.
pub async fn reveal_account(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    who: &Holder,
    card: castellan_domain::CardId,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> Result<Revealed, ServiceError> {
    let c = held_card(svc, ws, who, card).await?.card;
    if !matches!(
        c.status,
        castellan_domain::apps::CardStatus::Connected
            | castellan_domain::apps::CardStatus::RotationDue
    ) {
        // What is saved is the card's state: a conflict, not bad input.
        return Err(castellan_store::StoreError::conflict(
            "card",
            "connect your account first: nothing is saved yet",
        )
        .into());
    }
    let scoped = svc.store.ws(ws);
    let mut login = String::new();
    let mut password = Secret::new("");
    let mut pending_password = None;
    let mut totp = None;
    // An automation account's card opens the account's own login (its e-mail) and password.
    if let Some(aid) = c.automation_account_id {
        let account = scoped.automation_account(aid).await?;
        let stored = scoped.automation_secret(aid, "password").await?;
        let password = crate::vault::open_sealed(&svc.vault, ws, stored.id, &stored.sealed)?;
        scoped
            .audit_card_reveal(actor, card, ip, user_agent)
            .await?;
        return Ok(Revealed {
            login: account.email,
            password,
            pending_password: None,
            totp: None,
        });
    }
    for s in scoped.card_secrets(card).await? {
        let open = crate::vault::open_sealed(&svc.vault, ws, s.id, &s.sealed).map_err(|e| {
            ServiceError::Store(castellan_store::StoreError::Corrupt(e.to_string()))
        })?;
        match s.name.as_str() {
            "login" => login = open.expose().to_string(),
            "password" => password = open,
            "password_pending" => pending_password = Some(open),
            "totp" => {
                totp = castellan_domain::totp::Totp::parse("totp", open.expose())
                    .ok()
                    .map(|t| t.at_time(svc.store.env().now()))
            }
            _ => {}
        }
    }
    scoped
        .audit_card_reveal(actor, card, ip, user_agent)
        .await?;
    Ok(Revealed {
        login,
        password,
        pending_password,
        totp,
    })
}

/// Adds a card by hand for an account of one's own (any platform, no app): its adder holds
/// it as Owner and can connect and share it. Guests may, too.
pub async fn add_account(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    who: &Holder,
    platform: &str,
    label: &str,
) -> Result<AccountCard, ServiceError> {
    let platform = Platform::parse("platform", platform)?;
    let label = required_text("label", label, 200)?;
    Ok(svc
        .store
        .ws(ws)
        .add_card(actor, who.person, platform, &label)
        .await?)
}

/// Opens one secret of an automation account (`password`, `access_token` or `refresh_token`)
/// for an Owner; every reveal is recorded in the activity log.
pub async fn reveal_automation_secret(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    id: castellan_domain::AutomationAccountId,
    name: &str,
) -> Result<Secret, ServiceError> {
    if !["password", "access_token", "refresh_token"].contains(&name) {
        return Err(FieldError::new(
            "secret",
            "secret must be password, access_token or refresh_token",
        )
        .into());
    }
    let scoped = svc.store.ws(ws);
    scoped.automation_account(id).await?;
    let stored = scoped.automation_secret(id, name).await?;
    let value = crate::vault::open_sealed(&svc.vault, ws, stored.id, &stored.sealed)?;
    scoped.audit_reveal(actor, id, name).await?;
    Ok(value)
}
