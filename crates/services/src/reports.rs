//! Deprovisioning reports as people hear of them: the e-mail a check sends when its report
//! lists people no earlier report did.

use castellan_domain::WorkspaceId;
use castellan_domain::audit::Actor;
use castellan_domain::tasks::{EmailSend, TaskTrigger};
use castellan_store::{App, CheckSummary, NewTask};

use crate::Services;

/// After a check whose report lists people no earlier report did: one e-mail to the
/// workspace's Owners and Admins and the app's Owners, sent when SMTP is configured and kept
/// in the outbox either way.
pub async fn notify_report(
    svc: &Services,
    ws: WorkspaceId,
    app: &App,
    summary: &CheckSummary,
) -> Result<Option<String>, castellan_store::StoreError> {
    if summary.newly_pending == 0 {
        return Ok(None);
    }
    let scoped = svc.store.ws(ws);
    let report = scoped.report(app.id, &summary.report_id).await?;
    let recipients = scoped.report_recipients(app.id).await?;
    if recipients.is_empty() {
        return Ok(None);
    }
    // The web app's Reports tab of the app, where the report is applied or dismissed.
    let link = format!(
        "{}/apps/{}/reports/{}",
        svc.mail.public_url.trim_end_matches('/'),
        app.id,
        report.id
    );
    let mut body = format!(
        "A check for updates of {} ({} {}) found seats of people who are deactivated in the directory.\n\n",
        app.label, app.platform, app.business_id
    );
    for p in &report.pending_removal {
        body.push_str(&format!(
            "- {} <{}>: seat {} ({}), role {}\n",
            p.person,
            p.person_email,
            p.user_id,
            p.email.as_deref().unwrap_or("no e-mail"),
            p.roles.join(", ")
        ));
    }
    body.push_str(&format!(
        "\nReview and apply the report (removes these seats on the platform) or dismiss it:\n{link}\n\n\
         castellan reports apply \"{}\" {}\n",
        app.label, report.id
    ));
    let subject = format!(
        "[Castellan] {}: {} deprovisioned {} still {} seats",
        app.label,
        summary.pending_removal,
        if summary.pending_removal == 1 {
            "person"
        } else {
            "people"
        },
        if summary.pending_removal == 1 {
            "holds"
        } else {
            "hold"
        }
    );
    let send = svc.mail.smtp.is_some();
    let email = scoped
        .put_email(
            &recipients,
            &subject,
            &body,
            Some(&format!("report:{}", report.id)),
            send,
        )
        .await?;
    if send {
        let mut t = NewTask::of(
            &EmailSend {
                email_id: email.id.clone(),
            },
            TaskTrigger::System,
        );
        t.app_id = Some(app.id);
        scoped
            .enqueue(
                &Actor::Automation {
                    name: "check-for-updates".into(),
                },
                t,
            )
            .await?;
    }
    Ok(Some(email.id))
}
