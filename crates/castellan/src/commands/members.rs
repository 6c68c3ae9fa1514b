//! `castellan members`, `castellan reports` and `castellan outbox`: managing seats from the
//! host. Changes are planned exactly as the API plans them (same steps, same calls, same
//! guards); `--dry-run` prints the plan, `--wait` follows the task with a spinner, and `--json`
//! prints one JSON object per result.

use std::process::ExitCode;

use castellan_domain::changes::{AssetPermissions, Refusal, Request};
use castellan_domain::tasks::TaskStatus;
use castellan_store::{App, AppRole, IdentityFilter, Store, Workspace};
use clap::{Args, Subcommand};

use castellan_services::members::{Handling, PlanError, QueueError, plan_and_queue};

use super::apps::find_app;
use super::{cli_actor, open_store, pick_workspace, services, wait_with_spinner};
use castellan_services::seats::Decider;

/// A refused or failed use case, as the CLI prints it (the field it names, and why).
fn fail(e: castellan_services::ServiceError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}
use crate::config::Config;

#[derive(Args, Clone)]
pub struct Target {
    /// App id or label.
    pub app: String,
    #[arg(long)]
    pub workspace: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// How a change is run.
#[derive(Args, Clone)]
pub struct Run {
    /// Print the plan (steps and the exact platform calls) and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Wait for the task, with a progress spinner.
    #[arg(long)]
    pub wait: bool,
    /// Needed when the change removes more than the workspace's share of seats (20%).
    #[arg(long)]
    pub confirm_large_removal: bool,
}

#[derive(Subcommand)]
pub enum MembersCmd {
    /// An app's seats in one tab of the User Overview.
    List {
        #[command(flatten)]
        target: Target,
        /// onboarded, unmatched, exempted, partner_users (or its old name guest), invited or
        /// removed.
        #[arg(long, default_value = "onboarded")]
        tab: String,
        /// Search in name, username and e-mail.
        #[arg(long)]
        search: Option<String>,
    },
    /// Remove seats from the business (their asset permissions go with them).
    Remove {
        #[command(flatten)]
        target: Target,
        /// Seat ids (platform user ids).
        #[arg(required = true)]
        seats: Vec<String>,
        #[command(flatten)]
        run: Run,
    },
    /// Change a member's business role (Pinterest BIZ_ADMIN/EMPLOYEE, TikTok ADMIN/STANDARD).
    SetRole {
        #[command(flatten)]
        target: Target,
        seat: String,
        role: String,
        #[command(flatten)]
        run: Run,
    },
    /// Set a member's permissions on an asset (none removes them).
    SetPermissions {
        #[command(flatten)]
        target: Target,
        seat: String,
        asset: String,
        permissions: Vec<String>,
        #[command(flatten)]
        run: Run,
    },
    /// Invite an e-mail address with a business role.
    Invite {
        #[command(flatten)]
        target: Target,
        email: String,
        role: String,
        /// Asset permissions the invitation carries, as ASSET=PERM[,PERM] (repeatable).
        #[arg(long = "asset")]
        assets: Vec<String>,
        #[command(flatten)]
        run: Run,
    },
    /// Cancel a pending invitation (its seat id, `invite:…`).
    CancelInvite {
        #[command(flatten)]
        target: Target,
        seat: String,
        #[command(flatten)]
        run: Run,
    },
    /// Match a seat to a person of the directory (or re-assign it): sticky across checks.
    Match {
        #[command(flatten)]
        target: Target,
        seat: String,
        /// Identity id, userName or e-mail.
        person: String,
        /// owner (shares access, manages configuration) or collaborator (only logs in).
        #[arg(long, default_value = "collaborator")]
        role: String,
    },
    /// Unmatch a seat (sticky: checks do not match it again).
    Unmatch {
        #[command(flatten)]
        target: Target,
        seat: String,
    },
    /// Exempt a seat: it keeps its access but is not managed or flagged.
    Exempt {
        #[command(flatten)]
        target: Target,
        seat: String,
        #[arg(long)]
        reason: String,
        /// End of the exemption (RFC 3339, e.g. 2027-03-31T00:00:00Z).
        #[arg(long)]
        until: Option<String>,
    },
    /// End a seat's exemption.
    Unexempt {
        #[command(flatten)]
        target: Target,
        seat: String,
    },
}

#[derive(Subcommand)]
pub enum ReportsCmd {
    /// The latest check reports of an app.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// One report, with the seats of deprovisioned people it lists.
    Show {
        #[command(flatten)]
        target: Target,
        report: String,
    },
    /// Apply a report: remove the seats it lists (all, or those given with --seat).
    Apply {
        #[command(flatten)]
        target: Target,
        report: String,
        #[arg(long = "seat")]
        seats: Vec<String>,
        #[command(flatten)]
        run: Run,
    },
    /// Dismiss a report (its seats stay).
    Dismiss {
        #[command(flatten)]
        target: Target,
        report: String,
        #[arg(long)]
        reason: String,
    },
}

fn out(json: bool, v: serde_json::Value, text: String) {
    if json {
        println!("{v}");
    } else {
        println!("{text}");
    }
}

/// Where a change runs.
struct On<'a> {
    cfg: &'a Config,
    store: &'a Store,
    ws: &'a Workspace,
    app: &'a App,
}

