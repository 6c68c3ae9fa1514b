//! `castellan bench web`: server time (the `Server-Timing` header) and size of every main page
//! of the web app, against a database holding a large checked business (100k members, 10k
//! assets and 1M grants by default); then the same pages, and `GET /api/v1/tasks/{id}`, while
//! another workspace's first check of that business writes.

use std::process::ExitCode;

use tokio_util::sync::CancellationToken;

use crate::commands::admin::bootstrap;
use crate::commands::*;
use crate::config::Config;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub(crate) async fn bench_web(
    cfg: &Config,
    scale: castellan_emulators::Scale,
    rounds: usize,
) -> anyhow::Result<ExitCode> {
    use castellan_emulators::scenario as sc;
    let world = castellan_emulators::World::new(
        castellan_emulators::ScenarioSource::GeneratedOne {
            scale,
            platform: castellan_emulators::OnePlatform::Pinterest,
        },
        1,
        Default::default(),
    )
    .map_err(|e| anyhow::anyhow!(e))?;
    let emu = castellan_emulators::start("127.0.0.1:0", world).await?;
    let dir = std::env::temp_dir().join(format!("castellan-bench-web-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut cfg = cfg.clone();
    cfg.data_dir = dir.clone();
    let store = create_store(&cfg).await?;
    let (ws, password) = bootstrap(&store, "Bench", "owner@bench.example.com").await?;
    let vault = open_vault(&cfg)?;
    let (svc, app) = super::bench_app(
        &store,
        &vault,
        ws.id,
        super::BenchApp {
            platform: castellan_domain::apps::Platform::Pinterest,
            token: sc::PINTEREST_AUTOMATION_TOKEN,
            base: emu.pinterest_url(),
            business: sc::PINTEREST_BRAND.to_string(),
            label: "Bench Pinterest",
            concurrency: 8,
        },
    )
    .await?;
    let stop = super::spawn_worker(&cfg, &svc);
    let task =
        castellan_services::apps::request_check(&store, ws.id, &cli_actor(), None, app.id).await?;
    let t0 = std::time::Instant::now();
    let done = super::wait_task(&store, ws.id, task.id).await?;
    anyhow::ensure!(
        done.status == castellan_domain::tasks::TaskStatus::Completed,
        "the check failed: {:?}",
        done.error
    );
    let r = done.result.clone().unwrap_or_default();
    println!(
        "populated in {:.1}s: {} seats, {} assets, {} grants ({})",
        t0.elapsed().as_secs_f64(),
        r["fetch"]["seats"],
        r["fetch"]["assets"],
        r["fetch"]["grants"],
        store.backend().name()
    );
    stop.cancel();

    // The server, and a signed-in browser session.
    let state =
        castellan_server::AppState::new(svc.clone(), castellan_server::ServerSettings::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    tokio::spawn(castellan_server::serve(listener, state, shutdown.clone()));
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let r = http
        .post(format!("{base}/signin"))
        .header("origin", &base)
        .form(&[
            ("email", "owner@bench.example.com"),
            ("password", password.as_str()),
        ])
        .send()
        .await?;
    let csrf = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix("castellan_csrf="))
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("sign-in failed"))?;
    let r = http
        .post(format!("{base}/password"))
        .header("origin", &base)
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("current_password", password.as_str()),
            ("new_password", "bench-password-123"),
        ])
        .send()
        .await?;
    anyhow::ensure!(r.status() == 303, "password change: {}", r.status());
    // An Unmatched seat that is not the automation account's own (that one cannot be removed).
    let bot = store.ws(ws.id).app(app.id).await?.automation_user_id;
    let seat = store
        .ws(ws.id)
        .seats(
            app.id,
            castellan_domain::apps::Tab::parse("tab", "unmatched").expect("tab"),
            None,
            None,
            5,
        )
        .await?
        .items
        .into_iter()
        .map(|s| s.user_id)
        .find(|u| Some(u) != bot.as_ref())
        .unwrap_or_default();
    let a = app.id;
    let pages: Vec<(&str, String)> = vec![
        ("Apps", "/apps".into()),
        ("Members (Onboarded)", format!("/apps/{a}/members")),
        (
            "Members (Unmatched)",
            format!("/apps/{a}/members?tab=unmatched"),
        ),
        (
            "Members (search)",
            format!("/apps/{a}/members?tab=unmatched&q=user1"),
        ),
        ("Assets", format!("/apps/{a}/assets")),
        ("Reports", format!("/apps/{a}/reports")),
        ("App activity", format!("/apps/{a}/activity")),
        ("App settings", format!("/apps/{a}/settings")),
        (
            "Match user dialog",
            format!("/apps/{a}/members/{seat}/match?q=user2"),
        ),
        (
            "Remove user plan",
            format!("/apps/{a}/members/{seat}/remove"),
        ),
        ("Automation", "/automation".into()),
        ("Task", format!("/automation/{}", task.id)),
        ("Directory", "/directory".into()),
        ("Activity", "/activity".into()),
        ("Settings", "/settings".into()),
        ("All accounts", "/accounts".into()),
    ];
    println!(
        "{:<22} {:>9} {:>9} {:>10}",
        "page", "p50 ms", "p95 ms", "HTML KB"
    );
    let mut figures = Vec::new();
    for (name, path) in &pages {
        let mut times = Vec::new();
        let mut bytes = 0usize;
        for i in 0..rounds + 2 {
            let r = http.get(format!("{base}{path}")).send().await?;
            anyhow::ensure!(r.status().is_success(), "{path}: {}", r.status());
            let ms: f64 = r
                .headers()
                .get("server-timing")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split("dur=").nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(f64::NAN);
            bytes = r.bytes().await?.len();
            if i >= 2 {
                times.push(ms);
            }
        }
        times.sort_by(|x, y| x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal));
        let (p50, p95) = (percentile(&times, 0.5), percentile(&times, 0.95));
        println!(
            "{name:<22} {p50:>9.1} {p95:>9.1} {:>10.1}",
            bytes as f64 / 1024.0
        );
        figures.push(
            serde_json::json!({ "page": name, "p50_ms": p50, "p95_ms": p95, "html_bytes": bytes }),
        );
    }
    // The same pages while another workspace's first check of the same business writes
    // (on SQLite the one writer is the check's most of the time): until it completes.
    let (ws2, _) = bootstrap(&store, "Bench 2", "owner@bench2.example.com").await?;
    let (svc2, app2) = super::bench_app(
        &store,
        &vault,
        ws2.id,
        super::BenchApp {
            platform: castellan_domain::apps::Platform::Pinterest,
            token: sc::PINTEREST_AUTOMATION_TOKEN,
            base: emu.pinterest_url(),
            business: sc::PINTEREST_BRAND.to_string(),
            label: "Bench Pinterest 2",
            concurrency: 8,
        },
    )
    .await?;
    // Its owner follows the check as an API client does: `GET /api/v1/tasks/{id}`.
    let owner2 = store
        .ws(ws2.id)
        .person_by_email(
            &castellan_domain::values::Email::parse("email", "owner@bench2.example.com")
                .expect("valid"),
        )
        .await?;
    let secret = store.env().with_rng(|r| {
        castellan_domain::auth::generate_secret(castellan_domain::auth::API_TOKEN_PREFIX, r)
    });
    store
        .ws(ws2.id)
        .create_token(
            &cli_actor(),
            owner2.id,
            "bench",
            castellan_domain::auth::ApiScope::Read,
            &castellan_domain::auth::hash_secret(&secret),
        )
        .await?;
    let stop = super::spawn_worker(&cfg, &svc2);
    let busy = castellan_services::apps::request_check(&store, ws2.id, &cli_actor(), None, app2.id)
        .await?;
    let mut polled = pages.clone();
    polled.push(("API task poll", format!("/api/v1/tasks/{}", busy.id)));
    let pages = polled;
    let t0 = std::time::Instant::now();
    let mut during: Vec<Vec<f64>> = vec![Vec::new(); pages.len()];
    'rounds: loop {
        for (i, (_, path)) in pages.iter().enumerate() {
            if store.ws(ws2.id).task(busy.id).await?.status.is_final() {
                break 'rounds;
            }
            let req = http.get(format!("{base}{path}"));
            let req = if path.starts_with("/api/") {
                req.bearer_auth(&secret)
            } else {
                req
            };
            let r = req.send().await?;
            anyhow::ensure!(r.status().is_success(), "{path}: {}", r.status());
            if let Some(ms) = r
                .headers()
                .get("server-timing")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split("dur=").nth(1))
                .and_then(|v| v.parse().ok())
            {
                during[i].push(ms);
            }
        }
    }
    stop.cancel();
    println!(
        "during a first check of {} seats ({:.1}s):\n{:<22} {:>9} {:>9} {:>8}",
        scale.members,
        t0.elapsed().as_secs_f64(),
        "page",
        "p50 ms",
        "p95 ms",
        "samples"
    );
    let mut busy_figures = Vec::new();
    for ((name, _), mut times) in pages.iter().zip(during) {
        times.sort_by(|x, y| x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal));
        let (p50, p95) = (percentile(&times, 0.5), percentile(&times, 0.95));
        println!("{name:<22} {p50:>9.1} {p95:>9.1} {:>8}", times.len());
        busy_figures.push(
            serde_json::json!({ "page": name, "p50_ms": p50, "p95_ms": p95, "samples": times.len() }),
        );
    }
    println!(
        "{}",
        serde_json::json!({ "bench": "web", "database": store.backend().name(), "members": scale.members, "assets": scale.assets, "grants_per_member": scale.grants_per_member, "rounds": rounds, "pages": figures, "during_first_check": busy_figures })
    );
    shutdown.cancel();
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}
