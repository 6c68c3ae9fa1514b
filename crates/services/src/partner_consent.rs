//! Connecting a native partner through the account the dialog names: an automation account
//! that holds a token connects at once; one without a token, or an account card shared with
//! the person (the partner's admin, a guest user, added and shared the monitor account),
//! goes through the platform's consent page signed in as that account first (TikTok's *Grant
//! access*, Pinterest's monitor account without a token), and the partner is connected when
//! the token comes back.

use castellan_domain::apps::Platform;
use castellan_domain::audit::Actor;
use castellan_domain::{AppId, AutomationAccountId, CardId, FieldError, WorkspaceId};
use castellan_store::StoreError;

use crate::Services;
use crate::accounts::{Holder, NewAccount, create_automation_account, held_card};
use crate::error::ServiceError;
use crate::partners::{Connected, connect_partner, eligible_partner};

/// The account chosen to read the partner's business.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitorChoice {
    Account(AutomationAccountId),
    /// An account card the person holds (`card:{id}` on the wire).
    Card(CardId),
}

impl MonitorChoice {
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, FieldError> {
        let bad = || FieldError::new(field, "choose an account");
        match raw.strip_prefix("card:") {
            Some(c) => c.parse().map(Self::Card).map_err(|_| bad()),
            None => raw.parse().map(Self::Account).map_err(|_| bad()),
        }
    }

    pub fn as_value(&self) -> String {
        match self {
            Self::Account(a) => a.to_string(),
            Self::Card(c) => format!("card:{c}"),
        }
    }
}

/// What connecting through a choice did.
#[derive(Debug, Clone)]
pub enum NextStep {
    Connected(Connected),
    /// Send the browser to the platform's consent page; the partner is connected when it
    /// comes back.
    Consent {
        authorize_url: String,
    },
}

/// Connects `partner_id` of `app` through `choice` (see the module doc). Nothing is written
/// when the partner is not eligible or the account is not of the app's platform.
#[allow(clippy::too_many_arguments)]
pub async fn connect_through(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    who: Option<&Holder>,
    app: AppId,
    partner_id: &str,
    choice: MonitorChoice,
    public_url: &str,
) -> Result<NextStep, ServiceError> {
    let scoped = svc.store.ws(ws);
    let (app_row, _, _) = eligible_partner(svc, ws, app, partner_id).await?;
    let account = match choice {
        MonitorChoice::Account(id) => {
            let has_token = scoped.automation_secret(id, "access_token").await.is_ok();
            if has_token {
                return Ok(NextStep::Connected(
                    connect_partner(svc, ws, actor, app, partner_id, id).await?,
                ));
            }
            let a = scoped.automation_account(id).await.map_err(|e| match e {
                StoreError::NotFound(_) => ServiceError::NotFound {
                    field: "automation_account_id",
                    what: "automation account",
                },
                e => e.into(),
            })?;
            if a.platform != app_row.platform {
                return Err(wrong_platform(app_row.platform));
            }
            id
        }
        MonitorChoice::Card(card) => {
            let who = who.ok_or_else(|| {
                FieldError::new("automation_account_id", "an account card is a person's")
            })?;
            account_from_card(svc, ws, actor, who, card, app_row.platform).await?
        }
    };
    let (authorize_url, _) = crate::oauth::start_consent_for(
        svc,
        ws,
        actor,
        account,
        public_url,
        Some((app, partner_id)),
    )
    .await?;
    Ok(NextStep::Consent { authorize_url })
}

fn wrong_platform(p: Platform) -> ServiceError {
    FieldError::new(
        "automation_account_id",
        format!("choose a {} account", p.label()),
    )
    .into()
}

/// The automation account that reads a partner with the credentials of a card the person
/// holds: made once from the card's login and password (named after the card), then reused.
async fn account_from_card(
    svc: &Services,
    ws: WorkspaceId,
    actor: &Actor,
    who: &Holder,
    card: CardId,
    platform: Platform,
) -> Result<AutomationAccountId, ServiceError> {
    let held = held_card(svc, ws, who, card)
        .await
        .map_err(|_| ServiceError::NotFound {
            field: "automation_account_id",
            what: "account card",
        })?;
    if held.card.platform != platform {
        return Err(wrong_platform(platform));
    }
    if let Some(a) = held.card.automation_account_id {
        return Ok(a);
    }
    let scoped = svc.store.ws(ws);
    let label = format!("{} (monitor)", held.card.label);
    if let Some(a) = scoped
        .automation_accounts(None, 1000)
        .await?
        .items
        .into_iter()
        .find(|a| a.label == label && a.platform == platform)
    {
        return Ok(a.id);
    }
    let (mut login, mut password) = (String::new(), String::new());
    for s in scoped.card_secrets(card).await? {
        let open = crate::vault::open_sealed(&svc.vault, ws, s.id, &s.sealed)?;
        match s.name.as_str() {
            "login" => login = open.expose().to_string(),
            "password" => password = open.expose().to_string(),
            _ => {}
        }
    }
    if login.is_empty() || password.is_empty() {
        return Err(ServiceError::Conflict(FieldError::new(
            "automation_account_id",
            format!(
                "{} holds no login and password yet: its owner saves them first",
                held.card.label
            ),
        )));
    }
    let (account, _) = create_automation_account(
        svc,
        ws,
        actor,
        platform,
        NewAccount {
            label,
            email: login,
            phone: None,
            password,
            access_token: None,
            refresh_token: None,
            token_scopes: None,
            token_expires_at: None,
        },
    )
    .await
    .map_err(|e| match e {
        ServiceError::Invalid(f) if f.field == "email" => FieldError::new(
            "automation_account_id",
            format!("{}'s login must be an e-mail address", held.card.label),
        )
        .into(),
        e => e,
    })?;
    Ok(account.id)
}
