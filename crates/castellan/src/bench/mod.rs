//! `castellan bench …`: figures (speed, memory), never pass/fail tests.

mod discard;
mod emulator;
mod partners;
mod scim;
mod soak;
mod web;
pub(crate) use discard::Discard;
pub(crate) use emulator::EmulatorProcess;
pub(crate) use scim::bench_scim;
pub(crate) use soak::{Soak, bench_soak};
pub(crate) use web::bench_web;

use std::process::ExitCode;
use std::time::Duration;

use castellan_services::Services;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use castellan_services::vault::seal_named;

use crate::commands::admin::bootstrap;
use crate::commands::*;

/// The directory a sync benchmark starts with.
pub(crate) struct Directory {
    pub identities: usize,
    /// The share of them holding a seat of the generated business.
    pub matching: f64,
}

/// A CSV of `d.identities` people: the first share are generated members of the business
/// (`member{i}@scale.example.com`, so each matches a seat), the rest hold no seat.
fn directory_csv(d: &Directory, members: usize) -> String {
    let matching = ((d.identities as f64 * d.matching) as usize).min(members);
    let mut csv = String::from("userName,email,givenName,familyName,active,groups\n");
    for i in 0..d.identities {
        let (user, email) = if i < matching {
            (
                format!("member_{i}"),
                format!("member{i}@scale.example.com"),
            )
        } else {
            (
                format!("person_{i}"),
                format!("person{i}@scale.example.com"),
            )
        };
        csv.push_str(&format!(
            "{user},{email},Given{i},Family{i},true,Team {}\n",
            i % 20
        ));
    }
    csv
}

