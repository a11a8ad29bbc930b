//! The languages of the sign-in pages (OIDC Core §3.1.2.1 `ui_locales`): English, and Norwegian
//! Bokmål for SuperOffice's home market. An app asks with `ui_locales`; the first tag we have
//! wins, and English is the default. Every word of the sign-in pages is here, so a language is
//! one more `Text`.

use serde::{Deserialize, Serialize};

use crate::apps::Entitlement;

/// A language the sign-in pages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    #[default]
    En,
    Nb,
}

/// What discovery lists as `ui_locales_supported`.
pub const SUPPORTED: [&str; 2] = ["en", "nb"];

impl Locale {
    /// The first language of `ui_locales` (space-separated BCP 47 tags, most preferred first)
    /// that we have; `no` and `nn` read as Bokmål, the written Norwegian we have.
    pub fn negotiate(ui_locales: Option<&str>) -> Locale {
        for tag in ui_locales.unwrap_or("").split(' ').take(10) {
            match tag.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase().as_str() {
                "en" => return Locale::En,
                "nb" | "no" | "nn" => return Locale::Nb,
                _ => {}
            }
        }
        Locale::En
    }

    pub fn text(self) -> &'static Text {
        match self {
            Locale::En => &EN,
            Locale::Nb => &NB,
        }
    }
}

/// The words of the sign-in pages in one language.
pub struct Text {
    pub lang: &'static str,
    pub title_sign_in: &'static str,
    pub title_passkey: &'static str,
    pub title_tenant: &'static str,
    pub title_approve: &'static str,
    pub title_code: &'static str,
    pub title_use_passkey: &'static str,
    pub title_enroll: &'static str,
    pub title_recovery: &'static str,
    pub title_consent: &'static str,
    pub continue_to: &'static str,
    pub email: &'static str,
    pub password: &'static str,
    pub sign_in: &'static str,
    pub forgot: &'static str,
    pub with_passkey: &'static str,
    pub use_a_passkey: &'static str,
    pub create_passkey: &'static str,
    pub device_asks: &'static str,
    pub with_password: &'static str,
    pub passkey_here: &'static str,
    pub code_label: &'static str,
    pub continue_: &'static str,
    pub app_heading: &'static str,
    pub app_help: &'static str,
    pub secret_help: &'static str,
    pub secret_label: &'static str,
    pub add_here: &'static str,
    pub six_digits: &'static str,
    pub turn_on: &'static str,
    pub or_passkey: &'static str,
    pub passkey_keeps: &'static str,
    pub reason_requested: &'static str,
    pub reason_policy: &'static str,
    pub factor_on: &'static str,
    pub keep_codes: &'static str,
    pub saved_continue: &'static str,
    pub asks_to: &'static str,
    pub go_back: &'static str,
    pub allow: &'static str,
    pub deny: &'static str,
    pub asks_to_be_used_in: &'static str,
    pub as_administrator: &'static str,
    pub able_to: &'static str,
    pub i_approve: &'static str,
    pub sign_in_to: &'static str,
    pub as_user_of: &'static str,
    pub wrong_password: &'static str,
    pub password_needed: &'static str,
    pub title_upstream: &'static str,
    pub to_upstream: &'static str,
    pub throttled: &'static str,
    pub passkey_refused: &'static str,
    scopes: [&'static str; 4],
    entitlements: Option<fn(Entitlement) -> &'static str>,
}

impl Text {
    /// What consenting to `scope` lets the app do.
    pub fn scope<'a>(&self, scope: &'a str) -> &'a str {
        match scope {
            "openid" => self.scopes[0],
            "profile" => self.scopes[1],
            "email" => self.scopes[2],
            "offline_access" => self.scopes[3],
            other => other,
        }
    }

    /// What approving `e` lets the app do in the tenant.
    pub fn entitlement(&self, e: Entitlement) -> &'static str {
        self.entitlements.map_or(e.describe(), |f| f(e))
    }
}

