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

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1b1b1f}\
h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}input[type=email],input[type=password]{width:100%;padding:.5rem;font-size:1rem}\
button{margin-top:1rem;padding:.5rem 1.2rem;font-size:1rem}.error{color:#a4000f;font-weight:600}ul{padding-left:1.2rem}\
.choice{margin:.4rem 0}.muted{color:#555;font-size:.9rem}";

/// The `form_post` auto-submit script; the CSP allows exactly this script by its hash.
pub const AUTO_SUBMIT: &str = "document.forms[0].submit();";

fn security_headers(res: &mut Response, script_hash: Option<&str>) {
    let csp = match script_hash {
        Some(h) => format!("default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{h}'; form-action *; frame-ancestors 'none'; base-uri 'none'"),
        None => "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'".to_string(),
    };
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
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{} · Gatehouse</title><style>{STYLE}</style></head><body><main><h1>{}</h1>{body}</main></body></html>",
        esc(title),
        esc(title)
    );
    let mut res = (status, html).into_response();
    security_headers(&mut res, None);
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
    let hash = crate::crypto::b64(&crate::crypto::sha256(AUTO_SUBMIT.as_bytes()));
    security_headers(&mut res, Some(&hash));
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
    fn everything_that_could_open_markup_is_escaped() {
        assert_eq!(esc("<script>\"a\"&'b'</script>"), "&lt;script&gt;&quot;a&quot;&amp;&#x27;b&#x27;&lt;/script&gt;");
    }
}
