//! `castellan partners`: an app's native partners, with the assets shared each way;
//! connecting one to Castellan (through the platform's consent page when the account holds no
//! token yet); stopping sharing with it or ending the partnership, previewed with the exact
//! platform calls (`--dry-run`) and made by a task (`--wait` follows it).

use std::process::ExitCode;

use clap::Subcommand;

use super::apps::find_app;
use super::{cli_actor, open_store, pick_workspace, services};
use crate::config::Config;

#[derive(Subcommand)]
pub enum PartnersCmd {
    /// Local partners: organizations of guest users with Host and Guest Admins.
    Local {
        #[command(subcommand)]
        cmd: super::local_partners::LocalCmd,
    },
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
    /// Stop sharing our assets with a partner (it and its users lose access).
    StopSharing {
        /// App id or label.
        app: String,
        /// The partner's business id.
        partner: String,
        /// An asset to stop sharing (repeat it); none: every one the partner uses.
        #[arg(long = "asset")]
        assets: Vec<String>,
        #[command(flatten)]
        run: ChangeRun,
    },
    /// End the partnership on the platform, both ways it runs (a connected partner is
    /// disconnected too).
    Remove {
        /// App id or label.
        app: String,
        /// The partner's business id.
        partner: String,
        #[command(flatten)]
        run: ChangeRun,
    },
    /// Stop reading a partner's business and delete its imported users (the automation account
    /// stays; the platform is not called).
    Disconnect {
        /// App id or label.
        app: String,
        /// The partner's business id.
        partner: String,
        #[arg(long)]
        workspace: Option<String>,
    },
}

/// How a partnership change is run.
#[derive(clap::Args, Clone)]
pub struct ChangeRun {
    /// Print what it does and its exact platform calls, and change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Wait for the task, with a progress spinner.
    #[arg(long)]
    wait: bool,
    #[arg(long)]
    workspace: Option<String>,
    #[arg(long)]
    json: bool,
}

async fn partner_change(
    cfg: &Config,
    store: &castellan_store::Store,
    app: &str,
    partner: &str,
    request: castellan_domain::partnership::PartnerRequest,
    run: ChangeRun,
) -> anyhow::Result<ExitCode> {
    use castellan_services::partnership::{preview_partner_change, request_partner_change};
    let ws = pick_workspace(store, run.workspace.as_deref()).await?;
    let a = find_app(store, &ws, app).await?;
    let svc = services(cfg, store, ([127, 0, 0, 1], 0).into())?;
    let preview = preview_partner_change(&svc, ws.id, a.id, partner, &request).await?;
    let show = |task: Option<String>| {
        if run.json {
            println!(
                "{}",
                serde_json::json!({ "summary": preview.summary, "calls": preview.calls, "plan_hash": preview.plan_hash, "task_id": task })
            );
        } else {
            println!("{}", preview.summary);
            for c in &preview.calls {
                println!("  {c}");
            }
            if let Some(t) = &task {
                println!("queued as task {t} (castellan serve or castellan worker runs it)");
            }
        }
    };
    if run.dry_run {
        show(None);
        return Ok(ExitCode::SUCCESS);
    }
    let (_, task) = request_partner_change(
        &svc,
        ws.id,
        &cli_actor(),
        None,
        a.id,
        partner,
        request,
        &preview.plan_hash.clone(),
    )
    .await?;
    show(Some(task.id.to_string()));
    if !run.wait {
        return Ok(ExitCode::SUCCESS);
    }
    let done = super::wait_with_spinner(store, &ws, &task).await?;
    println!("{}", done.status);
    Ok(
        if done.status == castellan_domain::tasks::TaskStatus::Completed {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        },
    )
}

pub(crate) async fn partners(cfg: &Config, cmd: PartnersCmd) -> anyhow::Result<ExitCode> {
    let store = open_store(cfg).await?;
    match cmd {
        PartnersCmd::Local { cmd } => super::local_partners::local(cfg, &store, cmd).await,
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
            // Where the platform sends the browser back: the configured public URL, else the
            // address `castellan serve` listens on.
            let public_url = cfg
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", cfg.listen));
            let next = castellan_services::partner_consent::connect_through(
                &svc,
                ws.id,
                &cli_actor(),
                None,
                a.id,
                &partner,
                castellan_services::partner_consent::MonitorChoice::Account(monitor.id),
                &public_url,
            )
            .await?;
            let done = match next {
                castellan_services::partner_consent::NextStep::Connected(done) => done,
                castellan_services::partner_consent::NextStep::Consent { authorize_url } => {
                    if json {
                        println!(
                            "{}",
                            serde_json::json!({ "partner_id": partner, "status": "awaiting_consent", "authorize_url": authorize_url })
                        );
                    } else {
                        println!(
                            "{} holds no token yet: open this address, sign in as it on the platform's consent page and confirm; the partner is connected when Castellan (castellan serve at {public_url}) receives the answer:\n  {authorize_url}",
                            monitor.label
                        );
                    }
                    return Ok(ExitCode::SUCCESS);
                }
            };
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
        PartnersCmd::StopSharing {
            app,
            partner,
            assets,
            run,
        } => {
            partner_change(
                cfg,
                &store,
                &app,
                &partner,
                castellan_domain::partnership::PartnerRequest::StopSharing { assets },
                run,
            )
            .await
        }
        PartnersCmd::Remove { app, partner, run } => {
            partner_change(
                cfg,
                &store,
                &app,
                &partner,
                castellan_domain::partnership::PartnerRequest::Remove,
                run,
            )
            .await
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
