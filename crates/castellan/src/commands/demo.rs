//! `castellan demo`: a fresh SQLite database, a sample workspace and directory, both
//! emulators in-process, one connected app per platform, served with a worker.

use std::process::ExitCode;

use castellan_domain::auth::{API_TOKEN_PREFIX, ApiScope, generate_secret, hash_secret};
use castellan_domain::directory::plan_csv_import;
use castellan_domain::values::Email;
use castellan_services::Services;

use crate::config::Config;
use castellan_services::vault::seal_named;

use super::admin::bootstrap;
use super::serve::serve;
use super::*;

pub(crate) const DEMO_DIRECTORY: &str = include_str!("../../demo/directory.csv");

/// Everything embedded: a fresh SQLite database in a new data directory, a workspace with its
/// Owner, the sample directory, and an API token, then the server.
pub(crate) async fn demo(mut cfg: Config) -> anyhow::Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("castellan-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    cfg.data_dir = dir.clone();
    cfg.database_url = None;
    let store = create_store(&cfg).await?;
    let (ws, password) = bootstrap(&store, "Demo", "owner@demo.example.com").await?;
    let plan = plan_csv_import(DEMO_DIRECTORY.as_bytes());
    anyhow::ensure!(
        plan.errors.is_empty(),
        "the built-in demo directory is invalid: {:?}",
        plan.errors
    );
    let sum = store
        .ws(ws.id)
        .import_identities(
            &cli_actor(),
            &plan.rows,
            plan.groups_column,
            "demo directory",
        )
        .await?;
    let owner = store
        .ws(ws.id)
        .person_by_email(&Email::parse("email", "owner@demo.example.com").expect("valid"))
        .await?;
    let secret = store
        .env()
        .with_rng(|r| generate_secret(API_TOKEN_PREFIX, r));
    store
        .ws(ws.id)
        .create_token(
            &cli_actor(),
            owner.id,
            "demo",
            ApiScope::Admin,
            &hash_secret(&secret),
        )
        .await?;
    // The emulated platforms, in this process, with the demo scenario.
    let world = castellan_emulators::World::new(
        castellan_emulators::ScenarioSource::Demo,
        1,
        Default::default(),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let emulators = castellan_emulators::start("127.0.0.1:0", world).await?;
    // One app per platform, connected through its automation account; the worker runs the
    // connectivity check and the first check for updates as soon as the server starts.
    let vault = open_vault(&cfg)?;
    let mut svc = Services::new(store.clone(), vault.clone());
    svc.mail.public_url = format!("http://{}", cfg.listen);
    // The agency Brightwave's admin is a guest user of the workspace, as the native-partner
    // seeds ask (their sign-in link waits in the outbox).
    castellan_services::guests::invite(
        &svc,
        ws.id,
        &cli_actor(),
        "lead@brightwave.example.net",
        Some("Brightwave lead (agency admin)"),
    )
    .await
    .map_err(|e| anyhow::anyhow!("inviting the demo's guest user: {e}"))?;
    use castellan_emulators::scenario as sc;
    let mut apps = Vec::new();
    for (platform, label, token, business, base) in [
        (
            castellan_domain::apps::Platform::Pinterest,
            "Acme Pinterest",
            sc::PINTEREST_AUTOMATION_TOKEN,
            sc::PINTEREST_BRAND.to_string(),
            emulators.pinterest_url(),
        ),
        (
            castellan_domain::apps::Platform::Tiktok,
            "Acme TikTok",
            sc::TIKTOK_AUTOMATION_TOKEN,
            sc::TIKTOK_BRAND.to_string(),
            emulators.tiktok_url(),
        ),
    ] {
        let scoped = store.ws(ws.id);
        let secrets = [
            ("password", "demo-automation-password"),
            ("access_token", token),
        ]
        .into_iter()
        .map(|(name, value)| {
            seal_named(
                store.env(),
                &vault,
                ws.id,
                name,
                &castellan_vault::Secret::new(value),
            )
        })
        .collect();
        let new = castellan_store::NewAutomationAccount {
            platform,
            label: format!("{label} automation"),
            email: "castellan-automation@acme.example.com".into(),
            phone: None,
            token_scopes: None,
            token_expires_at: None,
            secrets,
        };
        let (account, _) = scoped.create_automation_account(&cli_actor(), &new).await?;
        let (app, _) = castellan_services::apps::connect_app(
            &svc,
            ws.id,
            &cli_actor(),
            None,
            castellan_services::apps::ConnectApp {
                platform,
                label: label.into(),
                business_id: business,
                login_method: castellan_domain::apps::LoginMethod::Password,
                automation_account_id: account.id,
                api_base_url: Some(base),
            },
        )
        .await?;
        castellan_services::apps::request_check(&store, ws.id, &cli_actor(), None, app.id).await?;
        apps.push((label, app.id));
    }
    // The workspace's platform apps on the emulators, so the Connect app wizard can get a
    // new automation account's token through the emulated consent page.
    let base = emulators.base_url();
    for (platform, client_id, secret, authorize, token) in [
        (
            castellan_domain::apps::Platform::Pinterest,
            sc::PINTEREST_CLIENT_ID,
            sc::PINTEREST_CLIENT_SECRET,
            format!("{base}/oauth/"),
            format!("{base}/v5/oauth/token"),
        ),
        (
            castellan_domain::apps::Platform::Tiktok,
            sc::TIKTOK_APP_ID,
            sc::TIKTOK_APP_SECRET,
            format!("{base}/portal/auth"),
            format!("{base}/open_api/v1.3/oauth2/access_token/"),
        ),
    ] {
        let sealed = seal_named(
            store.env(),
            &vault,
            ws.id,
            "client_secret",
            &castellan_vault::Secret::new(secret),
        );
        store
            .ws(ws.id)
            .put_platform_app(
                &cli_actor(),
                platform,
                client_id,
                &authorize,
                &token,
                &sealed,
            )
            .await?;
    }
    let url = format!("http://{}", cfg.listen);
    let app_lines: String = apps
        .iter()
        .map(|(l, id)| format!("  {l}: {url}/apps/{id}/members\n"))
        .collect();
    let banner = format!(
        "\nDemo workspace ready (data in {dir}).\n  Web app:   {url}/signin  (owner@demo.example.com, one-time password {password}; you choose your own at first sign-in)\n  API token: {secret}\n  Directory: {} identities imported\n  Emulated platforms: {} (control API at /_emulator/info)\n  Guest user: lead@brightwave.example.net, the agency Brightwave's admin (Directory → Guest users → Show link gives their sign-in link)\n{app_lines}\nTry:\n  curl -H 'Authorization: Bearer {secret}' {url}/api/v1/apps\n  curl -H 'Authorization: Bearer {secret}' '{url}/api/v1/apps/{}/members?tab=unmatched'\n  curl -H 'Authorization: Bearer {secret}' '{url}/api/v1/tasks?limit=5'\n  curl -H 'Authorization: Bearer {secret}' {url}/api/v1/audit/events\n  castellan --data-dir {dir} audit verify\n\nManage members (no SMTP here: e-mails wait in the outbox):\n  castellan --data-dir {dir} reports list \"{first}\"          # the two leavers await removal\n  castellan --data-dir {dir} reports apply \"{first}\" REPORT_ID --dry-run\n  castellan --data-dir {dir} members list \"{first}\" --tab unmatched\n  castellan --data-dir {dir} members remove \"{first}\" SEAT_ID --wait\n  castellan --data-dir {dir} outbox\n",
        sum.created,
        emulators.base_url(),
        apps[0].1,
        dir = dir.display(),
        first = apps[0].0,
    );
    // A new app connected in the wizard reaches the embedded emulators unless told otherwise.
    let defaults = vec![
        (
            castellan_domain::apps::Platform::Pinterest,
            emulators.pinterest_url(),
        ),
        (
            castellan_domain::apps::Platform::Tiktok,
            emulators.tiktok_url(),
        ),
    ];
    let result = serve(&cfg, store, Some(banner), defaults).await;
    drop(emulators);
    // The demo's data lives only as long as the demo.
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        eprintln!("could not remove the demo's folder {}: {e}", dir.display());
    }
    result
}
