//! `castellan partners`: an app's native partners, with the assets shared each way, and
//! connecting one to Castellan.

use std::process::ExitCode;

use clap::Subcommand;

use super::apps::find_app;
use super::{cli_actor, open_store, pick_workspace, services};
use crate::config::Config;

#[derive(Subcommand)]
pub enum PartnersCmd {
    /// List an app's partners: which way assets go, the assets each way, and whether the
    /// partner can be connected.
    List {
        /// App id or label.
        app: String,
        #[arg(long)]
        workspace: Option<String>,
        /// One JSON object per partner.
        #[arg(long)]
        json: bool,
    },
    /// Connect a partner to Castellan through an automation account whose user is an admin of
    /// the partner's business (Pinterest's monitor account; TikTok: the partner's token).
    Connect {
        /// App id or label.
        app: String,
        /// The partner's business id.
        partner: String,
        /// The automation account (id or label).
        #[arg(long)]
        account: String,
        #[arg(long)]
        workspace: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Stop reading a partner's business (the automation account stays; the platform is not
    /// called).
    Disconnect {
        /// App id or label.
        app: String,
        /// The partner's business id.
        partner: String,
        #[arg(long)]
        workspace: Option<String>,
    },
}

pub(crate) async fn partners(cfg: &Config, cmd: PartnersCmd) -> anyhow::Result<ExitCode> {
    let store = open_store(cfg).await?;
    match cmd {
        PartnersCmd::List {
            app,
            workspace,
            json,
        } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let a = find_app(&store, &ws, &app).await?;
            let asset = |x: &castellan_store::PartnerAsset| serde_json::json!({ "asset_id": x.asset_id, "name": x.name, "type": x.kind, "permissions": x.permissions });
            for p in store.ws(ws.id).partners(a.id).await? {
                let status = p.status();
                if json {
                    println!(
                        "{}",
                        serde_json::json!({ "partner_id": p.partner_id, "name": p.name, "relation": p.relation, "uses_our_assets": p.ours.iter().map(asset).collect::<Vec<_>>(), "shares_with_us": p.theirs.iter().map(asset).collect::<Vec<_>>(), "status": status })
                    );
                } else {
                    println!(
                        "{}  {:<32} {:<16} {} of ours, {} of theirs  {status}",
                        p.partner_id,
                        p.name.as_deref().unwrap_or("-"),
                        p.relation,
                        p.ours.len(),
                        p.theirs.len(),
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PartnersCmd::Connect {
            app,
            partner,
            account,
            workspace,
            json,
        } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let a = find_app(&store, &ws, &app).await?;
            let accounts = store.ws(ws.id).automation_accounts(None, 500).await?.items;
            let monitor = accounts
                .iter()
                .find(|x| x.id.to_string() == account || x.label.eq_ignore_ascii_case(&account))
                .ok_or_else(|| {
                    anyhow::anyhow!("no automation account with id or label {account:?}")
                })?;
            let svc = services(cfg, &store, ([127, 0, 0, 1], 0).into())?;
            let done = castellan_services::partners::connect_partner(
                &svc,
                ws.id,
                &cli_actor(),
                a.id,
                &partner,
                monitor.id,
            )
            .await?;
            let name = done.partner.name.clone().unwrap_or(partner);
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "partner_id": done.partner.partner_id, "name": name, "status": "connected", "warning": done.warning })
                );
            } else {
                println!(
                    "{name} is connected to Castellan through {}.",
                    monitor.label
                );
                if let Some(w) = done.warning {
                    println!("warning: {w}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PartnersCmd::Disconnect {
            app,
            partner,
            workspace,
        } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let a = find_app(&store, &ws, &app).await?;
            let svc = services(cfg, &store, ([127, 0, 0, 1], 0).into())?;
            let p = castellan_services::partners::disconnect_partner(
                &svc,
                ws.id,
                &cli_actor(),
                a.id,
                &partner,
            )
            .await?;
            println!(
                "{} is disconnected: Castellan no longer reads its business.",
                p.name.unwrap_or(partner)
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
