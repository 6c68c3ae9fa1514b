//! `castellan partners`: an app's native partners, with the assets shared each way.

use std::process::ExitCode;

use clap::Subcommand;

use super::apps::find_app;
use super::{open_store, pick_workspace};
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
                let status = if p.eligible() {
                    "pending_onboarding"
                } else {
                    "not_eligible"
                };
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
    }
}
