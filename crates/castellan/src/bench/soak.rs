//! `castellan bench soak`: checks for updates and member changes on both emulated platforms
//! for a while (30 minutes unless told), the platforms answering a share of requests with a
//! 5xx and keeping tight rate limits (429 beyond them). Prints memory over time, the tasks by
//! outcome and how often they were retried, tasks left unfinished, and whether Castellan's
//! seats equal the platforms' members once the faults stop and a last check ran.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use castellan_domain::apps::Platform;
use castellan_domain::changes::Request;
use castellan_domain::tasks::TaskStatus;
use castellan_emulators::scenario as sc;
use castellan_services::members::{Handling, plan_and_queue};

use super::{BenchApp, bench_app, rss_kb, spawn_worker};
use crate::commands::admin::bootstrap;
use crate::commands::*;
use crate::config::Config;

/// What a soak run is told.
pub(crate) struct Soak {
    pub minutes: f64,
    pub members: usize,
    /// Share (0–1) of platform requests answered with a 5xx.
    pub error_rate: f64,
    /// Requests per second each platform allows before answering 429.
    pub platform_rate: f64,
}

/// The platform's members, by user id.
async fn platform_members(emu: &castellan_emulators::Running, p: Platform) -> BTreeSet<String> {
    let url = match p {
        Platform::Pinterest => format!(
            "{}/_emulator/pinterest/businesses/{}",
            emu.base_url(),
            sc::PINTEREST_BRAND
        ),
        Platform::Tiktok => format!(
            "{}/_emulator/tiktok/bcs/{}",
            emu.base_url(),
            sc::TIKTOK_BRAND
        ),
    };
    let v: serde_json::Value = reqwest::get(url)
        .await
        .expect("the emulator answers")
        .json()
        .await
        .expect("json");
    v["members"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["user"]["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Castellan's live member seats of an app (members and system users, not invitations).
async fn our_members(
    store: &castellan_store::Store,
    ws: castellan_domain::WorkspaceId,
    app: castellan_domain::AppId,
) -> anyhow::Result<BTreeSet<String>> {
    use castellan_domain::apps::{SeatState, Tab};
    let mut out = BTreeSet::new();
    for state in [
        SeatState::Onboarded,
        SeatState::Unmatched,
        SeatState::Exempted,
    ] {
        let mut cursor: Option<String> = None;
        loop {
            let page = store
                .ws(ws)
                .seats(app, Tab::Seats(state), None, cursor.as_deref(), 1000)
                .await?;
            out.extend(page.items.into_iter().map(|x| x.user_id));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
    }
    Ok(out)
}

async fn set_faults(emu: &castellan_emulators::Running, f: &castellan_emulators::Faults) {
    reqwest::Client::new()
        .put(format!("{}/_emulator/faults", emu.base_url()))
        .json(f)
        .send()
        .await
        .expect("the emulator takes its faults");
}

pub(crate) async fn bench_soak(cfg: &Config, s: Soak) -> anyhow::Result<ExitCode> {
    let scale = castellan_emulators::Scale {
        members: s.members,
        assets: (s.members / 10).max(10),
        partners: 0,
        grants_per_member: 2,
        ..Default::default()
    };
    let world = castellan_emulators::World::new(
        castellan_emulators::ScenarioSource::Generated(scale),
        1,
        Default::default(),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let emu = castellan_emulators::start("127.0.0.1:0", world).await?;
    let dir = std::env::temp_dir().join(format!("castellan-soak-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut cfg = cfg.clone();
    cfg.data_dir = dir.clone();
    let store = create_store(&cfg).await?;
    let (ws, _) = bootstrap(&store, "Soak", "owner@soak.example.com").await?;
    let vault = open_vault(&cfg)?;
    let mut apps = Vec::new();
    let mut svc = None;
    for (platform, token, base, business, label) in [
        (
            Platform::Pinterest,
            sc::PINTEREST_AUTOMATION_TOKEN,
            emu.pinterest_url(),
            sc::PINTEREST_BRAND.to_string(),
            "soak pinterest",
        ),
        (
            Platform::Tiktok,
            sc::TIKTOK_AUTOMATION_TOKEN,
            emu.tiktok_url(),
            sc::TIKTOK_BRAND.to_string(),
            "soak tiktok",
        ),
    ] {
        let (sv, app) = bench_app(
            &store,
            &vault,
            ws.id,
            BenchApp {
                platform,
                token,
                base,
                business,
                label,
                concurrency: 4,
            },
        )
        .await?;
        apps.push(app);
        svc = Some(sv);
    }
    let mut svc = svc.expect("two apps");
    // Patient retries, as `serve` has them, a little quicker so a run of minutes sees many.
    svc.http.backoff_base = Duration::from_millis(100);
    svc.http.backoff_max = Duration::from_secs(5);
    svc.http.max_retries = 10;
    let faults = castellan_emulators::Faults {
        error_rate: s.error_rate,
        pinterest_ads_read_per_sec: s.platform_rate,
        pinterest_ads_write_per_sec: s.platform_rate,
        pinterest_org_per_sec: s.platform_rate,
        tiktok_qps: s.platform_rate,
        ..Default::default()
    };
    set_faults(&emu, &faults).await;
    let stop = spawn_worker(&cfg, &svc);
    let actor = cli_actor();
    let started = Instant::now();
    let deadline = Duration::from_secs_f64(s.minutes * 60.0);
    // A small deterministic generator (xorshift): the same run makes the same choices.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut pick = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n.max(1)
    };
    let mut samples: Vec<(f64, u64)> = Vec::new();
    let mut last_sample = Instant::now() - Duration::from_secs(60);
    let (mut checks, mut invites, mut removals) = (0u64, 0u64, 0u64);
    let mut next_invite = 0u64;
    let mut removable: Vec<Vec<String>> = vec![Vec::new(), Vec::new()];
    println!(
        "soak: {:.1} min, {} members per platform, {:.0}% 5xx, {} requests/s before 429",
        s.minutes,
        s.members,
        s.error_rate * 100.0,
        s.platform_rate
    );
    while started.elapsed() < deadline {
        if last_sample.elapsed() >= Duration::from_secs(5) {
            samples.push((started.elapsed().as_secs_f64(), rss_kb().0));
            last_sample = Instant::now();
        }
        let i = pick(apps.len() as u64) as usize;
        let app = &apps[i];
        let busy = store
            .ws(ws.id)
            .tasks(
                &castellan_store::TaskFilter {
                    status: Some(TaskStatus::Pending),
                    kind: None,
                    app_id: Some(app.id),
                },
                None,
                5,
            )
            .await?
            .items
            .len();
        if busy >= 3 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        match pick(10) {
            0..=2 => {
                castellan_services::apps::request_check(&store, ws.id, &actor, None, app.id)
                    .await?;
                checks += 1;
            }
            3..=6 => {
                let role = if app.platform == Platform::Pinterest {
                    "EMPLOYEE"
                } else {
                    "STANDARD"
                };
                let request = Request::Invite {
                    email: format!("soak{next_invite}@soak.example.com"),
                    role: role.into(),
                    assets: Vec::new(),
                };
                next_invite += 1;
                if plan_and_queue(&svc, ws.id, &actor, None, app, request, Handling::default())
                    .await
                    .is_ok()
                {
                    invites += 1;
                }
            }
            _ => {
                if removable[i].is_empty() {
                    let page = store
                        .ws(ws.id)
                        .seats(
                            app.id,
                            castellan_domain::apps::Tab::Seats(
                                castellan_domain::apps::SeatState::Unmatched,
                            ),
                            None,
                            None,
                            50,
                        )
                        .await?;
                    removable[i] = page
                        .items
                        .into_iter()
                        .filter(|x| x.kind == castellan_domain::platform::SeatKind::Member)
                        .map(|x| x.user_id)
                        .collect();
                }
                if let Some(seat) = removable[i].pop() {
                    let request = Request::Remove { seats: vec![seat] };
                    if plan_and_queue(&svc, ws.id, &actor, None, app, request, Handling::default())
                        .await
                        .is_ok()
                    {
                        removals += 1;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100 + pick(400))).await;
    }
    // Drain: every task queued must end.
    let drain = Instant::now();
    let mut stuck = usize::MAX;
    while drain.elapsed() < Duration::from_secs(600) {
        let mut open = 0;
        for st in [TaskStatus::Pending, TaskStatus::InProgress] {
            open += store
                .ws(ws.id)
                .tasks(
                    &castellan_store::TaskFilter {
                        status: Some(st),
                        kind: None,
                        app_id: None,
                    },
                    None,
                    1000,
                )
                .await?
                .items
                .len();
        }
        stuck = open;
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The faults stop; a last check of each app; Castellan's seats against the platforms'.
    set_faults(&emu, &castellan_emulators::Faults::default()).await;
    let mut exact = true;
    for app in &apps {
        let t =
            castellan_services::apps::request_check(&store, ws.id, &actor, None, app.id).await?;
        let done = super::wait_task(&store, ws.id, t.id).await?;
        anyhow::ensure!(
            done.status == TaskStatus::Completed,
            "the last check failed: {:?}",
            done.error
        );
        let ours = our_members(&store, ws.id, app.id).await?;
        let theirs = platform_members(&emu, app.platform).await;
        if ours != theirs {
            exact = false;
            println!(
                "{}: {} seats in Castellan, {} members on the platform, {} differ",
                app.platform,
                ours.len(),
                theirs.len(),
                ours.symmetric_difference(&theirs).count()
            );
        }
    }
    stop.cancel();
    let requests: serde_json::Value =
        reqwest::get(format!("{}/_emulator/requests", emu.base_url()))
            .await?
            .json()
            .await?;
    let requests = requests["total"].as_u64().unwrap_or(0);
    let mut by_status = std::collections::BTreeMap::new();
    let mut retried = 0u64;
    let mut cursor = None;
    loop {
        let page = store
            .ws(ws.id)
            .tasks(&castellan_store::TaskFilter::default(), cursor, 500)
            .await?;
        for t in &page.items {
            *by_status.entry(t.status.as_str()).or_insert(0u64) += 1;
            retried += (t.attempts - 1).max(0) as u64;
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c.parse()?),
            None => break,
        }
    }
    let after_warmup: Vec<u64> = samples
        .iter()
        .filter(|(t, _)| *t >= deadline.as_secs_f64() * 0.25)
        .map(|(_, r)| *r)
        .collect();
    let (lo, hi) = (
        after_warmup.iter().min().copied().unwrap_or(0),
        after_warmup.iter().max().copied().unwrap_or(0),
    );
    println!(
        "{checks} checks, {invites} invitations, {removals} removals queued; {requests} platform requests; tasks {by_status:?}, {retried} retried attempts"
    );
    println!(
        "RSS after warm-up: {} MB to {} MB ({} samples); tasks unfinished after the drain: {stuck}; final state exact: {exact}",
        lo / 1024,
        hi / 1024,
        after_warmup.len()
    );
    println!(
        "{}",
        serde_json::json!({
            "bench": "soak", "minutes": s.minutes, "members": s.members, "error_rate": s.error_rate,
            "platform_rate": s.platform_rate, "checks": checks, "invitations": invites, "removals": removals,
            "platform_requests": requests, "tasks": by_status, "retried_attempts": retried, "unfinished": stuck, "exact": exact,
            "rss_mb_after_warmup": [lo / 1024, hi / 1024],
            "rss_samples": samples.iter().map(|(t, r)| serde_json::json!([t.round(), r / 1024])).collect::<Vec<_>>(),
        })
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(if exact && stuck == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
