//! Security notices mailed to a person about their own account: a sign-in from a new browser,
//! and a second factor added or removed. Sent off the request path.

use askama::Template;

use super::people::People;
use super::User;
use crate::clock::utc_minute;
use crate::mail::Mail;
use crate::paths;

#[derive(Template)]
#[template(path = "mail/new_device.txt")]
struct NewDeviceMail<'a> {
    name: &'a str,
    email: &'a str,
    when: String,
    account: String,
}

#[derive(Template)]
#[template(path = "mail/second_factor.txt")]
struct SecondFactorMail<'a> {
    name: &'a str,
    email: &'a str,
    when: String,
    added: bool,
}

/// A security notice to a person about their own account.
#[derive(Clone, Copy, Debug)]
pub enum Notice {
    /// A sign-in from a browser without the device cookie of an earlier one.
    NewDevice,
    SecondFactorAdded,
    SecondFactorRemoved,
}

impl People {
    /// Mails `user` a security notice, off the request path: a slow or failing relay never
    /// delays or fails the sign-in that caused it (a failure is logged).
    /// A process about to exit (the CLI) awaits the returned handle.
    pub fn notify(&self, user: &User, notice: Notice) -> Option<tokio::task::JoinHandle<()>> {
        let when = utc_minute(self.clock.now());
        let rendered = match notice {
            Notice::NewDevice => NewDeviceMail {
                name: &user.name,
                email: &user.email,
                when,
                account: format!("{}{}", self.base_url, paths::ACCOUNT),
            }
            .render()
            .map(|t| ("New sign-in to your account", t)),
            Notice::SecondFactorAdded | Notice::SecondFactorRemoved => SecondFactorMail {
                name: &user.name,
                email: &user.email,
                when,
                added: matches!(notice, Notice::SecondFactorAdded),
            }
            .render()
            .map(|t| ("Your second factor changed", t)),
        };
        let Ok((subject, text)) = rendered else { return None };
        let mail = Mail { to: user.email.clone(), subject: subject.into(), text, link: None };
        let people = self.clone();
        Some(tokio::spawn(async move {
            people.deliver(mail).await;
        }))
    }
}