pub static EN: Text = Text {
    lang: "en",
    title_sign_in: "Sign in",
    title_passkey: "Sign in with a passkey",
    title_tenant: "Choose a tenant",
    title_approve: "Approve this app for your tenant",
    title_code: "Enter your code",
    title_use_passkey: "Use your passkey",
    title_enroll: "Set up a second factor",
    title_recovery: "Save your recovery codes",
    title_consent: "Allow access?",
    continue_to: "to continue to",
    email: "Email",
    password: "Password",
    sign_in: "Sign in",
    forgot: "Forgot your password?",
    with_passkey: "Sign in with a passkey",
    use_a_passkey: "Use a passkey",
    create_passkey: "Create a passkey",
    device_asks: "Your device asks for your fingerprint, face or PIN.",
    with_password: "Sign in with a password instead",
    passkey_here: "Use the passkey on this device or your security key.",
    code_label: "The six-digit code from your authenticator app, or a recovery code",
    continue_: "Continue",
    app_heading: "An authenticator app",
    app_help: "Add this account to an authenticator app (any app for time-based codes), then type the code it shows.",
    secret_help: "Secret key (type it, or open the link on the phone with the app):",
    secret_label: "Secret key",
    add_here: "Add to an authenticator app on this device",
    six_digits: "The six-digit code",
    turn_on: "Turn on",
    or_passkey: "Or a passkey",
    passkey_keeps: "Your device or security key keeps it, and asks for your fingerprint, face or PIN.",
    reason_requested: "This app asks for a second factor when you sign in.",
    reason_policy: "Your organisation asks its administrators to sign in with a second factor.",
    factor_on: "Your second factor is on.",
    keep_codes: "Keep these recovery codes somewhere safe, away from your phone. Each works once, instead of a code from the app, if you lose the phone. They are shown only now.",
    saved_continue: "I have saved them; continue",
    asks_to: "asks to:",
    go_back: "After this you go back to",
    allow: "Allow",
    deny: "Deny",
    asks_to_be_used_in: "asks to be used in",
    as_administrator: "As its administrator you approve it for every user of the tenant.",
    able_to: "It will be able to:",
    i_approve: "I approve",
    sign_in_to: "Sign in to",
    as_user_of: "as a user of",
    wrong_password: "The email or password is not right.",
    password_needed: "Enter your password.",
    title_upstream: "Sign in at your organisation",
    to_upstream: "Continue to your organisation's sign-in",
    throttled: "Too many failed sign-ins. Wait a few minutes and try again.",
    passkey_refused: "That passkey could not be used. Try again, or use another way to sign in.",
    scopes: [
        "know who you are",
        "see your name",
        "see your email address",
        "stay connected when you are away",
    ],
    entitlements: None,
};

