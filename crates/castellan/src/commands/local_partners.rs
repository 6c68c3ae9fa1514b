//! `castellan partners local`: the workspace's local partners (organizations of guest users):
//! list them with their people, add one with its Host Admins and first Guest Admin, invite more
//! of its people, end a partnership, link a native partner of an app to it. The CLI acts with the Owner's rights.

use std::process::ExitCode;

use castellan_domain::local_partners::PartnerRole;
use castellan_domain::values::Email;
use castellan_services::local_partners as lp;
use clap::Subcommand;

use super::apps::find_app;
use super::{cli_actor, operator, pick_workspace, services};
use crate::config::Config;

#[derive(Subcommand)]
pub enum LocalCmd {
    /// Local partners with their people.
    List {
        #[arg(long)]
        workspace: Option<String>,
        /// One JSON object per partner.
        #[arg(long)]
        json: bool,
    },
    /// Add a local partner; its first member is invited as Guest Admin.
    Add {
        /// The company's name.
        name: String,
        /// The first member's e-mail.
        #[arg(long)]
        first_email: String,
        #[arg(long)]
        first_name: Option<String>,
        /// E-mail domains, comma-separated; the partner's people must use one.
        #[arg(long, default_value = "")]
        domains: String,
        /// A Host Admin's e-mail (a person of the workspace); repeat it.
        #[arg(long = "host")]
        hosts: Vec<String>,
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Invite a person into a local partner.
    Invite {
        /// The partner's name or id.
        partner: String,
        email: String,
        /// guest_user or guest_admin.
        #[arg(long, default_value = "guest_user")]
        role: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        workspace: Option<String>,
    },
    /// End a partnership: every guest of it is revoked, the accounts shared with it unshared;
    /// the next checks' reports list their seats for removal.
    End {
        /// The partner's name or id.
        partner: String,
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Link a native partner of an app (the same organization) to a local partner.
    Link {
        /// The local partner's name or id.
        partner: String,
        /// App id or label.
        app: String,
        /// The native partner's business id.
        native_partner: String,
        #[arg(long)]
        workspace: Option<String>,
    },
}

async fn partner_by(
    store: &castellan_store::Store,
    ws: castellan_domain::WorkspaceId,
    name_or_id: &str,
) -> anyhow::Result<castellan_store::local_partners::LocalPartner> {
    store
        .ws(ws)
        .local_partners()
        .await?
        .into_iter()
        .find(|p| p.id.to_string() == name_or_id || p.name.eq_ignore_ascii_case(name_or_id))
        .ok_or_else(|| anyhow::anyhow!("no local partner named {name_or_id:?}"))
}

pub(crate) async fn local(
    cfg: &Config,
    store: &castellan_store::Store,
    cmd: LocalCmd,
) -> anyhow::Result<ExitCode> {
    let svc = services(cfg, store, ([127, 0, 0, 1], 0).into())?;
    match cmd {
        LocalCmd::List { workspace, json } => {
            let ws = pick_workspace(store, workspace.as_deref()).await?;
            for (p, _) in lp::visible(&svc, ws.id, operator()).await? {
                let people = store.ws(ws.id).partner_people(p.id).await?;
                if json {
                    let people: Vec<_> = people
                        .iter()
                        .map(|x| serde_json::json!({ "email": x.email, "role": x.role.as_str(), "joined": x.joined, "disabled": x.disabled }))
                        .collect();
                    println!(
                        "{}",
                        serde_json::json!({ "id": p.id.to_string(), "name": p.name, "domains": p.domains, "people": people })
                    );
                } else {
                    println!("{}  {}  ({})", p.id, p.name, p.domains.join(", "));
                    for x in people {
                        println!("    {:<40} {}", x.email, x.role.label());
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        LocalCmd::Add {
            name,
            first_email,
            first_name,
            domains,
            hosts,
            workspace,
        } => {
            let ws = pick_workspace(store, workspace.as_deref()).await?;
            let mut host_ids = Vec::new();
            for h in &hosts {
                let e = Email::parse("host", h).map_err(|e| anyhow::anyhow!("{e}"))?;
                let p =
                    store.ws(ws.id).person_by_email(&e).await.map_err(|_| {
                        anyhow::anyhow!("host: no person {h} in workspace {}", ws.name)
                    })?;
                host_ids.push(p.id);
            }
            let (p, person) = lp::add_partner(
                &svc,
                ws.id,
                &cli_actor(),
                operator(),
                lp::NewPartner {
                    name: &name,
                    domains: &domains,
                    first_email: &first_email,
                    first_name: first_name.as_deref(),
                    host_admins: &host_ids,
                },
            )
            .await?;
            println!(
                "Added {} ({}): {} is invited as its Guest Admin (castellan guests resend {} --show-link prints a link).",
                p.name, p.id, person.email, person.email
            );
            Ok(ExitCode::SUCCESS)
        }
        LocalCmd::Invite {
            partner,
            email,
            role,
            name,
            workspace,
        } => {
            let ws = pick_workspace(store, workspace.as_deref()).await?;
            let p = partner_by(store, ws.id, &partner).await?;
            let role: PartnerRole = role
                .parse()
                .map_err(|_| anyhow::anyhow!("role: must be guest_user or guest_admin"))?;
            let person = lp::invite_into(
                &svc,
                ws.id,
                &cli_actor(),
                operator(),
                p.id,
                &email,
                name.as_deref(),
                role,
            )
            .await?;
            println!(
                "Invited {} into {} as {}.",
                person.email,
                p.name,
                role.label()
            );
            Ok(ExitCode::SUCCESS)
        }
        LocalCmd::End { partner, workspace } => {
            let ws = pick_workspace(store, workspace.as_deref()).await?;
            let p = partner_by(store, ws.id, &partner).await?;
            let d = lp::end_partner(&svc, ws.id, &cli_actor(), operator(), p.id).await?;
            let revoked = d.people.iter().filter(|x| x.role.is_guest()).count();
            println!(
                "Ended the partnership with {}: {revoked} guest(s) revoked; the next checks list their seats for removal.",
                p.name
            );
            Ok(ExitCode::SUCCESS)
        }
        LocalCmd::Link {
            partner,
            app,
            native_partner,
            workspace,
        } => {
            let ws = pick_workspace(store, workspace.as_deref()).await?;
            let p = partner_by(store, ws.id, &partner).await?;
            let a = find_app(store, &ws, &app).await?;
            lp::link_native(
                &svc,
                ws.id,
                &cli_actor(),
                operator(),
                p.id,
                &a.id.to_string(),
                &native_partner,
            )
            .await?;
            println!("Linked {native_partner} of {} to {}.", a.label, p.name);
            Ok(ExitCode::SUCCESS)
        }
    }
}
