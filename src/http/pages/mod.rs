//! Server-rendered pages: one small layout, HTML escaping for everything that came from a
//! request or the database, and the security headers every page carries. No JavaScript is
//! needed; the one script (auto-submitting `form_post` responses) is allowed by its hash.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1f}main{max-width:28rem;margin:3rem auto;padding:0 1rem}\
main.wide{max-width:60rem;margin-top:1.5rem}h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ccd;padding-bottom:.2rem}\
label{display:block;margin:.8rem 0 .2rem}input[type=email],input[type=password],input[type=text],input[type=url],input[type=number],select,textarea{width:100%;max-width:40rem;padding:.45rem;font-size:1rem;box-sizing:border-box}\
textarea{font-family:ui-monospace,monospace;font-size:.85rem}button{margin-top:1rem;padding:.5rem 1.2rem;font-size:1rem}table button{margin:0;padding:.2rem .6rem;font-size:.9rem}\
.error{color:#a4000f;font-weight:600}.field-error{color:#a4000f;margin:.2rem 0}ul{padding-left:1.2rem}.choice{margin:.4rem 0}.choice label{display:inline}.muted{color:#555;font-size:.9rem}\
nav{background:#1f2d4d;padding:.6rem 1rem}nav a,nav button{color:#fff;margin-right:1rem;background:none;border:0;font-size:1rem;padding:0;cursor:pointer;text-decoration:underline}nav form{display:inline}\
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #dde;vertical-align:top}\
code,.secret{font-family:ui-monospace,monospace;word-break:break-all}.secret{user-select:all;background:#f3f3f7;padding:.4rem;display:block}\
.notice{background:#fff6d6;border:1px solid #e6c200;padding:.6rem}.ok{background:#e5f6e8;border:1px solid #3a9a4d;padding:.6rem}.inline{display:inline}\
:focus-visible{outline:3px solid #2b6cff;outline-offset:2px}";

/// The `form_post` auto-submit script; the CSP allows exactly this script by its hash.
pub const AUTO_SUBMIT: &str = "document.forms[0].submit();";

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

/// A full page. `body` must already be escaped HTML.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    layout(status, title, "", "", body)
}

/// A page of a pending sign-in. Its forms post to us, but the navigation they start may end
/// with a redirect to the app, and Chromium applies `form-action` to every redirect of a form
/// submission: the app's redirect URI must be allowed too, or the last step never arrives.
pub fn signin_page(status: StatusCode, title: &str, body: &str, redirect_uri: &str) -> Response {
    let mut res = page(status, title, body);
    let form_action = match csp_source(redirect_uri) {
        Some(source) => format!("'self' {source}"),
        None => "'self'".to_string(),
    };
    security_headers(&mut res, None, &form_action);
    res
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

/// The copy buttons of pages that show a value once; the value itself is selectable text, so
/// the page works without scripts too.
pub const COPY_SCRIPT: &str = "document.querySelectorAll('button[data-copy]').forEach(function(b){b.addEventListener('click',function(){var e=document.getElementById(b.getAttribute('data-copy'));e.select();if(navigator.clipboard){navigator.clipboard.writeText(e.value);}b.textContent='Copied';});});";

/// A portal page: wide, with the navigation bar. `nav` and `body` must already be escaped.
pub fn portal(status: StatusCode, title: &str, nav: &str, body: &str) -> Response {
    layout(status, title, nav, " class=\"wide\"", body)
}

/// A portal page that shows a value once, with working copy buttons.
pub fn portal_with_copy(status: StatusCode, title: &str, nav: &str, body: &str) -> Response {
    let body = format!("{body}<script>{COPY_SCRIPT}</script>");
    let mut res = portal(status, title, nav, &body);
    security_headers(&mut res, Some(COPY_SCRIPT), "'self'");
    res
}

fn layout(status: StatusCode, title: &str, nav: &str, main_attrs: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{} · Gatehouse</title><style>{STYLE}</style></head><body>{nav}<main{main_attrs}><h1>{}</h1>{body}</main></body></html>",
        esc(title),
        esc(title)
    );
    let mut res = (status, html).into_response();
    security_headers(&mut res, None, "'self'");
    res
}

/// The page that POSTs an authorization response to the client (OAuth 2.0 Form Post
/// Response Mode). Works without JavaScript through its button.
pub fn form_post(action: &str, fields: &[(&str, &str)]) -> Response {
    let inputs: String = fields
        .iter()
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(k), esc(v)))
        .collect();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Continue · Gatehouse</title></head>\
         <body><form method=\"post\" action=\"{}\">{inputs}<noscript><button type=\"submit\">Continue</button></noscript></form>\
         <script>{AUTO_SUBMIT}</script></body></html>",
        esc(action)
    );
    let mut res = (StatusCode::OK, html).into_response();
    security_headers(&mut res, Some(AUTO_SUBMIT), "*");
    res
}

/// The error page: shown when we must not redirect (unknown client, unregistered redirect
/// URI) or cannot continue.
pub fn error(status: StatusCode, message: &str) -> Response {
    page(status, "Something is not right", &format!("<p class=\"error\" role=\"alert\">{}</p><p class=\"muted\">You can close this window and return to the app.</p>", esc(message)))
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
    fn everything_that_could_open_markup_is_escaped() {
        assert_eq!(esc("<script>\"a\"&'b'</script>"), "&lt;script&gt;&quot;a&quot;&amp;&#x27;b&#x27;&lt;/script&gt;");
    }
}
