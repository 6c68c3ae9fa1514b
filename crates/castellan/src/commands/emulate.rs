//! `castellan emulate`: the Pinterest and TikTok emulators on one listener.

use std::process::ExitCode;

use anyhow::Context;

use super::*;
use crate::EmulateArgs;

pub(crate) fn emulator_source(
    args: &EmulateArgs,
) -> anyhow::Result<castellan_emulators::ScenarioSource> {
    use castellan_emulators::{Scale, ScenarioSource};
    if args.members.is_some()
        || args.assets.is_some()
        || args.partners.is_some()
        || args.grants_per_member.is_some()
    {
        let members = args.members.unwrap_or(1000);
        let scale = Scale {
            members,
            assets: args.assets.unwrap_or((members / 10).max(1)),
            partners: args.partners.unwrap_or((members / 100).max(1)),
            grants_per_member: args.grants_per_member.unwrap_or(10),
            connected_partners: args.connected_partners,
            partner_users: args.partner_users,
        };
        return Ok(match args.only.as_deref() {
            None => ScenarioSource::Generated(scale),
            Some("pinterest") => ScenarioSource::GeneratedOne {
                scale,
                platform: castellan_emulators::OnePlatform::Pinterest,
            },
            Some("tiktok") => ScenarioSource::GeneratedOne {
                scale,
                platform: castellan_emulators::OnePlatform::Tiktok,
            },
            Some(other) => anyhow::bail!("--only: {other:?} is neither pinterest nor tiktok"),
        });
    }
    if args.scenario == "demo" {
        return Ok(ScenarioSource::Demo);
    }
    let text = std::fs::read_to_string(&args.scenario)
        .with_context(|| format!("reading scenario {}", args.scenario))?;
    let s: castellan_emulators::scenario::Scenario =
        serde_json::from_str(&text).with_context(|| format!("scenario {}", args.scenario))?;
    Ok(ScenarioSource::Json(Box::new(s)))
}

pub(crate) async fn emulate(args: EmulateArgs) -> anyhow::Result<ExitCode> {
    use castellan_emulators::scenario as sc;
    let mut faults = castellan_emulators::Faults {
        latency_ms: args.latency_ms,
        error_rate: args.error_rate,
        timeout_rate: args.timeout_rate,
        pinterest_ads_read_per_sec: args.ads_read_per_sec,
        pinterest_ads_write_per_sec: args.ads_write_per_sec,
        tiktok_qps: args.tiktok_qps,
        ..Default::default()
    };
    if let Some(t) = args.token_ttl_secs {
        faults.pinterest_token_ttl_secs = t;
    }
    faults
        .validate()
        .map_err(|e| anyhow::anyhow!("faults: {e}"))?;
    let source = emulator_source(&args)?;
    let started = std::time::Instant::now();
    let world = castellan_emulators::World::new(source, args.seed, faults)
        .map_err(|e| anyhow::anyhow!("scenario: {e}"))?;
    let built = started.elapsed();
    let running = castellan_emulators::start(&args.listen, world)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let base = running.base_url();
    println!(
        "Castellan emulators listening on {base} (scenario built in {:.2}s)",
        built.as_secs_f64()
    );
    println!();
    println!("Pinterest API v5:      {base}/v5");
    println!("  consent page:        {base}/oauth/");
    println!("  business id:         {}", sc::PINTEREST_BRAND);
    println!("  automation token:    {}", sc::PINTEREST_AUTOMATION_TOKEN);
    println!(
        "  app client id/secret: {} / {}",
        sc::PINTEREST_CLIENT_ID,
        sc::PINTEREST_CLIENT_SECRET
    );
    println!("TikTok API v1.3:       {base}/open_api/v1.3");
    println!("  consent page:        {base}/portal/auth");
    println!("  business center id:  {}", sc::TIKTOK_BRAND);
    println!("  automation token:    {}", sc::TIKTOK_AUTOMATION_TOKEN);
    println!(
        "  app id/secret:       {} / {}",
        sc::TIKTOK_APP_ID,
        sc::TIKTOK_APP_SECRET
    );
    println!("Control API:           {base}/_emulator/info");
    let shutdown = shutdown_signal();
    shutdown.cancelled().await;
    drop(running);
    Ok(ExitCode::SUCCESS)
}
