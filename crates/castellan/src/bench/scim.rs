//! `castellan bench scim`: SCIM throughput on loopback, measured by `wrk` (Debian's package)
//! against the real server over a fresh database holding `--users` identities: durable user
//! creates per second (a Lua script sends a unique `userName` per request) and `userName eq`
//! lookups per second (of users that exist), each for `--seconds`.

use std::process::ExitCode;

use castellan_domain::directory::{IdentityInput, JSON_FIELDS, RawIdentity};
use tokio_util::sync::CancellationToken;

use crate::commands::admin::bootstrap;
use crate::commands::*;
use crate::config::Config;

const CREATE_LUA: &str = r#"
-- Each request a unique userName: thread id, then a counter.
local counter = 0
local tid = 0
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  tid = tonumber(wrk.thread:get("tid")) or 0
end
request = function()
  counter = counter + 1
  local name = string.format("bench-%d-%d@load.example.com", tid, counter)
  local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' .. name ..
    '","name":{"givenName":"Load","familyName":"Test"},"emails":[{"value":"' .. name ..
    '","type":"work","primary":true}],"active":true}'
  return wrk.format("POST", "/scim/v2/Users", {["Content-Type"] = "application/scim+json", ["Authorization"] = "Bearer " .. os.getenv("SCIM_TOKEN")}, body)
end
done = function(summary, latency, requests)
  io.write(string.format("non2xx=%d\n", summary.errors.status))
end
"#;

const LOOKUP_LUA: &str = r#"
-- userName eq lookups of users that exist (seeded as seed-N@load.example.com).
local users = tonumber(os.getenv("SCIM_USERS"))
math.randomseed(os.time())
request = function()
  local n = math.random(0, users - 1)
  local path = string.format("/scim/v2/Users?filter=userName%%20eq%%20%%22seed-%d%%40load.example.com%%22", n)
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. os.getenv("SCIM_TOKEN")})
end
done = function(summary, latency, requests)
  io.write(string.format("non2xx=%d\n", summary.errors.status))
end
"#;

fn wrk_rate(out: &str) -> Option<f64> {
    out.lines()
        .find(|l| l.trim_start().starts_with("Requests/sec:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
}

fn non2xx(out: &str) -> u64 {
    out.lines()
        .find_map(|l| l.strip_prefix("non2xx="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

async fn run_wrk(
    script: &str,
    base: &str,
    token: &str,
    users: usize,
    seconds: u64,
    connections: u32,
) -> anyhow::Result<String> {
    let dir = std::env::temp_dir().join(format!("castellan-bench-scim-lua-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("script.lua");
    std::fs::write(&path, script)?;
    let out = tokio::process::Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(&path)
        .arg(base)
        .env("SCIM_TOKEN", token)
        .env("SCIM_USERS", users.to_string())
        .output()
        .await
        .map_err(|e| anyhow::anyhow!("wrk could not run ({e}): apt-get install wrk"))?;
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    anyhow::ensure!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(text)
}

pub(crate) async fn bench_scim(
    cfg: &Config,
    users: usize,
    seconds: u64,
    connections: u32,
) -> anyhow::Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("castellan-bench-scim-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut cfg = cfg.clone();
    cfg.data_dir = dir.clone();
    let store = create_store(&cfg).await?;
    let (ws, _) = bootstrap(&store, "Bench", "owner@bench.example.com").await?;
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
    let svc = services(&cfg, &store, addr)?;

    // The directory the IdP already provisioned.
    let t0 = std::time::Instant::now();
    let rows: Vec<castellan_domain::directory::ImportRow> = (0..users)
        .map(|n| {
            let u = format!("seed-{n}@load.example.com");
            let input = IdentityInput::validate(
                &RawIdentity {
                    user_name: &u,
                    primary_email: &u,
                    active: true,
                    ..Default::default()
                },
                &JSON_FIELDS,
            )
            .expect("a valid identity");
            castellan_domain::directory::ImportRow {
                line: n as u64 + 2,
                identity: input,
                groups: Vec::new(),
            }
        })
        .collect();
    store
        .ws(ws.id)
        .import_identities(&cli_actor(), &rows, false, "bench")
        .await?;
    println!(
        "seeded {users} users in {:.1}s ({})",
        t0.elapsed().as_secs_f64(),
        store.backend().name()
    );

    let (_, token) =
        castellan_services::scim::create_token(&svc, ws.id, &cli_actor(), operator(), "bench")
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let state =
        castellan_server::AppState::new(svc.clone(), castellan_server::ServerSettings::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    tokio::spawn(castellan_server::serve(listener, state, shutdown.clone()));

    let lookups = run_wrk(LOOKUP_LUA, &base, &token, users, seconds, connections).await?;
    let creates = run_wrk(CREATE_LUA, &base, &token, users, seconds, connections).await?;
    let total = store.ws(ws.id).scim_identity_count().await?;
    shutdown.cancel();
    let _ = std::fs::remove_dir_all(&dir);
    let (lr, cr) = (
        wrk_rate(&lookups).unwrap_or(0.0),
        wrk_rate(&creates).unwrap_or(0.0),
    );
    println!(
        "userName eq lookups: {lr:.0}/s over {seconds}s, {connections} connections ({} not 2xx)",
        non2xx(&lookups)
    );
    println!(
        "durable user creates: {cr:.0}/s over {seconds}s, {connections} connections ({} not 2xx); {total} users at the end",
        non2xx(&creates)
    );
    for (what, out) in [("lookups", &lookups), ("creates", &creates)] {
        if let Some(p) = out.lines().find(|l| l.trim_start().starts_with("99%")) {
            println!(
                "  {what} latency p99: {}",
                p.trim().trim_start_matches("99%").trim()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
