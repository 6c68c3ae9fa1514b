//! The connected partners of `castellan bench sync`: each generated partner's admin token as
//! an automation account, the partner connected through it as an admin would, and the fetch
//! floor of reading its users (the same requests, thrown away).

use castellan_domain::apps::Platform;
use castellan_domain::platform::SharedAsset;
use castellan_emulators::OnePlatform;
use castellan_emulators::scenario::{bench_monitor_token, generated_partner_id};
use castellan_services::Services;
use castellan_services::vault::seal_named;

use super::discard::Discard;
use crate::commands::cli_actor;

/// Connects the first `n` generated partners through their admins' tokens; returns each
/// partner's id and automation account.
pub(crate) async fn connect_partners(
    svc: &Services,
    ws: castellan_domain::WorkspaceId,
    app: &castellan_store::App,
    n: usize,
) -> anyhow::Result<Vec<(String, castellan_domain::AutomationAccountId)>> {
    let one = match app.platform {
        Platform::Pinterest => OnePlatform::Pinterest,
        Platform::Tiktok => OnePlatform::Tiktok,
    };
    let mut out = Vec::new();
    for j in 0..n {
        let (account, _) = svc
            .store
            .ws(ws)
            .create_automation_account(
                &cli_actor(),
                &castellan_store::NewAutomationAccount {
                    platform: app.platform,
                    label: format!("partner {j} monitor"),
                    email: format!("monitor@partner{j}.example.net"),
                    phone: None,
                    token_scopes: None,
                    token_expires_at: None,
                    secrets: vec![seal_named(
                        svc.store.env(),
                        &svc.vault,
                        ws,
                        "access_token",
                        &castellan_vault::Secret::new(bench_monitor_token(one, j)),
                    )],
                },
            )
            .await?;
        let partner = generated_partner_id(one, j).to_string();
        castellan_services::partners::connect_partner(
            svc,
            ws,
            &cli_actor(),
            app.id,
            &partner,
            account.id,
        )
        .await
        .map_err(|e| anyhow::anyhow!("partner {partner}: {e}"))?;
        out.push((partner, account.id));
    }
    Ok(out)
}

/// The floor of reading the connected partners' users: each partner's shared assets' members,
/// fetched and thrown away. Returns (seconds, requests, items).
pub(crate) async fn partner_floor(
    svc: &Services,
    ws: castellan_domain::WorkspaceId,
    app: &castellan_store::App,
    connected: &[(String, castellan_domain::AutomationAccountId)],
) -> anyhow::Result<(f64, u64, u64)> {
    let partners = svc.store.ws(ws).partners(app.id).await?;
    let t0 = std::time::Instant::now();
    let (mut requests, mut items) = (0, 0);
    for (partner, account) in connected {
        let Some(p) = partners.iter().find(|p| &p.partner_id == partner) else {
            continue;
        };
        let assets: Vec<SharedAsset> = p
            .ours
            .iter()
            .map(|a| SharedAsset {
                id: a.asset_id.clone(),
                kind: a.kind.clone(),
            })
            .collect();
        let monitor = svc.store.ws(ws).automation_account(*account).await?;
        let connector =
            castellan_services::partners::partner_connector(svc, ws, app, partner, &monitor, false)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut discard = Discard(0);
        let stats = connector.fetch_partner_users(&assets, &mut discard).await?;
        requests += stats.requests;
        items += discard.0;
    }
    Ok((t0.elapsed().as_secs_f64(), requests, items))
}
