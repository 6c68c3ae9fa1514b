//! Operator commands: bootstrap, directory import, audit verification, enqueueing tasks,
//! rotating the vault master key.

use std::process::ExitCode;

use anyhow::Context;
use castellan_domain::auth::generate_password;
use castellan_domain::directory::plan_csv_import;
use castellan_domain::tasks::{TaskKind, TaskTrigger};
use castellan_domain::values::Email;
use castellan_domain::words::count;
use castellan_domain::workspace::parse_workspace_name;
use castellan_store::{NewTask, Store, Workspace};

use super::*;
use crate::config::Config;

pub(crate) async fn bootstrap(
    store: &Store,
    workspace: &str,
    email: &str,
) -> anyhow::Result<(Workspace, String)> {
    let name = parse_workspace_name(workspace)
        .map_err(|e| anyhow::anyhow!("--workspace: {}", e.message))?;
    let email = Email::parse("--email", email).map_err(|e| anyhow::anyhow!("{e}"))?;
    let password = store.env().with_rng(generate_password);
    let salt = store.env().with_rng(|r| {
        let mut b = [0u8; 16];
        r.fill_bytes(&mut b);
        b
    });
    let hash = castellan_server::auth::hash_password(password.clone(), salt).await?;
    let (ws, _) = store
        .create_workspace_with_owner(&name, &email, &hash, &cli_actor())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((ws, password))
}

pub(crate) fn openapi() -> anyhow::Result<ExitCode> {
    println!(
        "{}",
        serde_json::to_string_pretty(&castellan_server::openapi())?
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn migrate(cfg: &Config) -> anyhow::Result<ExitCode> {
    let store = create_store(cfg).await?;
    println!("database is up to date ({})", store.backend().name());
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn bootstrap_command(
    cfg: &Config,
    workspace: &str,
    email: &str,
) -> anyhow::Result<ExitCode> {
    let store = create_store(cfg).await?;
    let (ws, password) = bootstrap(&store, workspace, email).await?;
    println!("Workspace {:?} created with Owner {email}.", ws.name);
    println!("One-time password: {password}");
    println!("Sign in with it and change it (POST /api/v1/me/password).");
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn directory_import(
    cfg: &Config,
    file: &std::path::Path,
    workspace: Option<String>,
    skip_invalid: bool,
    dry_run: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let data = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let plan = plan_csv_import(&data);
    let header_broken = plan.errors.iter().any(|e| e.line == 1);
    for e in &plan.errors {
        eprintln!(
            "{}: line {}, {}: {}",
            file.display(),
            e.line,
            e.field,
            e.message
        );
    }
    if header_broken || (!plan.errors.is_empty() && !skip_invalid) {
        eprintln!(
            "{}; nothing was imported (use --skip-invalid to import the valid rows)",
            count(plan.errors.len(), "invalid row", "invalid rows")
        );
        return Ok(ExitCode::FAILURE);
    }
    if dry_run {
        println!(
            "{}; dry run, nothing written",
            count(plan.rows.len(), "valid row", "valid rows")
        );
        return Ok(ExitCode::SUCCESS);
    }
    let store = open_store(cfg).await?;
    let ws = pick_workspace(&store, workspace.as_deref()).await?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let s = store
        .ws(ws.id)
        .import_identities(&cli_actor(), &plan.rows, plan.groups_column, &name)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if json {
        println!(
            "{}",
            serde_json::json!({"created": s.created, "updated": s.updated, "unchanged": s.unchanged, "deactivated": s.deactivated, "groups_created": s.groups_created, "skipped_rows": plan.errors.len()})
        );
    } else {
        println!(
            "imported into {:?}: {} created, {} updated, {} unchanged, {} deactivated, {} groups created, {} rows skipped",
            ws.name,
            s.created,
            s.updated,
            s.unchanged,
            s.deactivated,
            s.groups_created,
            plan.errors.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn audit_verify(
    cfg: &Config,
    workspace: Option<String>,
) -> anyhow::Result<ExitCode> {
    let store = open_store(cfg).await?;
    let targets = match workspace {
        Some(n) => vec![pick_workspace(&store, Some(&n)).await?],
        None => store.list_workspaces().await?,
    };
    let mut broken = false;
    for ws in targets {
        match store.ws(ws.id).audit_verify().await? {
            Ok(n) => println!("workspace {:?}: {n} events, chain intact", ws.name),
            Err(b) => {
                broken = true;
                eprintln!("workspace {:?}: {b}", ws.name);
            }
        }
    }
    Ok(if broken {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

pub(crate) async fn tasks_enqueue(
    cfg: &Config,
    kind: &str,
    payload: &str,
    workspace: Option<String>,
    count: usize,
) -> anyhow::Result<ExitCode> {
    let kind = TaskKind::new(kind).map_err(|e| anyhow::anyhow!("{e}"))?;
    let payload: serde_json::Value =
        serde_json::from_str(payload).context("--payload must be JSON")?;
    let store = open_store(cfg).await?;
    let ws = pick_workspace(&store, workspace.as_deref()).await?;
    let tasks = (0..count)
        .map(|_| NewTask::new(kind.clone(), payload.clone(), TaskTrigger::System))
        .collect();
    let ids = store
        .ws(ws.id)
        .enqueue_many(&cli_actor(), tasks)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for id in ids.iter().take(20) {
        println!("{id}");
    }
    if ids.len() > 20 {
        println!("… and {} more", ids.len() - 20);
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn rotate_key(cfg: &Config, retire: bool) -> anyhow::Result<ExitCode> {
    if cfg.master_key.is_some() {
        anyhow::bail!(
            "rotate-key works on the key file in the data directory; the master key is set by configuration (CASTELLAN_MASTER_KEY), so rotate it there"
        );
    }
    let store = open_store(cfg).await?;
    open_vault(cfg)?;
    let report = castellan_services::vault::rotate_master_key(
        &store,
        &cfg.data_dir.join("master.key"),
        retire,
    )
    .await
    .map_err(|e| anyhow::anyhow!(e))?;
    println!(
        "master key rotated to version {}; {} secrets re-wrapped{}",
        report.new_version,
        report.rewrapped,
        if report.retired_previous {
            "; old keys retired"
        } else {
            "; old keys kept in the key file (run again with --retire to drop them)"
        }
    );
    Ok(ExitCode::SUCCESS)
}
