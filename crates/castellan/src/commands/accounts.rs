//! `castellan accounts`: a person's own account cards — list them, share and unshare, and the
//! audited reveal — for operators acting on a person's behalf (`--as`).

use std::process::ExitCode;

use castellan_domain::values::Email;
use castellan_services::Services;
use castellan_services::accounts::Holder;
use clap::Subcommand;

use super::*;
use crate::config::Config;

#[derive(Subcommand)]
pub(crate) enum AccountsCmd {
    /// The account cards a person holds, with their role and how they hold each.
    List {
        /// The person (e-mail).
        #[arg(long = "as")]
        person: String,
        #[arg(long)]
        workspace: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Share a card the person owns with another person or a directory group.
    Share {
        card: String,
        #[arg(long = "as")]
        person: String,
        /// The person to share with (e-mail).
        #[arg(long, conflicts_with = "group")]
        with: Option<String>,
        /// The directory group to share with (its name).
        #[arg(long, conflicts_with = "partner")]
        group: Option<String>,
        /// The local partner to share with (its name): every guest of it holds the account;
        /// as `owner`, its Guest Admins are its Managers.
        #[arg(long, conflicts_with = "with")]
        partner: Option<String>,
        /// `collaborator` (only logs in) or `owner` (shares, manages).
        #[arg(long, default_value = "collaborator")]
        role: String,
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Stop a share.
    Unshare {
        card: String,
        share: String,
        #[arg(long = "as")]
        person: String,
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Print the saved credentials and the current TOTP code (audited).
    Reveal {
        card: String,
        #[arg(long = "as")]
        person: String,
        #[arg(long)]
        workspace: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

async fn holder(
    store: &castellan_store::Store,
    ws: &castellan_store::Workspace,
    email: &str,
) -> anyhow::Result<Holder> {
    let email = Email::parse("--as", email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let p = store
        .ws(ws.id)
        .person_by_email(&email)
        .await
        .map_err(|_| anyhow::anyhow!("--as: no person {email} in workspace {}", ws.name))?;
    Ok(Holder {
        person: p.id,
        email: p.email,
    })
}

fn id<T: std::str::FromStr>(field: &str, raw: &str) -> anyhow::Result<T> {
    raw.parse()
        .map_err(|_| anyhow::anyhow!("{field}: {raw:?} is not an id"))
}

pub(crate) async fn accounts(cfg: &Config, cmd: AccountsCmd) -> anyhow::Result<ExitCode> {
    let store = open_store(cfg).await?;
    let svc = Services::new(store.clone(), open_vault(cfg)?);
    let fail = |e: castellan_services::ServiceError| anyhow::anyhow!("{e}");
    match cmd {
        AccountsCmd::List {
            person,
            workspace,
            json,
        } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let who = holder(&store, &ws, &person).await?;
            for h in store.ws(ws.id).held_cards(who.person, &who.email).await? {
                let paths: Vec<String> = h
                    .paths
                    .iter()
                    .map(|(v, r)| format!("{} via {v}", r.as_str()))
                    .collect();
                if json {
                    println!(
                        "{}",
                        serde_json::json!({ "id": h.card.id.to_string(), "label": h.card.label, "platform": h.card.platform.as_str(), "status": h.card.status.as_str(), "role": h.role.as_str(), "paths": paths })
                    );
                } else {
                    println!(
                        "{}  {:<28} {:<9} {:<20} {} ({})",
                        h.card.id,
                        h.card.label,
                        h.card.platform,
                        h.card.status.as_str(),
                        h.role.as_str(),
                        paths.join("; ")
                    );
                }
            }
        }
        AccountsCmd::Share {
            card,
            person,
            with,
            group,
            partner,
            role,
            workspace,
        } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let who = holder(&store, &ws, &person).await?;
            let role = castellan_domain::apps::AppRole::parse("--role", &role)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let to = match (with, group, partner) {
                (None, None, Some(name)) => {
                    let p = store
                        .ws(ws.id)
                        .local_partners()
                        .await?
                        .into_iter()
                        .find(|p| p.name.eq_ignore_ascii_case(&name))
                        .ok_or_else(|| anyhow::anyhow!("--partner: no local partner {name:?}"))?;
                    castellan_store::ShareTarget::Partner(p.id)
                }
                (Some(email), None, None) => {
                    castellan_store::ShareTarget::Person(holder(&store, &ws, &email).await?.person)
                }
                (None, Some(name), None) => {
                    let groups = store.ws(ws.id).groups(None, 500).await?.items;
                    let g = groups
                        .into_iter()
                        .find(|g| g.display_name.eq_ignore_ascii_case(&name))
                        .ok_or_else(|| anyhow::anyhow!("--group: no directory group {name:?}"))?;
                    castellan_store::ShareTarget::Group(g.id)
                }
                _ => anyhow::bail!("give --with EMAIL, --group NAME or --partner NAME"),
            };
            let share = castellan_services::accounts::share_account(
                &svc,
                ws.id,
                &cli_actor(),
                &who,
                id("card", &card)?,
                to,
                role,
            )
            .await
            .map_err(fail)?;
            println!(
                "shared with {} as {} (share {})",
                share.with,
                share.role.as_str(),
                share.id
            );
        }
        AccountsCmd::Unshare {
            card,
            share,
            person,
            workspace,
        } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let who = holder(&store, &ws, &person).await?;
            castellan_services::accounts::unshare_account(
                &svc,
                ws.id,
                &cli_actor(),
                &who,
                id("card", &card)?,
                id("share", &share)?,
            )
            .await
            .map_err(fail)?;
            println!("unshared");
        }
        AccountsCmd::Reveal {
            card,
            person,
            workspace,
            json,
        } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let who = holder(&store, &ws, &person).await?;
            let r = castellan_services::accounts::reveal_account(
                &svc,
                ws.id,
                &cli_actor(),
                &who,
                id("card", &card)?,
                None,
                Some("castellan cli"),
            )
            .await
            .map_err(fail)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "login": r.login, "password": r.password.expose(), "totp_code": r.totp.as_ref().map(|t| &t.code), "totp_seconds_left": r.totp.as_ref().map(|t| t.seconds_left) })
                );
            } else {
                println!("login:    {}", r.login);
                println!("password: {}", r.password.expose());
                if let Some(t) = r.totp {
                    println!("code:     {} ({} s left)", t.code, t.seconds_left);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
