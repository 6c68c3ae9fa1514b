//! Sending e-mail over SMTP (lettre). Every e-mail is first written to the outbox; with SMTP
//! configured an `email.send` task sends it (retried like any task), without it the outbox
//! keeps it for the API and CLI to show.

use std::sync::Arc;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use castellan_domain::tasks::{EmailSend, TaskFailure};

use crate::error::TaskResult;
use crate::worker::{HandlerResult, TaskContext};

/// How the connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// Plain SMTP (a relay on the same host or a trusted network only).
    None,
    /// Upgrade with STARTTLS (submission, usually port 587).
    Starttls,
    /// TLS from the start (SMTPS, usually port 465).
    Tls,
}

#[derive(Clone, serde::Deserialize, serde::Serialize)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default = "default_tls")]
    pub tls: Tls,
    #[serde(default)]
    pub username: Option<String>,
    /// `CASTELLAN_SMTP__PASSWORD_FILE` reads it from a file.
    #[serde(default)]
    pub password: Option<String>,
    /// The sender, e.g. `Castellan <castellan@acme.example.com>`.
    pub from: String,
}

fn default_port() -> u16 {
    587
}

fn default_tls() -> Tls {
    Tls::Starttls
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("from", &self.from)
            .finish()
    }
}

/// Sends one message.
pub async fn send(
    cfg: &SmtpConfig,
    to: &[String],
    subject: &str,
    body: &str,
) -> Result<(), String> {
    let from: Mailbox = cfg
        .from
        .parse()
        .map_err(|e| format!("smtp.from is not an address: {e}"))?;
    let mut msg = Message::builder().from(from).subject(subject);
    for r in to {
        msg = msg.to(r
            .parse()
            .map_err(|e| format!("recipient {r} is not an address: {e}"))?);
    }
    let msg = msg
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_string())
        .map_err(|e| format!("building the message: {e}"))?;
    let builder = match cfg.tls {
        Tls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&cfg.host),
        Tls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&cfg.host)
            .map_err(|e| format!("smtp: {e}"))?,
        Tls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&cfg.host)
            .map_err(|e| format!("smtp: {e}"))?,
    };
    let mut builder = builder
        .port(cfg.port)
        .timeout(Some(std::time::Duration::from_secs(30)));
    if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
        builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
    }
    builder
        .build()
        .send(msg)
        .await
        .map(|_| ())
        .map_err(|e| format!("smtp: {e}"))
}

/// Where e-mails go and what links in them point at.
#[derive(Clone, Debug)]
pub struct Mail {
    pub smtp: Option<Arc<SmtpConfig>>,
    pub public_url: String,
}

impl Default for Mail {
    fn default() -> Self {
        Self {
            smtp: None,
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

pub(crate) async fn send_task(
    ctx: TaskContext,
    svc: crate::Services,
    p: EmailSend,
) -> HandlerResult {
    let smtp = svc.mail.smtp.clone();
    let id = p.email_id;
    let scoped = ctx.store.ws(ctx.task.workspace_id);
    let email = scoped.email(&id).await.task()?;
    if email.status == castellan_domain::outbox::EmailStatus::Sent {
        return Ok(serde_json::json!({ "already_sent": true }));
    }
    let Some(smtp) = smtp else {
        return Err(TaskFailure::Permanent(
            "no SMTP server is configured: the e-mail stays in the outbox".into(),
        ));
    };
    // An invitation's body carries its sign-in link only sealed; it is opened just to send.
    let body = crate::guests::full_body(&svc, ctx.task.workspace_id, &email)
        .await
        .task()?;
    match send(&smtp, &email.recipients, &email.subject, &body).await {
        Ok(()) => {
            scoped.mark_email(&id, None).await.task()?;
            Ok(serde_json::json!({ "sent_to": email.recipients }))
        }
        Err(e) => {
            if ctx.task.attempts >= ctx.task.max_attempts {
                scoped.mark_email(&id, Some(&e)).await.ok();
            }
            Err(TaskFailure::Retryable(e))
        }
    }
}
