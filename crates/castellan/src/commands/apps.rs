//! `castellan apps`: list, check, reconnect (after a failing connection), remove.

use std::process::ExitCode;

use castellan_store::{Store, Workspace};

use super::*;
use crate::AppsCmd;
use crate::config::Config;

pub(crate) async fn find_app(
    store: &Store,
    ws: &Workspace,
    key: &str,
) -> anyhow::Result<castellan_store::App> {
    let scoped = store.ws(ws.id);
    if let Ok(id) = key.parse::<castellan_domain::AppId>() {
        return scoped
            .app(id)
            .await
            .map_err(|e| anyhow::anyhow!("app {key}: {e}"));
    }
    let mut cursor = None;
    loop {
        let page = scoped.apps(cursor, 500).await?;
        if let Some(a) = page
            .items
            .iter()
            .find(|a| a.label.eq_ignore_ascii_case(key))
        {
            return Ok(a.clone());
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c.parse()?),
            None => anyhow::bail!("no app with id or label {key:?}"),
        }
    }
}

/// Says a task was queued (without `--wait`).
fn queued(json: bool, what: &str, task: &castellan_store::Task) -> ExitCode {
    if json {
        println!("{}", serde_json::json!({ "task_id": task.id.to_string() }));
    } else {
        println!("{what} queued as task {}", task.id);
    }
    ExitCode::SUCCESS
}

pub(crate) async fn apps_cmd(cfg: &Config, cmd: AppsCmd) -> anyhow::Result<ExitCode> {
    let store = open_store(cfg).await?;
    match cmd {
        AppsCmd::List { workspace, json } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let apps = store.ws(ws.id).apps(None, 500).await?.items;
            for a in &apps {
                let counts = store.ws(ws.id).seat_counts(a.id).await?;
                if json {
                    let c: serde_json::Map<String, serde_json::Value> = counts
                        .iter()
                        .map(|(k, v)| (k.clone(), serde_json::json!(v)))
                        .collect();
                    println!(
                        "{}",
                        serde_json::json!({ "id": a.id.to_string(), "label": a.label, "platform": a.platform.as_str(), "status": a.status.as_str(), "last_check_at": a.last_check_at, "next_check_at": a.next_check_at, "counts": c })
                    );
                } else {
                    let c: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
                    println!(
                        "{}  {:<24} {:<9} {:<9} last check {}  ({})",
                        a.id,
                        a.label,
                        a.platform,
                        a.status,
                        a.last_check_at
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_else(|| "never".into()),
                        c.join(", ")
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        AppsCmd::Check {
            app,
            workspace,
            wait,
            full,
            json,
        } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let a = find_app(&store, &ws, &app).await?;
            let task = castellan_services::apps::request_check_of(
                &store,
                ws.id,
                &cli_actor(),
                None,
                a.id,
                full,
            )
            .await?;
            if !wait {
                return Ok(queued(json, "check for updates", &task));
            }
            let done = super::wait_with_spinner(&store, &ws, &task).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "task_id": done.id.to_string(), "status": done.status.as_str(), "result": done.result, "error": done.error })
                );
            } else if let Some(r) = &done.result {
                println!(
                    "check {}: {} requests in {:.1}s; {} new, {} changed, {} vanished seats; {} rows written",
                    done.status,
                    r["fetch"]["requests"],
                    r["fetch"]["seconds"].as_f64().unwrap_or(0.0),
                    r["changes"]["seats_new"],
                    r["changes"]["seats_changed"],
                    r["changes"]["seats_vanished"],
                    r["changes"]["rows_written"]
                );
                let kept = r["fetch"]["holders_kept"].as_u64().unwrap_or(0)
                    + r["fetch"]["shares_kept"].as_u64().unwrap_or(0);
                if kept > 0 {
                    use castellan_domain::words::count;
                    let n = |k: &str| r["fetch"][k].as_u64().unwrap_or(0);
                    println!(
                        "coverage window: holders of {} read, {} kept and {} shared assets kept as earlier checks read them (--full reads all)",
                        count(n("holders_read"), "asset", "assets"),
                        n("holders_kept"),
                        count(n("shares_kept"), "partner's", "partners'"),
                    );
                }
            } else {
                println!("check {}: {}", done.status, done.error.unwrap_or_default());
            }
            Ok(
                if done.status == castellan_domain::tasks::TaskStatus::Completed {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                },
            )
        }
        AppsCmd::Reconnect {
            app,
            workspace,
            wait,
            json,
        } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let a = find_app(&store, &ws, &app).await?;
            let svc = super::services(cfg, &store, ([127, 0, 0, 1], 0).into())?;
            let task =
                castellan_services::apps::retry_connection(&svc, ws.id, &cli_actor(), None, a.id)
                    .await?;
            if !wait {
                return Ok(queued(json, "connection check", &task));
            }
            let done = super::wait_with_spinner(&store, &ws, &task).await?;
            let app = store.ws(ws.id).app(a.id).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "task_id": done.id.to_string(), "status": done.status.as_str(), "app_status": app.status.as_str(), "message": app.status_message })
                );
            } else {
                println!(
                    "{}: {}{}",
                    app.label,
                    app.status,
                    app.status_message
                        .map(|m| format!(" ({m})"))
                        .unwrap_or_default()
                );
            }
            Ok(
                if app.status == castellan_domain::apps::AppStatus::Connected {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                },
            )
        }
        AppsCmd::Remove {
            app,
            reason,
            workspace,
            json,
        } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let a = find_app(&store, &ws, &app).await?;
            let r =
                castellan_services::apps::remove_app(&store, ws.id, &cli_actor(), a.id, &reason)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "app_id": a.id.to_string(), "removed": r })
                );
            } else {
                println!(
                    "removed {} ({}): {} seats, {} assets, {} grants, {} partners, {} reports; {} pending tasks cancelled",
                    a.label,
                    a.id,
                    r.seats,
                    r.assets,
                    r.grants,
                    r.partners,
                    r.reports,
                    r.tasks_cancelled
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
