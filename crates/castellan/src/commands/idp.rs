//! `castellan oidc` (sign-in with the workspace's identity provider: show, set, remove) and
//! `castellan groups` (IdP groups that manage app members: map, unmap, list, plan, apply). The
//! operator acts as an Owner, as the other operator commands do.

use std::process::ExitCode;

use clap::Subcommand;

use super::{cli_actor, open_store, pick_workspace, services};
use crate::config::Config;
use castellan_domain::workspace::WorkspaceRole;

#[derive(Subcommand)]
pub(crate) enum OidcCmd {
    /// The workspace's IdP sign-in settings (never the client secret).
    Show {
        #[arg(long)]
        workspace: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Set them. The client secret is read from an environment variable, never an argument
    /// (arguments show in process lists and shell history).
    Set {
        /// The IdP's name on the sign-in button ("Okta").
        #[arg(long)]
        name: String,
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        client_id: String,
        /// The environment variable holding the client secret (required the first time).
        #[arg(long)]
        client_secret_env: Option<String>,
        /// Comma-separated e-mail domains admitted (default: any the directory holds).
        #[arg(long, default_value = "")]
        allowed_domains: String,
        #[arg(long, default_value = "groups")]
        groups_claim: String,
        /// Refuse local passwords for everyone but Owners (and guest users).
        #[arg(long)]
        passwords_owners_only: bool,
        /// Save it turned off.
        #[arg(long)]
        disabled: bool,
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Remove IdP sign-in: everyone signs in with a password again.
    Remove {
        #[arg(long)]
        workspace: Option<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum GroupsCmd {
    /// The workspace's group mappings.
    Mappings {
        #[arg(long)]
        workspace: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Map a directory group (by name) to an app (by label or id).
    Map {
        group: String,
        app: String,
        /// The business role, as the platform names it (EMPLOYEE, BIZ_ADMIN, STANDARD, ADMIN).
        #[arg(long)]
        role: String,
        /// The role on the app's account card: collaborator or owner.
        #[arg(long, default_value = "collaborator")]
        app_role: String,
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Remove a mapping by its id.
    Unmap {
        id: String,
        #[arg(long)]
        workspace: Option<String>,
    },
    /// The plan the mappings run now, each step with its platform calls, and its hash.
    Plan {
        #[arg(long)]
        workspace: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Apply the plan shown by `groups plan` (its hash; a changed plan is refused).
    Apply {
        #[arg(long)]
        plan_hash: String,
        #[arg(long)]
        workspace: Option<String>,
    },
}

fn fail(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

pub(crate) async fn oidc(cfg: &Config, cmd: OidcCmd) -> anyhow::Result<ExitCode> {
    let store = open_store(cfg).await?;
    let addr = cfg
        .listen
        .parse()
        .unwrap_or_else(|_| ([127, 0, 0, 1], 8080).into());
    let svc = services(cfg, &store, addr)?;
    let owner = WorkspaceRole::Owner;
    match cmd {
        OidcCmd::Show { workspace, json } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let Some(v) = castellan_services::oidc::settings(&svc, ws.id, owner)
                .await
                .map_err(fail)?
            else {
                println!("IdP sign-in is not set up in {}", ws.name);
                return Ok(ExitCode::SUCCESS);
            };
            let s = &v.settings;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "display_name": s.display_name, "issuer": s.issuer, "client_id": s.client_id,
                        "client_secret_set": v.client_secret_set, "allowed_domains": s.allowed_domains,
                        "groups_claim": s.groups_claim, "passwords_owners_only": s.passwords_owners_only,
                        "enabled": s.enabled, "redirect_uri": v.redirect_uri,
                    })
                );
            } else {
                println!(
                    "Sign in with {} ({})",
                    s.display_name,
                    if s.enabled { "on" } else { "off" }
                );
                println!("issuer: {}", s.issuer);
                println!(
                    "client id: {} (secret {})",
                    s.client_id,
                    if v.client_secret_set {
                        "saved"
                    } else {
                        "missing"
                    }
                );
                println!("redirect URI to register: {}", v.redirect_uri);
                println!(
                    "allowed e-mail domains: {}",
                    if s.allowed_domains.is_empty() {
                        "any".into()
                    } else {
                        s.allowed_domains.join(", ")
                    }
                );
                println!(
                    "passwords: {}",
                    if s.passwords_owners_only {
                        "Owners and guest users only"
                    } else {
                        "everyone"
                    }
                );
            }
        }
        OidcCmd::Set {
            name,
            issuer,
            client_id,
            client_secret_env,
            allowed_domains,
            groups_claim,
            passwords_owners_only,
            disabled,
            workspace,
        } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let client_secret = match client_secret_env {
                Some(var) => Some(std::env::var(&var).map_err(|_| {
                    anyhow::anyhow!("client_secret: the environment variable {var} is not set")
                })?),
                None => None,
            };
            let v = castellan_services::oidc::configure(
                &svc,
                ws.id,
                &cli_actor(),
                owner,
                &castellan_services::oidc::OidcInput {
                    display_name: name,
                    issuer,
                    client_id,
                    client_secret,
                    allowed_domains,
                    groups_claim,
                    passwords_owners_only,
                    enabled: !disabled,
                },
            )
            .await
            .map_err(fail)?;
            println!(
                "saved: Sign in with {}; register {} at the IdP as the redirect URI",
                v.settings.display_name, v.redirect_uri
            );
        }
        OidcCmd::Remove { workspace } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            castellan_services::oidc::remove(&svc, ws.id, &cli_actor(), owner)
                .await
                .map_err(fail)?;
            println!("IdP sign-in removed from {}", ws.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(crate) async fn groups(cfg: &Config, cmd: GroupsCmd) -> anyhow::Result<ExitCode> {
    let store = open_store(cfg).await?;
    let addr = cfg
        .listen
        .parse()
        .unwrap_or_else(|_| ([127, 0, 0, 1], 8080).into());
    let svc = services(cfg, &store, addr)?;
    let queue = |e: castellan_services::members::QueueError| match e {
        castellan_services::members::QueueError::Stale => {
            anyhow::anyhow!("plan_hash: the plan changed since it was shown; run groups plan again")
        }
        e => anyhow::anyhow!("{e:?}"),
    };
    match cmd {
        GroupsCmd::Mappings { workspace, json } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            for m in store.ws(ws.id).group_mappings(None, None).await? {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({ "id": m.id, "group": m.group_name, "app": m.app_label, "app_id": m.app_id, "business_role": m.business_role, "app_role": m.app_role.as_str() })
                    );
                } else {
                    println!(
                        "{}  {} → {}: {}, {}",
                        m.id,
                        m.group_name,
                        m.app_label,
                        m.business_role,
                        m.app_role.as_str()
                    );
                }
            }
        }
        GroupsCmd::Map {
            group,
            app,
            role,
            app_role,
            workspace,
        } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let scoped = store.ws(ws.id);
            let g = scoped
                .group_by_display_name(&group)
                .await?
                .ok_or_else(|| anyhow::anyhow!("group_id: no group named {group:?}"))?;
            let apps = scoped.apps(None, 1000).await?.items;
            let a = apps
                .iter()
                .find(|a| a.label.eq_ignore_ascii_case(&app) || a.id.to_string() == app)
                .ok_or_else(|| anyhow::anyhow!("app_id: no app labelled {app:?}"))?;
            let m = castellan_services::group_mappings::create(
                &svc,
                ws.id,
                &cli_actor(),
                &castellan_services::group_mappings::MappingInput {
                    group_id: g.id,
                    app_id: a.id,
                    app_role,
                    business_role: role,
                    assets: Vec::new(),
                },
            )
            .await
            .map_err(fail)?;
            println!(
                "mapped {} to {} ({}): nothing changes on the platform until the plan is applied (castellan groups plan)",
                m.group_name, m.app_label, m.id
            );
        }
        GroupsCmd::Unmap { id, workspace } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let id = id
                .parse()
                .map_err(|_| anyhow::anyhow!("id: {id:?} is not a mapping id"))?;
            let m = castellan_services::group_mappings::delete(&svc, ws.id, &cli_actor(), id)
                .await
                .map_err(fail)?;
            println!("{} is no longer mapped to {}", m.group_name, m.app_label);
        }
        GroupsCmd::Plan { workspace, json } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let p = castellan_services::group_mappings::plan(&svc, ws.id, None)
                .await
                .map_err(queue)?;
            if json {
                let steps: Vec<_> = p
                    .steps
                    .iter()
                    .map(|s| serde_json::json!({ "kind": s.kind, "email": s.email, "app": s.app_label, "from_role": s.from_role, "to_role": s.to_role, "via": s.via, "calls": s.preview.calls }))
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({ "steps": steps, "input_hash": p.input_hash })
                );
            } else if p.steps.is_empty() {
                println!("nothing to do: every mapped group's members hold what their groups give");
            } else {
                for s in &p.steps {
                    println!(
                        "{:<10} {} on {}: {} → {} (through {})",
                        s.kind.label(),
                        s.email,
                        s.app_label,
                        s.from_role.as_deref().unwrap_or("-"),
                        s.to_role.as_deref().unwrap_or("-"),
                        if s.via.is_empty() {
                            "no mapped group".into()
                        } else {
                            s.via.join(", ")
                        }
                    );
                    for c in s.preview.calls.iter().flatten() {
                        println!("    {c}");
                    }
                }
                println!(
                    "apply with: castellan groups apply --plan-hash {}",
                    p.input_hash
                );
            }
        }
        GroupsCmd::Apply {
            plan_hash,
            workspace,
        } => {
            let ws = pick_workspace(&store, workspace.as_deref()).await?;
            let out = castellan_services::group_mappings::apply(
                &svc,
                ws.id,
                &cli_actor(),
                None,
                None,
                &plan_hash,
            )
            .await
            .map_err(queue)?;
            println!(
                "queued {} change(s) in {} task(s); a running castellan serve or worker carries them out",
                out.plan.steps.len(),
                out.tasks.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
