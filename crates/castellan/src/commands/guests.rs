//! `castellan guests`: invite an external person as a guest user (a single-use sign-in link,
//! valid 72 hours, e-mailed or kept in the outbox), list them, resend a link, revoke access.

use std::process::ExitCode;

use castellan_domain::values::Email;
use clap::Subcommand;

use super::*;
use crate::config::Config;

#[derive(Subcommand)]
pub(crate) enum GuestsCmd {
    /// Invite a guest user by e-mail.
    Invite {
        email: String,
        /// Their name, as shown in the workspace.
        #[arg(long)]
        name: Option<String>,
        /// Also print the sign-in link (for a workspace without SMTP); audited as a reveal.
        #[arg(long)]
        show_link: bool,
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Guest users and where their sign-in link stands.
    List {
        #[arg(long)]
        workspace: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Send a guest a new link (the earlier one stops working).
    Resend {
        email: String,
        #[arg(long)]
        show_link: bool,
        #[arg(long)]
        workspace: Option<String>,
    },
    /// End a guest's access: their link stops working, they are disabled and signed out.
    Revoke {
        email: String,
        #[arg(long)]
        workspace: Option<String>,
    },
}

async fn guest_id(
    store: &castellan_store::Store,
    ws: &castellan_store::Workspace,
    email: &str,
) -> anyhow::Result<castellan_domain::PersonId> {
    let e = Email::parse("email", email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let p = store
        .ws(ws.id)
        .person_by_email(&e)
        .await
        .map_err(|_| anyhow::anyhow!("no guest user {email} in workspace {}", ws.name))?;
    if p.role != castellan_domain::workspace::WorkspaceRole::Guest {
        anyhow::bail!("{email} is a {} of the workspace, not a guest user", p.role);
    }
    Ok(p.id)
}

/// Prints the link of an invitation's e-mail, recording the reveal.
async fn print_link(
    svc: &castellan_services::Services,
    ws: castellan_domain::WorkspaceId,
    email_id: Option<String>,
) -> anyhow::Result<()> {
    let id = email_id.ok_or_else(|| anyhow::anyhow!("the invitation has no e-mail"))?;
    let (_, body) = castellan_services::guests::reveal_email(
        svc,
        ws,
        &cli_actor(),
        &id,
        None,
        Some("castellan cli"),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Some(line) = body.lines().find(|l| l.contains("/welcome?token=")) {
        println!("sign-in link: {}", line.trim());
    }
    Ok(())
}

pub(crate) async fn guests(cfg: &Config, cmd: GuestsCmd) -> anyhow::Result<ExitCode> {
    let store = open_store(cfg).await?;
    let addr = cfg
        .listen
        .parse()
        .unwrap_or_else(|_| ([127, 0, 0, 1], 8080).into());
    let svc = services(cfg, &store, addr)?;
    let fail = |e: castellan_services::ServiceError| anyhow::anyhow!("{e}");
    match cmd {
        GuestsCmd::Invite {
            email,
            name,
            show_link,
            workspace,
        } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let (p, inv) = castellan_services::guests::invite(
                &svc,
                ws.id,
                &cli_actor(),
                &email,
                name.as_deref(),
            )
            .await
            .map_err(fail)?;
            println!(
                "invited {} (guest {}); the link works once, until {}",
                p.email,
                p.id,
                inv.expires_at.format("%Y-%m-%d %H:%M UTC")
            );
            if show_link {
                print_link(&svc, ws.id, inv.email_id).await?;
            } else if svc.mail.smtp.is_none() {
                println!(
                    "no SMTP server is configured: the e-mail waits in the outbox (--show-link prints the link)"
                );
            }
        }
        GuestsCmd::List { workspace, json } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let now = store.env().now();
            for g in castellan_services::guests::list(&svc, ws.id)
                .await
                .map_err(fail)?
            {
                let state = if g.person.disabled {
                    "revoked"
                } else {
                    g.invite
                        .as_ref()
                        .map(|i| i.state(now).as_str())
                        .unwrap_or("accepted")
                };
                let until = g
                    .invite
                    .as_ref()
                    .map(|i| i.expires_at.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_default();
                if json {
                    println!(
                        "{}",
                        serde_json::json!({ "id": g.person.id.to_string(), "email": g.person.email, "name": g.person.display_name, "link": state, "link_expires_at": until })
                    );
                } else {
                    println!(
                        "{}  {:<36} {:<9} {}",
                        g.person.id, g.person.email, state, until
                    );
                }
            }
        }
        GuestsCmd::Resend {
            email,
            show_link,
            workspace,
        } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let id = guest_id(&store, &ws, &email).await?;
            let inv = castellan_services::guests::resend(&svc, ws.id, &cli_actor(), id)
                .await
                .map_err(fail)?;
            println!("a new link is on its way to {email}; the earlier one no longer works");
            if show_link {
                print_link(&svc, ws.id, inv.email_id).await?;
            }
        }
        GuestsCmd::Revoke { email, workspace } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let id = guest_id(&store, &ws, &email).await?;
            castellan_services::guests::revoke(&svc, ws.id, &cli_actor(), id)
                .await
                .map_err(fail)?;
            println!("{email} can no longer sign in");
        }
    }
    Ok(ExitCode::SUCCESS)
}
