//! Server-rendered pages: rendering an askama template (`templates/`, escaped by default) into a
//! response with the security headers every page carries, the error page and `PageError`, and
//! the `form_post` response. No JavaScript is needed except for passkeys; the three scripts
//! (auto-submitting `form_post` responses, copy buttons, the passkey button) are allowed by
//! their hashes.

mod error;
pub mod locale;
pub mod signin;

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

pub use error::PageError;

/// The `form_post` auto-submit script; the CSP allows exactly this script by its hash.
pub const AUTO_SUBMIT: &str = "document.forms[0].submit();";

/// The copy buttons of pages that show a value once; the value itself is selectable text, so
/// the page works without scripts too.
pub const COPY_SCRIPT: &str = "document.querySelectorAll('button[data-copy]').forEach(function(b){b.addEventListener('click',function(){var e=document.getElementById(b.getAttribute('data-copy'));e.select();if(navigator.clipboard){navigator.clipboard.writeText(e.value);}b.textContent='Copied';});});";

/// The passkey button (`templates/passkey_button.html`): WebAuthn is a browser API, so a page that
/// uses a passkey needs this one script. It decodes the options the page carries (base64url
/// fields, as in the WebAuthn JSON), asks the browser, and posts the answer in the button's
/// form as JSON; no request leaves the form, so `connect-src` stays `'none'`.
pub const PASSKEY_SCRIPT: &str = "(function(){function d(s){s=s.replace(/-/g,'+').replace(/_/g,'/');while(s.length%4)s+='=';return Uint8Array.from(atob(s),function(c){return c.charCodeAt(0);});}function e(a){var s='';new Uint8Array(a).forEach(function(x){s+=String.fromCharCode(x);});return btoa(s).replace(/\\+/g,'-').replace(/\\//g,'_').replace(/=+$/,'');}document.querySelectorAll('button[data-webauthn]').forEach(function(b){b.addEventListener('click',function(){var f=b.form,o=JSON.parse(b.getAttribute('data-options')),m=document.getElementById('webauthn-error'),p;o.challenge=d(o.challenge);(o.excludeCredentials||[]).concat(o.allowCredentials||[]).forEach(function(c){c.id=d(c.id);});if(b.getAttribute('data-webauthn')==='create'){o.user.id=d(o.user.id);p=navigator.credentials.create({publicKey:o});}else{p=navigator.credentials.get({publicKey:o});}p.then(function(c){var r=c.response,j={id:c.id,rawId:e(c.rawId),type:c.type,authenticatorAttachment:c.authenticatorAttachment,clientExtensionResults:c.getClientExtensionResults(),response:{clientDataJSON:e(r.clientDataJSON)}};if(r.attestationObject){j.response.attestationObject=e(r.attestationObject);j.response.transports=r.getTransports?r.getTransports():[];}else{j.response.authenticatorData=e(r.authenticatorData);j.response.signature=e(r.signature);if(r.userHandle){j.response.userHandle=e(r.userHandle);}}f.elements.credential.value=JSON.stringify(j);f.submit();}).catch(function(x){if(m){m.textContent='The passkey was not used ('+x.name+'). Try again, or use another way.';m.hidden=false;}});});});})();";

/// A passkey button on a page: `create` registers one, `get` uses one. `options` is the
/// WebAuthn options JSON of a ceremony started for this page (`tenants::passkeys`).
pub struct PasskeyButton {
    pub mode: &'static str,
    pub options: String,
    pub label: &'static str,
}

/// What a page's Content Security Policy allows beyond our own forms.
#[derive(Clone, Copy)]
pub enum Policy<'a> {
    /// Forms post to us; no script runs.
    Own,
    /// A page of a pending sign-in. Its forms post to us, but the navigation they start may end
    /// with a redirect to the app, and Chromium applies `form-action` to every redirect of a
    /// form submission: the app's redirect URI must be allowed too, or the last step never
    /// arrives.
    SignIn { redirect_uri: &'a str, passkey: bool },
    /// A page that shows a value once: its copy buttons run `COPY_SCRIPT`.
    Copy,
    /// A page of ours with a passkey button (`PASSKEY_SCRIPT`).
    Passkey,
    /// The `form_post` response: its form posts to the client, and `AUTO_SUBMIT` sends it.
    FormPost,
}

