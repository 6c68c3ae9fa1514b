//! `castellan scim tokens`: the bearer tokens an identity provider provisions the directory
//! with at `/scim/v2` — make one (its secret printed once), list them with their last use,
//! revoke one. The operator acts as an Owner, as the other operator commands do.

use std::process::ExitCode;

use clap::Subcommand;

use super::{cli_actor, open_store, operator, pick_workspace, services, settings};
use crate::config::Config;

#[derive(Subcommand)]
pub(crate) enum ScimCmd {
    /// SCIM tokens: make, list, revoke.
    #[command(subcommand)]
    Tokens(TokensCmd),
}

#[derive(Subcommand)]
pub(crate) enum TokensCmd {
    /// Make a token; its secret is printed once, with the SCIM base URL to give the IdP.
    Create {
        /// Which IdP connection uses it (say, "Okta production").
        name: String,
        #[arg(long)]
        workspace: Option<String>,
    },
    /// The workspace's tokens, newest first, with their last use.
    List {
        #[arg(long)]
        workspace: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token by its id or name: the IdP's next request with it is refused.
    Revoke {
        token: String,
        #[arg(long)]
        workspace: Option<String>,
    },
}

pub(crate) async fn scim(cfg: &Config, cmd: ScimCmd) -> anyhow::Result<ExitCode> {
    let store = open_store(cfg).await?;
    let addr = cfg
        .listen
        .parse()
        .unwrap_or_else(|_| ([127, 0, 0, 1], 8080).into());
    let svc = services(cfg, &store, addr)?;
    let fail = |e: castellan_services::ServiceError| anyhow::anyhow!("{e}");
    let ScimCmd::Tokens(cmd) = cmd;
    match cmd {
        TokensCmd::Create { name, workspace } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let (t, secret) = castellan_services::scim::create_token(
                &svc,
                ws.id,
                &cli_actor(),
                operator(),
                &name,
            )
            .await
            .map_err(fail)?;
            let base = format!(
                "{}/scim/v2",
                settings(cfg, addr).public_url.trim_end_matches('/')
            );
            println!("made SCIM token {} ({})", t.name, t.id);
            println!("SCIM base URL: {base}");
            println!("bearer token (shown once): {secret}");
        }
        TokensCmd::List { workspace, json } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            for t in castellan_services::scim::tokens(&svc, ws.id, operator())
                .await
                .map_err(fail)?
            {
                let last = t
                    .last_used_at
                    .map(|u| u.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_else(|| "never".into());
                let state = if t.revoked_at.is_some() {
                    "revoked"
                } else {
                    "live"
                };
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"id": t.id.to_string(), "name": t.name, "created_at": t.created_at, "last_used_at": t.last_used_at, "revoked": t.revoked_at.is_some()})
                    );
                } else {
                    println!("{}  {:<24} {:<8} last used {last}", t.id, t.name, state);
                }
            }
        }
        TokensCmd::Revoke { token, workspace } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let all = castellan_services::scim::tokens(&svc, ws.id, operator())
                .await
                .map_err(fail)?;
            let hits: Vec<_> = all
                .iter()
                .filter(|t| {
                    t.revoked_at.is_none() && (t.id.to_string() == token || t.name == token)
                })
                .collect();
            let t = match hits.as_slice() {
                [one] => *one,
                [] => anyhow::bail!("no live SCIM token {token} in workspace {}", ws.name),
                _ => anyhow::bail!("several live SCIM tokens are named {token}: give its id"),
            };
            let t =
                castellan_services::scim::revoke_token(&svc, ws.id, &cli_actor(), operator(), t.id)
                    .await
                    .map_err(fail)?;
            println!("revoked SCIM token {} ({})", t.name, t.id);
        }
    }
    Ok(ExitCode::SUCCESS)
}