/// Plans `request`, prints the plan, and unless `--dry-run` queues (and maybe awaits) it.
/// `report`: the report (and its seats) the change applies.
async fn run_change(
    on: On<'_>,
    request: Request,
    run: &Run,
    json: bool,
    report: Option<(String, Vec<String>)>,
) -> anyhow::Result<ExitCode> {
    let On {
        cfg,
        store,
        ws,
        app,
    } = on;
    let svc = services(cfg, store, ([127, 0, 0, 1], 8080).into())?;
    let queued = plan_and_queue(
        &svc,
        ws.id,
        &cli_actor(),
        None,
        app,
        request,
        Handling {
            dry_run: run.dry_run,
            plan_hash: None,
            confirm_large_removal: run.confirm_large_removal,
            report,
        },
    )
    .await;
    let (preview, task) = match queued {
        Ok(q) => q,
        Err(QueueError::Plan(PlanError::Refused(Refusal::Invalid(e) | Refusal::Guard(e)))) => {
            out(
                json,
                serde_json::json!({ "error": { "field": e.field, "message": e.message } }),
                format!("refused: {}: {}", e.field, e.message),
            );
            return Ok(ExitCode::FAILURE);
        }
        Err(QueueError::Plan(PlanError::Failed(m))) => anyhow::bail!(m),
        Err(QueueError::Stale) => anyhow::bail!("the plan changed while it was queued"),
        Err(QueueError::Store(e)) => return Err(e.into()),
    };
    if !json {
        if preview.plan.steps.is_empty() {
            println!("nothing to do: the platform already looks like that");
        }
        for (step, calls) in preview.plan.steps.iter().zip(&preview.calls) {
            println!("- {}", step.summary);
            for c in calls {
                println!("    {c}");
            }
        }
    }
    let Some(task) = task else {
        if json {
            println!(
                "{}",
                serde_json::json!({ "plan": preview.plan, "calls": preview.calls })
            );
        }
        return Ok(ExitCode::SUCCESS);
    };
    if !run.wait {
        out(
            json,
            serde_json::json!({ "task_id": task.id.to_string(), "plan": preview.plan }),
            format!(
                "queued as task {} (castellan serve or castellan worker runs it)",
                task.id
            ),
        );
        return Ok(ExitCode::SUCCESS);
    }
    let done = wait_with_spinner(store, ws, &task).await?;
    out(
        json,
        serde_json::json!({ "task_id": done.id.to_string(), "status": done.status.as_str(), "result": done.result, "error": done.error }),
        match &done.error {
            Some(e) if done.status != TaskStatus::Completed => format!("{}: {e}", done.status),
            _ => format!("{}", done.status),
        },
    );
    Ok(if done.status == TaskStatus::Completed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn seat_line(s: &castellan_store::Seat) -> String {
    format!(
        "{:<24} {:<40} {:<12} {}{}",
        s.user_id,
        s.email.clone().or(s.username.clone()).unwrap_or_default(),
        s.roles.join(","),
        s.state,
        if s.deprovisioned {
            "  (person deactivated)"
        } else {
            ""
        }
    )
}

fn seat_json(s: &castellan_store::Seat) -> serde_json::Value {
    serde_json::json!({ "user_id": s.user_id, "email": s.email, "username": s.username, "roles": s.roles, "state": s.state,
        "identity_id": s.identity_id.map(|i| i.to_string()), "match_source": s.match_source, "deprovisioned": s.deprovisioned,
        "exemption": s.exemption.as_ref().map(|e| serde_json::json!({ "reason": e.reason, "until": e.until })) })
}

/// An identity by id, userName or e-mail (exactly one).
async fn find_person(
    store: &Store,
    ws: &Workspace,
    key: &str,
) -> anyhow::Result<castellan_domain::IdentityId> {
    if let Ok(id) = key.parse() {
        return Ok(id);
    }
    let page = store
        .ws(ws.id)
        .identities(
            &IdentityFilter {
                query: Some(key.to_string()),
                active: Some(true),
            },
            None,
            50,
        )
        .await?;
    let hits: Vec<_> = page
        .items
        .iter()
        .filter(|i| {
            i.user_name.eq_ignore_ascii_case(key) || i.primary_email.eq_ignore_ascii_case(key)
        })
        .collect();
    match hits.as_slice() {
        [one] => Ok(one.id),
        [] => anyhow::bail!("no active person with userName or e-mail {key:?}"),
        _ => anyhow::bail!("{key:?} names several people; give the identity id"),
    }
}

pub async fn members(cfg: &Config, cmd: MembersCmd) -> anyhow::Result<ExitCode> {
    let store = open_store(cfg).await?;
    let target = match &cmd {
        MembersCmd::List { target, .. }
        | MembersCmd::Remove { target, .. }
        | MembersCmd::SetRole { target, .. }
        | MembersCmd::SetPermissions { target, .. }
        | MembersCmd::Invite { target, .. }
        | MembersCmd::CancelInvite { target, .. }
        | MembersCmd::Match { target, .. }
        | MembersCmd::Unmatch { target, .. }
        | MembersCmd::Exempt { target, .. }
        | MembersCmd::Unexempt { target, .. } => target.clone(),
    };
    let ws = pick_workspace(&store, target.workspace.as_deref()).await?;
    let app = find_app(&store, &ws, &target.app).await?;
    let scoped = store.ws(ws.id);
    let json = target.json;
    let change = |request: Request, run: Run| {
        let (store, ws, app) = (store.clone(), ws.clone(), app.clone());
        async move {
            let on = On {
                cfg,
                store: &store,
                ws: &ws,
                app: &app,
            };
            run_change(on, request, &run, json, None).await
        }
    };
    let shown = |s: castellan_store::Seat| {
        out(json, seat_json(&s), seat_line(&s));
        Ok(ExitCode::SUCCESS)
    };
    match cmd {
        MembersCmd::List { tab, search, .. } => {
            let tab = castellan_domain::apps::Tab::parse("--tab", &tab)
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let mut cursor: Option<String> = None;
            loop {
                let page = scoped
                    .seats(app.id, tab, search.as_deref(), cursor.as_deref(), 500)
                    .await?;
                for s in &page.items {
                    out(json, seat_json(s), seat_line(s));
                }
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => return Ok(ExitCode::SUCCESS),
                }
            }
        }
        MembersCmd::Remove { seats, run, .. } => change(Request::Remove { seats }, run).await,
        MembersCmd::SetRole {
            seat, role, run, ..
        } => change(Request::SetRole { seat, role }, run).await,
        MembersCmd::SetPermissions {
            seat,
            asset,
            permissions,
            run,
            ..
        } => {
            change(
                Request::SetPermissions {
                    seat,
                    asset_id: asset,
                    permissions,
                },
                run,
            )
            .await
        }
        MembersCmd::Invite {
            email,
            role,
            assets,
            run,
            ..
        } => {
            let mut parsed = Vec::new();
            for a in &assets {
                let (asset, perms) = a
                    .split_once('=')
                    .ok_or_else(|| anyhow::anyhow!("--asset {a:?}: use ASSET=PERM[,PERM]"))?;
                parsed.push(AssetPermissions {
                    asset_id: asset.trim().to_string(),
                    permissions: perms.split(',').map(|p| p.trim().to_string()).collect(),
                });
            }
            change(
                Request::Invite {
                    email,
                    role,
                    assets: parsed,
                },
                run,
            )
            .await
        }
        MembersCmd::CancelInvite { seat, run, .. } => {
            change(Request::CancelInvite { seat }, run).await
        }
        MembersCmd::Match {
            seat, person, role, ..
        } => {
            let role = AppRole::parse("--role", &role).map_err(|e| anyhow::anyhow!("{e}"))?;
            let who = find_person(&store, &ws, &person).await?;
            let svc = services(cfg, &store, ([127, 0, 0, 1], 8080).into())?;
            shown(
                castellan_services::seats::match_seat(
                    &svc,
                    ws.id,
                    &cli_actor(),
                    app.id,
                    &seat,
                    who,
                    role,
                )
                .await
                .map_err(fail)?,
            )
        }
        MembersCmd::Unmatch { seat, .. } => {
            let svc = services(cfg, &store, ([127, 0, 0, 1], 8080).into())?;
            shown(
                castellan_services::seats::unmatch_seat(&svc, ws.id, &cli_actor(), app.id, &seat)
                    .await
                    .map_err(fail)?,
            )
        }
        MembersCmd::Exempt {
            seat,
            reason,
            until,
            ..
        } => {
            let until = until
                .map(|u| {
                    chrono::DateTime::parse_from_rfc3339(&u)
                        .map(|t| t.with_timezone(&chrono::Utc))
                        .map_err(|e| anyhow::anyhow!("--until {u:?}: {e}"))
                })
                .transpose()?;
            let svc = services(cfg, &store, ([127, 0, 0, 1], 8080).into())?;
            shown(
                castellan_services::seats::exempt_seat(
                    &svc,
                    ws.id,
                    Decider {
                        actor: &cli_actor(),
                        by: "cli",
                    },
                    app.id,
                    &seat,
                    &reason,
                    until,
                )
                .await
                .map_err(fail)?,
            )
        }
        MembersCmd::Unexempt { seat, .. } => {
            let svc = services(cfg, &store, ([127, 0, 0, 1], 8080).into())?;
            shown(
                castellan_services::seats::unexempt_seat(&svc, ws.id, &cli_actor(), app.id, &seat)
                    .await
                    .map_err(fail)?,
            )
        }
    }
}

fn report_json(r: &castellan_store::Report) -> serde_json::Value {
    serde_json::json!({ "id": r.id, "created_at": r.created_at, "status": r.status, "summary": r.summary,
        "changes": r.changes, "pending_removal": r.pending_removal, "resolution": r.resolution, "apply_task": r.apply_task })
}

fn report_text(r: &castellan_store::Report) -> String {
    let mut s = format!(
        "{}  {}  {:<17} {} seats new, {} vanished, {} awaiting removal",
        r.id,
        r.created_at.to_rfc3339(),
        r.status,
        r.summary.counts.seats_new,
        r.summary.counts.seats_vanished,
        r.pending_removal.len()
    );
    for p in &r.pending_removal {
        s.push_str(&format!(
            "\n    {} <{}>: seat {} ({:?})",
            p.person, p.person_email, p.user_id, p.roles
        ));
    }
    if let Some(castellan_domain::reports::Resolution::Applied { outcomes, .. }) = &r.resolution {
        for o in outcomes {
            s.push_str(&format!(
                "\n    {}: {}{}",
                o.seat,
                serde_json::to_value(o.outcome)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                o.error
                    .as_deref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ));
        }
    }
    s
}

pub async fn reports(cfg: &Config, cmd: ReportsCmd) -> anyhow::Result<ExitCode> {
    let store = open_store(cfg).await?;
    let target = match &cmd {
        ReportsCmd::List { target }
        | ReportsCmd::Show { target, .. }
        | ReportsCmd::Apply { target, .. }
        | ReportsCmd::Dismiss { target, .. } => target.clone(),
    };
    let ws = pick_workspace(&store, target.workspace.as_deref()).await?;
    let app = find_app(&store, &ws, &target.app).await?;
    let scoped = store.ws(ws.id);
    let json = target.json;
    match cmd {
        ReportsCmd::List { .. } => {
            for r in scoped.reports(app.id, 20).await? {
                out(json, report_json(&r), report_text(&r));
            }
            Ok(ExitCode::SUCCESS)
        }
        ReportsCmd::Show { report, .. } => {
            let r = scoped.report(app.id, &report).await?;
            out(json, report_json(&r), report_text(&r));
            Ok(ExitCode::SUCCESS)
        }
        ReportsCmd::Apply {
            report, seats, run, ..
        } => {
            let r = scoped.report(app.id, &report).await?;
            let chosen = (!seats.is_empty()).then_some(seats);
            let (chosen, live) = match castellan_services::members::report_targets(
                &store, ws.id, &r, chosen,
            )
            .await
            {
                Ok(t) => t,
                Err(castellan_services::members::PlanError::Refused(
                    Refusal::Invalid(e) | Refusal::Guard(e),
                )) => anyhow::bail!("{}: {}", e.field, e.message),
                Err(castellan_services::members::PlanError::Failed(m)) => anyhow::bail!(m),
            };
            if live.is_empty() {
                anyhow::bail!(
                    "none of these seats is on the platform any more: run a check for updates"
                );
            }
            let on = On {
                cfg,
                store: &store,
                ws: &ws,
                app: &app,
            };
            run_change(
                on,
                Request::Remove { seats: live },
                &run,
                json,
                (!run.dry_run).then(|| (r.id.clone(), chosen.clone())),
            )
            .await
        }
        ReportsCmd::Dismiss { report, reason, .. } => {
            let svc = services(cfg, &store, ([127, 0, 0, 1], 8080).into())?;
            let r = castellan_services::seats::dismiss_report(
                &svc,
                ws.id,
                Decider {
                    actor: &cli_actor(),
                    by: "cli",
                },
                app.id,
                &report,
                &reason,
            )
            .await
            .map_err(fail)?;
            out(json, report_json(&r), report_text(&r));
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The outbox: e-mails written, newest first.
pub async fn outbox(
    cfg: &Config,
    workspace: Option<String>,
    json: bool,
    limit: i64,
) -> anyhow::Result<ExitCode> {
    let store = open_store(cfg).await?;
    let ws = pick_workspace(&store, workspace.as_deref()).await?;
    for e in store.ws(ws.id).outbox(None, limit).await?.items {
        out(
            json,
            serde_json::json!({ "id": e.id, "status": e.status, "recipients": e.recipients, "subject": e.subject, "body": e.body, "created_at": e.created_at, "error": e.error }),
            format!(
                "{} {:<7} to {}: {}\n{}\n",
                e.created_at.to_rfc3339(),
                e.status,
                e.recipients.join(", "),
                e.subject,
                e.body
            ),
        );
    }
    Ok(ExitCode::SUCCESS)
}
