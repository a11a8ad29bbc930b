//! Outbound mail: one `Mailer` that either hands messages to an SMTP relay (lettre, over
//! rustls on our one crypto backend; docs/decisions/0018) or, on the embedded default, writes
//! each one to a file in the outbox folder and logs its link, so a fresh install needs no mail
//! server. What the messages say is the domain's; this module only delivers them.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailConfig, MailTransport};
use crate::error::{Error, Result};

/// How long one SMTP conversation may take before the send counts as failed.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// One plain-text message. `link` is the single-use link it carries, if any: the outbox logs
/// it, so a developer without a mail server can follow it.
#[derive(Debug)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub link: Option<String>,
}

#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    transport: Arc<Transport>,
}

enum Transport {
    Outbox(PathBuf),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match *self.transport {
            Transport::Outbox(_) => "outbox",
            Transport::Smtp(_) => "smtp",
        };
        f.debug_struct("Mailer").field("from", &self.from.to_string()).field("transport", &kind).finish()
    }
}

impl Mailer {
    pub fn new(config: &MailConfig) -> anyhow::Result<Mailer> {
        let from: Mailbox = config.from.parse().map_err(|e| anyhow::anyhow!("mail.from: {e}"))?;
        let transport = match &config.transport {
            MailTransport::Outbox(dir) => Transport::Outbox(dir.clone()),
            MailTransport::Smtp(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    // The error could quote the URL, which may hold the relay's password.
                    .map_err(|_| anyhow::anyhow!("mail.smtp_url is not a usable SMTP URL"))?
                    .timeout(Some(SMTP_TIMEOUT))
                    .build(),
            ),
        };
        Ok(Mailer { from, transport: Arc::new(transport) })
    }

    /// Delivers `mail`: accepted by the relay, or written to the outbox.
    pub async fn send(&self, mail: &Mail) -> Result<()> {
        let to: Mailbox = mail.to.parse().map_err(|_| Error::invalid("email", "is not an address mail can go to"))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.as_str())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text.clone())
            .map_err(|e| Error::Internal(e.into()))?;
        match &*self.transport {
            Transport::Smtp(smtp) => {
                smtp.send(message)
                    .await
                    .map_err(|e| Error::Internal(anyhow::anyhow!("the SMTP relay refused or failed: {e}")))?;
                tracing::info!(subject = %mail.subject, "mail handed to the SMTP relay");
            }
            Transport::Outbox(dir) => {
                tokio::fs::create_dir_all(dir).await.map_err(|e| Error::Internal(e.into()))?;
                // Sorted by name is sorted by when it was written.
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or_default();
                let name = format!("{nanos:020}-{}.eml", crate::crypto::random_id());
                let path = dir.join(name);
                tokio::fs::write(&path, message.formatted()).await.map_err(|e| Error::Internal(e.into()))?;
                // The embedded default has no mail server: the link in the log is how a
                // developer follows it. A deployment that sends real mail sets `mail.smtp_url`.
                tracing::info!(
                    path = %path.display(),
                    subject = %mail.subject,
                    link = mail.link.as_deref().unwrap_or("-"),
                    "mail written to the outbox"
                );
            }
        }
        Ok(())
    }
}