pub(crate) async fn bench_sync(
    cfg: &Config,
    platform: &str,
    scale: castellan_emulators::Scale,
    concurrency: usize,
    directory: Directory,
) -> anyhow::Result<ExitCode> {
    use castellan_emulators::scenario as sc;
    let platform = castellan_domain::apps::Platform::parse("--platform", platform)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Only the measured platform is generated, so the figures carry no other business; in a
    // process of its own, so this process's peak RSS is Castellan's.
    let emu = EmulatorProcess::start(platform, scale).await?;
    let (_, baseline) = emu.rss_kb();
    // A fresh database: SQLite in a temporary directory, or the one given.
    let dir = std::env::temp_dir().join(format!("castellan-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut cfg = cfg.clone();
    cfg.data_dir = dir.clone();
    let store = create_store(&cfg).await?;
    let (ws, _) = bootstrap(&store, "Bench", "owner@bench.example.com").await?;
    let vault = open_vault(&cfg)?;
    let (token, base, business) = match platform {
        castellan_domain::apps::Platform::Pinterest => (
            sc::PINTEREST_AUTOMATION_TOKEN,
            format!("{}/v5", emu.base),
            sc::PINTEREST_BRAND.to_string(),
        ),
        castellan_domain::apps::Platform::Tiktok => (
            sc::TIKTOK_AUTOMATION_TOKEN,
            format!("{}/open_api/v1.3", emu.base),
            sc::TIKTOK_BRAND.to_string(),
        ),
    };
    let (svc, app) = bench_app(
        &store,
        &vault,
        ws.id,
        BenchApp {
            platform,
            token,
            base,
            business,
            label: "bench",
            concurrency,
        },
    )
    .await?;
    // The directory, so matching is in the figure.
    let csv = directory_csv(&directory, scale.members);
    let t0 = std::time::Instant::now();
    let imported = castellan_services::directory::import_csv(
        &store,
        ws.id,
        &cli_actor(),
        csv.as_bytes(),
        "csv",
        false,
        false,
    )
    .await?;
    anyhow::ensure!(!imported.refused, "the generated directory was refused");
    println!(
        "directory: {} identities ({} holding a seat), imported in {:.2}s",
        directory.identities,
        ((directory.identities as f64 * directory.matching) as usize).min(scale.members),
        t0.elapsed().as_secs_f64()
    );
    // The fetch floor: the same pages, same concurrency, thrown away; three times, the median
    // kept (one run's noise would move every ratio).
    let connector = castellan_services::apps::connector_for(&svc, ws.id, &app)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let cpu0 = (cpu_secs("/proc/self/stat"), emu.cpu_secs());
    let (floors, floor_stats, floor_items) = fetch_thrice(
        connector.as_ref(),
        &castellan_domain::coverage::FetchScope::everything(),
    )
    .await?;
    let floor = floors[1];
    println!(
        "fetch floor: {:.2}s (median of {:.2}s, {:.2}s, {:.2}s), {} requests, {} items; CPU per run: Castellan {:.2}s, the emulator {:.2}s",
        floor,
        floors[0],
        floors[1],
        floors[2],
        floor_stats.requests,
        floor_items,
        (cpu_secs("/proc/self/stat") - cpu0.0) / 3.0,
        (emu.cpu_secs() - cpu0.1) / 3.0
    );
    // The real checks, through the worker: the business alone first (a partner can be
    // connected only once a check has seen it), then with the partners connected, then a
    // re-check: all three full passes. Last, a re-check as `serve` runs it by default, with
    // the coverage window of the configuration (TikTok's; Pinterest reads everything).
    let mut svc = svc;
    svc.coverage = crate::commands::coverage(&cfg);
    let stop = spawn_worker(&cfg, &svc);
    let mut runs = Vec::new();
    let mut partner_floor = (0.0, 0, 0);
    let mut window_floor = (0.0, 0);
    for label in [
        "first check",
        "first check of the partners' users",
        "no-change re-check",
        "re-check in the coverage window",
    ] {
        let windowed = label == "re-check in the coverage window";
        if windowed {
            // Its floor: the same scope's fetch, thrown away (the app as checked now).
            let app = store.ws(ws.id).app(app.id).await?;
            let scope = castellan_services::apps::fetch_scope(&svc, ws.id, &app, false)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let c = castellan_services::apps::connector_for(&svc, ws.id, &app)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            // As the full floor is: one run on a busy machine ranged from 3.9 s to 10.6 s.
            let (secs, stats, _) = fetch_thrice(c.as_ref(), &scope).await?;
            window_floor = (secs[1] + partner_floor.0, stats.requests);
            println!(
                "coverage-window fetch floor: {:.2}s (median of {:.2}s, {:.2}s, {:.2}s), {} requests ({} assets' holders read, {} kept, {} partners kept)",
                window_floor.0,
                secs[0],
                secs[1],
                secs[2],
                stats.requests,
                stats.holders_read,
                stats.holders_kept,
                stats.shares_kept
            );
        }
        if label == "first check of the partners' users" {
            let connected =
                partners::connect_partners(&svc, ws.id, &app, scale.connected_partners).await?;
            partner_floor = partners::partner_floor(&svc, ws.id, &app, &connected).await?;
            println!(
                "partners' fetch floor: {:.2}s, {} requests, {} items ({} partners connected, {} users each)",
                partner_floor.0,
                partner_floor.1,
                partner_floor.2,
                connected.len(),
                scale.partner_users + 1
            );
        }
        let floor_now = if label == "first check" {
            floor
        } else if windowed {
            window_floor.0
        } else {
            floor + partner_floor.0
        };
        let task = castellan_services::apps::request_check_of(
            &store,
            ws.id,
            &cli_actor(),
            None,
            app.id,
            !windowed,
        )
        .await?;
        let t0 = std::time::Instant::now();
        let cpu0 = (
            cpu_secs("/proc/self/stat"),
            emu.cpu_secs(),
            postgres_cpu_secs(),
        );
        let done = wait_task(&store, ws.id, task.id).await?;
        let secs = t0.elapsed().as_secs_f64();
        let cpu = (
            cpu_secs("/proc/self/stat") - cpu0.0,
            emu.cpu_secs() - cpu0.1,
            postgres_cpu_secs() - cpu0.2,
        );
        anyhow::ensure!(
            done.status == castellan_domain::tasks::TaskStatus::Completed,
            "{label} failed: {:?}",
            done.error
        );
        let r = done.result.unwrap_or_default();
        let items = r["fetch"]["seats"].as_u64().unwrap_or(0)
            + r["fetch"]["assets"].as_u64().unwrap_or(0)
            + r["fetch"]["grants"].as_u64().unwrap_or(0);
        println!(
            "{label}: {secs:.2}s, {} requests, {:.0} items/s, ratio to floor {:.2}, {} rows written, {} assets' holders read and {} kept; CPU: Castellan {:.2}s, the emulator {:.2}s, a local PostgreSQL {:.2}s",
            r["fetch"]["requests"],
            items as f64 / secs,
            secs / floor_now,
            r["changes"]["rows_written"],
            r["fetch"]["holders_read"],
            r["fetch"]["holders_kept"],
            cpu.0,
            cpu.1,
            cpu.2
        );
        runs.push(serde_json::json!({ "seconds": secs, "requests": r["fetch"]["requests"], "items_per_second": items as f64 / secs, "ratio_to_floor": secs / floor_now, "rows_written": r["changes"]["rows_written"], "holders_read": r["fetch"]["holders_read"], "holders_kept": r["fetch"]["holders_kept"], "shares_kept": r["fetch"]["shares_kept"], "cpu_seconds": { "castellan": cpu.0, "emulator": cpu.1, "local_postgres": cpu.2 } }));
    }
    stop.cancel();
    let (_, peak) = rss_kb();
    let (_, emulator_peak) = emu.rss_kb();
    let members = scale.members.max(1) as f64;
    let per_thousand = floor_stats.requests as f64 * 1000.0 / members;
    // The documented limits, which `serve` keeps to by default.
    let limit_per_sec = castellan_services::PlatformRates::DOCUMENTED
        .for_platform(platform)
        .unwrap_or(10.0);
    println!(
        "Castellan's peak RSS {} MB (the emulator, a process of its own: {} MB with its data, {} MB at its peak); {:.1} requests per 1,000 members, {:.0}s at the documented rate limit; in the coverage window {} requests, {:.0}s",
        peak / 1024,
        baseline / 1024,
        emulator_peak / 1024,
        per_thousand,
        floor_stats.requests as f64 / limit_per_sec,
        window_floor.1,
        window_floor.1 as f64 / limit_per_sec
    );
    println!(
        "{}",
        serde_json::json!({
            "bench": "sync", "platform": platform.as_str(), "database": store.backend().name(), "members": scale.members, "assets": scale.assets, "partners": scale.partners, "grants_per_member": scale.grants_per_member,
            "connected_partners": scale.connected_partners, "partner_users": scale.partner_users + 1,
            "directory": directory.identities, "directory_matching": directory.matching,
            "floor_seconds": floor, "floor_runs": floors, "partners_floor_seconds": partner_floor.0, "partners_floor_requests": partner_floor.1,
            "first": runs[0], "partners_first": runs[1], "recheck": runs[2], "window_recheck": runs[3], "window_requests": window_floor.1, "window_seconds_at_documented_rate_limit": window_floor.1 as f64 / limit_per_sec, "peak_rss_mb": peak / 1024, "emulator_rss_mb": baseline / 1024, "emulator_peak_rss_mb": emulator_peak / 1024,
            "requests_per_1000_members": per_thousand, "seconds_at_documented_rate_limit": floor_stats.requests as f64 / limit_per_sec,
        })
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}

/// What a benchmark connects.
pub(crate) struct BenchApp<'a> {
    pub platform: castellan_domain::apps::Platform,
    pub token: &'a str,
    pub base: String,
    pub business: String,
    pub label: &'a str,
    pub concurrency: usize,
}

/// An automation account holding `token` and an app over it, through the services as every
/// caller does, with services whose connectors are unthrottled.
pub(crate) async fn bench_app(
    store: &castellan_store::Store,
    vault: &std::sync::Arc<castellan_vault::SharedKeyring>,
    ws: castellan_domain::WorkspaceId,
    b: BenchApp<'_>,
) -> anyhow::Result<(Services, castellan_store::App)> {
    let (account, _) = store
        .ws(ws)
        .create_automation_account(
            &cli_actor(),
            &castellan_store::NewAutomationAccount {
                platform: b.platform,
                label: b.label.into(),
                email: "bot@bench.example.com".into(),
                phone: None,
                token_scopes: None,
                token_expires_at: None,
                secrets: vec![seal_named(
                    store.env(),
                    vault,
                    ws,
                    "access_token",
                    &castellan_vault::Secret::new(b.token),
                )],
            },
        )
        .await?;
    let mut svc = Services::new(store.clone(), vault.clone());
    svc.http = castellan_connectors::HttpConfig {
        rate_per_sec: 0.0,
        concurrency: b.concurrency,
        ..Default::default()
    };
    let (app, _) = castellan_services::apps::connect_app(
        &svc,
        ws,
        &cli_actor(),
        None,
        castellan_services::apps::ConnectApp {
            platform: b.platform,
            label: b.label.into(),
            business_id: b.business,
            login_method: castellan_domain::apps::LoginMethod::Sso,
            automation_account_id: account.id,
            api_base_url: Some(b.base),
        },
    )
    .await?;
    Ok((svc, app))
}

/// A worker over `svc`'s registry until the returned token is cancelled.
pub(crate) fn spawn_worker(cfg: &Config, svc: &Services) -> CancellationToken {
    let stop = CancellationToken::new();
    let mut wc = worker_config(cfg);
    wc.poll_interval = Duration::from_millis(20);
    tokio::spawn(castellan_services::worker::run(
        svc.store.clone(),
        castellan_services::tasks::registry(svc),
        wc,
        svc.metrics.clone(),
        stop.clone(),
    ));
    stop
}

/// Waits for a task to end.
/// A fetch floor: the fetch of `scope` three times, its pages thrown away (see `Discard`).
/// Returns the three durations in ascending order (the median, `[1]`, is the floor: one
/// run's noise would move every ratio), and the first run's stats and items (the connector
/// counts its requests across fetches).
async fn fetch_thrice(
    connector: &dyn castellan_domain::platform::Connector,
    scope: &castellan_domain::coverage::FetchScope,
) -> anyhow::Result<([f64; 3], castellan_domain::platform::FetchStats, u64)> {
    let mut secs = [0.0; 3];
    let mut first = None;
    for s in &mut secs {
        let t0 = std::time::Instant::now();
        let mut discard = Discard(0);
        let stats = connector.fetch(scope, &mut discard).await?;
        *s = t0.elapsed().as_secs_f64();
        first.get_or_insert((stats, discard.0));
    }
    secs.sort_by(|a, b| a.total_cmp(b));
    let (stats, items) = first.expect("three runs");
    Ok((secs, stats, items))
}

pub(crate) async fn wait_task(
    store: &castellan_store::Store,
    ws: castellan_domain::WorkspaceId,
    id: castellan_domain::TaskId,
) -> anyhow::Result<castellan_store::Task> {
    loop {
        let t = store.ws(ws).task(id).await?;
        if t.status.is_final() {
            return Ok(t);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Builds `identities` directory entries and `members` seats (a mix of exact, case- and
/// plus-address variants, username-only and unknown seats), then times index + matching.
pub(crate) fn bench_matching(members: usize, identities: usize) -> anyhow::Result<ExitCode> {
    use castellan_domain::matching::{Candidate, MatchConfig, Outcome, SeatKey, match_all};
    let cfg = MatchConfig::with_aliases([("acme.co.uk", "acme.com")]);
    let names: Vec<(String, String, String)> = (0..identities)
        .map(|i| {
            (
                format!("user{i}"),
                format!("user{i}@acme.com"),
                format!("u{i}@old.acme.com"),
            )
        })
        .collect();
    let ids: Vec<castellan_domain::IdentityId> = (0..identities)
        .map(|i| castellan_domain::IdentityId(uuid::Uuid::from_u128(i as u128 + 1)))
        .collect();
    let seats: Vec<(Option<String>, Option<String>, bool)> = (0..members)
        .map(|i| {
            let n = (i * 7919) % identities.max(1);
            match i % 5 {
                0 => (Some(format!("User{n}@ACME.com")), None, false),
                1 => (Some(format!("user{n}+pins@acme.co.uk")), None, false),
                2 => (
                    Some(format!("someone{i}@gmail.com")),
                    Some(format!("user{n}")),
                    false,
                ),
                3 => (
                    Some(format!("stranger{i}@gmail.com")),
                    Some(format!("stranger{i}")),
                    false,
                ),
                _ => (Some(format!("agency{i}@agency.net")), None, true),
            }
        })
        .collect();
    let started = std::time::Instant::now();
    let keys: Vec<SeatKey> = seats
        .iter()
        .map(|(e, u, p)| SeatKey {
            email: e.as_deref(),
            username: u.as_deref(),
            partner: *p,
        })
        .collect();
    let outcomes = match_all(
        &cfg,
        &keys,
        names.iter().zip(&ids).map(|((u, e, o), id)| Candidate {
            id: *id,
            user_name: u,
            emails: vec![e, o],
        }),
    );
    let total = started.elapsed();
    let (mut matched, mut guests, mut unmatched) = (0u64, 0u64, 0u64);
    for o in outcomes {
        match o {
            Outcome::Matched(..) => matched += 1,
            Outcome::PartnerUser => guests += 1,
            Outcome::Unmatched => unmatched += 1,
        }
    }
    println!(
        "matched {members} seats against {identities} identities in {:.3}s",
        total.as_secs_f64()
    );
    println!("{matched} matched, {guests} guests, {unmatched} unmatched");
    println!(
        "{}",
        serde_json::json!({ "bench": "matching", "members": members, "identities": identities, "seconds": total.as_secs_f64(), "matched": matched, "guests": guests, "unmatched": unmatched })
    );
    Ok(ExitCode::SUCCESS)
}

/// Resident memory figures of this process from /proc (kB): (current, peak).
pub(crate) fn rss_kb() -> (u64, u64) {
    rss_of("/proc/self/status")
}

/// CPU seconds (user and system) a process has used, from `/proc/…/stat`: where a check's
/// time goes on a machine whose cores it shares with the emulator.
pub(crate) fn cpu_secs(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at the state, field 3;
    // utime and stime are fields 14 and 15, in clock ticks (100 a second on Linux).
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = after
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    f.iter().sum::<f64>() / 100.0
}

/// CPU seconds used by the local PostgreSQL server's processes alive now (0 when it runs
/// elsewhere): on one machine its work shares the cores with Castellan and the emulator. A
/// backend that ended between two readings drops out, so a difference is a lower bound.
pub(crate) fn postgres_cpu_secs() -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .map(|e| e.path().join("stat"))
        .filter(|p| std::fs::read_to_string(p).is_ok_and(|s| s.contains("(postgres)")))
        .map(|p| cpu_secs(&p.to_string_lossy()))
        .sum()
}

/// Resident memory figures from a `/proc/…/status` file (kB): (current, peak).
fn rss_of(path: &str) -> (u64, u64) {
    let status = std::fs::read_to_string(path).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

pub(crate) async fn bench_emulator(
    scale: castellan_emulators::Scale,
    seed: u64,
) -> anyhow::Result<ExitCode> {
    use castellan_emulators::scenario as sc;
    let (rss_before, _) = rss_kb();
    let started = std::time::Instant::now();
    let world = castellan_emulators::World::new(
        castellan_emulators::ScenarioSource::Generated(scale),
        seed,
        Default::default(),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let build_secs = started.elapsed().as_secs_f64();
    let (rss_after, peak) = rss_kb();
    println!(
        "generated {} members, {} assets, {} partners, {} grants/member in {build_secs:.2}s",
        scale.members, scale.assets, scale.partners, scale.grants_per_member
    );
    println!(
        "resident memory: {} MB before, {} MB after, peak {} MB",
        rss_before / 1024,
        rss_after / 1024,
        peak / 1024
    );
    let running = castellan_emulators::start("127.0.0.1:0", world).await?;
    let http = reqwest::Client::new();
    // Pinterest: bookmark paging, 250 per page, with assets summaries.
    let t0 = std::time::Instant::now();
    let (mut pages, mut items, mut bookmark) = (0u64, 0u64, None::<String>);
    loop {
        let mut url = format!(
            "{}/businesses/{}/members?page_size=250&assets_summary=true",
            running.pinterest_url(),
            sc::PINTEREST_BRAND
        );
        if let Some(b) = &bookmark {
            url.push_str(&format!("&bookmark={b}"));
        }
        let v: serde_json::Value = http
            .get(url)
            .bearer_auth(sc::PINTEREST_AUTOMATION_TOKEN)
            .send()
            .await?
            .json()
            .await?;
        pages += 1;
        items += v["items"].as_array().map(|a| a.len() as u64).unwrap_or(0);
        match v["bookmark"].as_str() {
            Some(b) => bookmark = Some(b.to_string()),
            None => break,
        }
    }
    let pin_secs = t0.elapsed().as_secs_f64();
    println!(
        "pinterest members list: {items} members in {pages} pages, {pin_secs:.2}s, {:.0} pages/s",
        pages as f64 / pin_secs
    );
    // TikTok: page numbers, 50 per page.
    let t0 = std::time::Instant::now();
    let (mut tpages, mut titems, mut page) = (0u64, 0u64, 1u64);
    loop {
        let url = format!(
            "{}/bc/member/get/?bc_id={}&page={page}&page_size=50",
            running.tiktok_url(),
            sc::TIKTOK_BRAND
        );
        let v: serde_json::Value = http
            .get(url)
            .header("Access-Token", sc::TIKTOK_AUTOMATION_TOKEN)
            .send()
            .await?
            .json()
            .await?;
        tpages += 1;
        titems += v["data"]["list"]
            .as_array()
            .map(|a| a.len() as u64)
            .unwrap_or(0);
        if page >= v["data"]["page_info"]["total_page"].as_u64().unwrap_or(0) {
            break;
        }
        page += 1;
    }
    let tt_secs = t0.elapsed().as_secs_f64();
    println!(
        "tiktok members list: {titems} members in {tpages} pages, {tt_secs:.2}s, {:.0} pages/s",
        tpages as f64 / tt_secs
    );
    let (_, peak) = rss_kb();
    println!(
        "{}",
        serde_json::json!({
            "bench": "emulator", "members": scale.members, "assets": scale.assets, "partners": scale.partners, "grants_per_member": scale.grants_per_member,
            "build_seconds": build_secs, "rss_after_build_mb": rss_after / 1024, "peak_rss_mb": peak / 1024,
            "pinterest_pages": pages, "pinterest_pages_per_second": pages as f64 / pin_secs,
            "tiktok_pages": tpages, "tiktok_pages_per_second": tpages as f64 / tt_secs,
        })
    );
    Ok(ExitCode::SUCCESS)
}