impl Policy<'_> {
    fn apply(self, res: &mut Response) {
        match self {
            Policy::Own => security_headers(res, None, "'self'"),
            Policy::SignIn { redirect_uri, passkey } => {
                let form_action = match csp_source(redirect_uri) {
                    Some(source) => format!("'self' {source}"),
                    None => "'self'".to_string(),
                };
                security_headers(res, passkey.then_some(PASSKEY_SCRIPT), &form_action)
            }
            Policy::Copy => security_headers(res, Some(COPY_SCRIPT), "'self'"),
            Policy::Passkey => security_headers(res, Some(PASSKEY_SCRIPT), "'self'"),
            Policy::FormPost => security_headers(res, Some(AUTO_SUBMIT), "*"),
        }
    }
}

/// The page `template` renders, with `status` and the headers of `policy`.
pub fn render(status: StatusCode, template: &impl Template, policy: Policy<'_>) -> Response {
    match template.render() {
        Ok(html) => {
            let mut res = (status, html).into_response();
            policy.apply(&mut res);
            res
        }
        // Only a failing `Display` of a value can get here; there is no page left to show.
        Err(e) => {
            tracing::error!(error = %e, "a page failed to render");
            let mut res = (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.").into_response();
            res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
    }
}

/// The CSP and framing headers of every page. `script` is the one inline script the page may
/// run (allowed by its hash); `form_action` is where its forms may post (`*` for `form_post`,
/// whose target is the client).
fn security_headers(res: &mut Response, script: Option<&str>, form_action: &str) {
    let script_src = script
        .map(|s| format!(" script-src 'sha256-{}';", crate::crypto::b64(&crate::crypto::sha256(s.as_bytes()))))
        .unwrap_or_default();
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline';{script_src} form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
}

/// The CSP source expression that allows navigating to `uri`: its origin for http(s), its
/// scheme for a native app's private-use scheme (RFC 8252 §7.1). None for anything a CSP
/// header could not carry safely.
pub fn csp_source(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    let source = match url.scheme() {
        "http" | "https" => url.origin().ascii_serialization(),
        scheme => format!("{scheme}:"),
    };
    source.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b';' | b',' | b'\'' | b'"')).then_some(source)
}

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPost<'a> {
    action: &'a str,
    fields: &'a [(&'a str, &'a str)],
}

/// The page that POSTs an authorization response to the client (OAuth 2.0 Form Post
/// Response Mode). Works without JavaScript through its button.
pub fn form_post(action: &str, fields: &[(&str, &str)]) -> Response {
    render(StatusCode::OK, &FormPost { action, fields }, Policy::FormPost)
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home<'a> {
    title: &'static str,
    issuer: &'a str,
    portal: &'static str,
    admin_tenant: &'static str,
    reset: &'static str,
    discovery: &'static str,
}

/// `GET /`: someone typed the server's address; show where the pages are instead of a 404.
pub async fn home(axum::extract::State(state): axum::extract::State<crate::AppState>) -> Response {
    let page = Home {
        title: "Gatehouse",
        issuer: &state.config.issuer,
        portal: crate::paths::PORTAL,
        admin_tenant: crate::paths::ADMIN_TENANT,
        reset: crate::paths::ACCOUNT_RESET,
        discovery: crate::paths::DISCOVERY,
    };
    render(StatusCode::OK, &page, Policy::Own)
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOut {
    title: &'static str,
}

/// The page after RP-initiated logout when the app named nowhere to go back to.
pub fn signed_out() -> Response {
    render(StatusCode::OK, &SignedOut { title: "You are signed out" }, Policy::Own)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_apps_redirect_target_becomes_one_csp_source() {
        assert_eq!(csp_source("http://127.0.0.1:9000/cb?x=1").as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(csp_source("https://app.example.com/cb").as_deref(), Some("https://app.example.com"));
        assert_eq!(csp_source("com.example.app:/cb").as_deref(), Some("com.example.app:"));
        assert_eq!(csp_source("not a uri"), None);
    }

    #[test]
    fn a_form_post_escapes_what_the_request_carried() {
        let page = FormPost { action: "https://app.example.com/cb?a=1&b=\"2\"", fields: &[("state", "<script>'x'")] };
        let html = page.render().unwrap();
        assert!(html.contains("action=\"https://app.example.com/cb?a=1&#38;b=&#34;2&#34;\""), "{html}");
        assert!(html.contains("name=\"state\" value=\"&#60;script&#62;&#39;x&#39;\""), "{html}");
        assert!(html.contains(&format!("<script>{AUTO_SUBMIT}</script>")), "the script is written as hashed");
    }
}