pub static NB: Text = Text {
    lang: "nb",
    title_sign_in: "Logg inn",
    title_passkey: "Logg inn med passnøkkel",
    title_tenant: "Velg kunde",
    title_approve: "Godkjenn appen for kunden din",
    title_code: "Skriv inn koden",
    title_use_passkey: "Bruk passnøkkelen din",
    title_enroll: "Sett opp en ekstra faktor",
    title_recovery: "Ta vare på gjenopprettingskodene",
    title_consent: "Gi tilgang?",
    continue_to: "for å fortsette til",
    email: "E-post",
    password: "Passord",
    sign_in: "Logg inn",
    forgot: "Glemt passordet?",
    with_passkey: "Logg inn med passnøkkel",
    use_a_passkey: "Bruk en passnøkkel",
    create_passkey: "Lag en passnøkkel",
    device_asks: "Enheten ber om fingeravtrykk, ansikt eller PIN-kode.",
    with_password: "Logg inn med passord i stedet",
    passkey_here: "Bruk passnøkkelen på denne enheten eller sikkerhetsnøkkelen din.",
    code_label: "Den sekssifrede koden fra autentiseringsappen, eller en gjenopprettingskode",
    continue_: "Fortsett",
    app_heading: "En autentiseringsapp",
    app_help: "Legg til denne kontoen i en autentiseringsapp (en hvilken som helst app for tidsbaserte koder), og skriv inn koden den viser.",
    secret_help: "Hemmelig nøkkel (skriv den inn, eller åpne lenken på telefonen som har appen):",
    secret_label: "Hemmelig nøkkel",
    add_here: "Legg til i en autentiseringsapp på denne enheten",
    six_digits: "Den sekssifrede koden",
    turn_on: "Slå på",
    or_passkey: "Eller en passnøkkel",
    passkey_keeps: "Enheten eller sikkerhetsnøkkelen din tar vare på den, og ber om fingeravtrykk, ansikt eller PIN-kode.",
    reason_requested: "Denne appen ber om en ekstra faktor når du logger inn.",
    reason_policy: "Organisasjonen din ber administratorene logge inn med en ekstra faktor.",
    factor_on: "Den ekstra faktoren er slått på.",
    keep_codes: "Oppbevar disse gjenopprettingskodene et trygt sted, unna telefonen. Hver av dem virker én gang, i stedet for en kode fra appen, hvis du mister telefonen. De vises bare nå.",
    saved_continue: "Jeg har tatt vare på dem; fortsett",
    asks_to: "ber om å:",
    go_back: "Etterpå kommer du tilbake til",
    allow: "Tillat",
    deny: "Avslå",
    asks_to_be_used_in: "ber om å bli brukt hos",
    as_administrator: "Som administrator godkjenner du den for alle brukerne hos kunden.",
    able_to: "Den vil kunne:",
    i_approve: "Jeg godkjenner",
    sign_in_to: "Logg inn på",
    as_user_of: "som bruker hos",
    wrong_password: "E-postadressen eller passordet er feil.",
    password_needed: "Skriv inn passordet ditt.",
    title_upstream: "Logg inn hos organisasjonen din",
    to_upstream: "Fortsett til innloggingen hos organisasjonen din",
    throttled: "For mange mislykkede innlogginger. Vent noen minutter og prøv igjen.",
    passkey_refused: "Passnøkkelen kunne ikke brukes. Prøv igjen, eller logg inn på en annen måte.",
    scopes: ["vite hvem du er", "se navnet ditt", "se e-postadressen din", "holde forbindelsen når du er borte"],
    entitlements: Some(entitlement_nb),
};

fn entitlement_nb(e: Entitlement) -> &'static str {
    match e {
        Entitlement::WebApi => "bruke kundens Web API",
        Entitlement::Services88 => "bruke kundens SOAP-tjenester",
        Entitlement::WebhookAgent => "motta kundens hendelser (webhooks)",
        Entitlement::SystemToken => "opptre som systembruker med full tilgang til kundens data",
        Entitlement::ErpSyncAgent => "synkronisere kundens data med et ERP-system",
        Entitlement::ActForUsers => {
            "opptre som enhver bruker hos kunden som ikke er administrator, uten at brukeren logger inn"
        }
        Entitlement::ActForAdministrators => {
            "opptre som enhver bruker hos kunden, også administratorer, uten at brukeren logger inn"
        }
        Entitlement::ExchangeTokens => {
            "opptre for en bruker hos kunden med et token brukeren ga en annen app kunden har godkjent (token exchange)"
        }
        Entitlement::AdminPartner => "administrere partnerens apper gjennom admin-API-et",
        Entitlement::AdminTenant => {
            "administrere kundens innloggingsoppsett (identitetsleverandører og e-postdomener) gjennom admin-API-et"
        }
        Entitlement::AdminPlatform => "administrere alle partnere, apper og kunder gjennom admin-API-et",
    }
}

#[cfg(test)]
mod tests {
    use super::Locale;

    #[test]
    fn the_first_language_we_have_wins_and_english_is_the_default() {
        assert_eq!(Locale::negotiate(Some("nb-NO en")), Locale::Nb);
        assert_eq!(Locale::negotiate(Some("fr-CA no")), Locale::Nb);
        assert_eq!(Locale::negotiate(Some("en-GB nb")), Locale::En);
        assert_eq!(Locale::negotiate(Some("fr de")), Locale::En);
        assert_eq!(Locale::negotiate(None), Locale::En);
    }
}
