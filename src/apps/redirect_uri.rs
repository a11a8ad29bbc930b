//! Redirect URI rules (RFC 6749 §3.1.2, RFC 8252 §7, DESIGN §3): exact, byte-for-byte
//! matching; the one relaxation is a native app's loopback IP literal on any port
//! (RFC 8252 §7.3). No wildcards, no prefix matching, no normalisation.

use url::Url;

/// Longest URI we store; longer ones are almost always an attack or a paste accident.
pub const MAX_URI_LEN: usize = 2000;

/// URI schemes that execute or read locally; never a redirect target.
const FORBIDDEN_SCHEMES: &[&str] = &["javascript", "data", "file", "vbscript", "about", "blob", "filesystem"];

/// Checks a redirect (or post-logout redirect) URI at registration. `native` permits
/// private-use schemes (RFC 8252 §7.1). Returns a sentence saying what is wrong.
pub fn validate(uri: &str, native: bool) -> Result<(), String> {
    if uri.is_empty() {
        return Err("must not be empty".into());
    }
    if uri.len() > MAX_URI_LEN {
        return Err(format!("is longer than {MAX_URI_LEN} characters"));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces or control characters".into());
    }
    if uri.contains('#') {
        return Err("must not contain a fragment ('#'), RFC 6749 §3.1.2".into());
    }
    let url = Url::parse(uri).map_err(|e| format!("is not an absolute URI ({e})"))?;
    let scheme = url.scheme();
    if FORBIDDEN_SCHEMES.contains(&scheme) {
        return Err(format!("the '{scheme}' scheme is not allowed"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not contain a user name or password".into());
    }
    if uri.contains('*') {
        return Err("wildcards are not allowed; register each URI exactly".into());
    }
    match scheme {
        "https" => Ok(()),
        "http" if is_loopback_host(&url) => Ok(()),
        "http" => Err("plain http is only allowed for localhost and loopback addresses; use https".into()),
        _ if native && scheme.contains('.') => Ok(()),
        _ if native => Err(format!(
            "a private-use scheme must be a reverse domain name such as com.example.app (RFC 8252 §7.1), not '{scheme}'"
        )),
        _ => Err(format!("web apps must use https, not '{scheme}'")),
    }
}

fn is_loopback_host(url: &Url) -> bool {
    matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

/// Checks a resource server identifier (RFC 8707 §2): an absolute https URI (http only on
/// loopback, for development) without a fragment.
pub fn validate_resource(uri: &str) -> Result<(), String> {
    if uri.len() > MAX_URI_LEN || uri.contains('#') || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must be an absolute URI without a fragment or spaces".into());
    }
    let url = Url::parse(uri).map_err(|e| format!("is not an absolute URI ({e})"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(&url) => Ok(()),
        _ => Err("must use https (plain http only on loopback hosts)".into()),
    }
}

/// Checks a CORS origin: `scheme://host[:port]` and nothing else (RFC 6454).
pub fn validate_origin(origin: &str) -> Result<(), String> {
    let url = Url::parse(origin).map_err(|e| format!("is not an origin ({e})"))?;
    let secure = url.scheme() == "https" || (url.scheme() == "http" && is_loopback_host(&url));
    if !secure {
        return Err("must be https (plain http only for localhost and loopback addresses)".into());
    }
    if origin.contains('*') {
        return Err("wildcards are not allowed".into());
    }
    if url.origin().ascii_serialization() != origin {
        return Err(format!(
            "must be exactly scheme://host[:port] with no path or trailing '/', e.g. '{}'",
            url.origin().ascii_serialization()
        ));
    }
    Ok(())
}

/// Does `requested` match the registered URI? Exact bytes, except that an app with
/// `loopback_any_port` matches a registered `http://127.0.0.1/…` or `http://[::1]/…` on any port.
pub fn matches(registered: &str, requested: &str, loopback_any_port: bool) -> bool {
    if registered.len() == requested.len() && registered == requested {
        return true;
    }
    if !loopback_any_port {
        return false;
    }
    match (split_loopback(registered), split_loopback(requested)) {
        (Some((host_a, rest_a)), Some((host_b, rest_b))) => host_a == host_b && rest_a == rest_b,
        _ => false,
    }
}

/// Splits `http://127.0.0.1[:port]<rest>` (or `[::1]`) into host and rest, dropping the port.
/// `rest` must begin a path or query, so `127.0.0.1.evil.example` and `127.0.0.1:1@evil` fail.
fn split_loopback(uri: &str) -> Option<(&'static str, &str)> {
    let after_scheme = uri.strip_prefix("http://")?;
    let (host, after_host) = if let Some(r) = after_scheme.strip_prefix("127.0.0.1") {
        ("127.0.0.1", r)
    } else {
        ("[::1]", after_scheme.strip_prefix("[::1]")?)
    };
    let rest = match after_host.strip_prefix(':') {
        Some(port_and_rest) => {
            let digits = port_and_rest.bytes().take_while(u8::is_ascii_digit).count();
            let port: u32 = port_and_rest[..digits].parse().ok()?;
            if digits > 5 || port == 0 || port > 65_535 {
                return None;
            }
            &port_and_rest[digits..]
        }
        None => after_host,
    };
    (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')).then_some((host, rest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn registration_rules() {
        assert!(validate("https://app.example.com/cb", false).is_ok());
        assert!(validate("http://localhost:3000/cb", false).is_ok());
        assert!(validate("http://127.0.0.1/cb", true).is_ok());
        assert!(validate("com.example.app:/oauth2redirect", true).is_ok());
        for (bad, why) in [
            ("http://app.example.com/cb", "plain http"),
            ("https://app.example.com/cb#x", "fragment"),
            ("https://*.example.com/cb", "wildcards"),
            ("https://user:pw@example.com/cb", "user name"),
            ("javascript:alert(1)", "not allowed"),
            ("/relative", "absolute"),
            ("myapp:/cb", "reverse domain"),
            ("https://example.com/a b", "spaces"),
        ] {
            let e = validate(bad, true).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(validate("com.example.app:/cb", false).unwrap_err().contains("https"));
        assert!(validate(&format!("https://e.com/{}", "a".repeat(MAX_URI_LEN)), false).is_err());
    }

    #[test]
    fn origins_have_no_path() {
        assert!(validate_origin("https://app.example.com").is_ok());
        assert!(validate_origin("http://localhost:3000").is_ok());
        assert!(validate_origin("https://app.example.com/").is_err());
        assert!(validate_origin("https://app.example.com/x").is_err());
        assert!(validate_origin("http://app.example.com").is_err());
    }

    #[test]
    fn loopback_tricks_do_not_match() {
        let reg = "http://127.0.0.1/cb";
        for evil in [
            "http://127.0.0.1.evil.example/cb",
            "http://127.0.0.1:80@evil.example/cb",
            "http://127.0.0.1:99999/cb",
            "http://127.0.0.1:0/cb",
            "http://127.0.0.1:/cb",
            "https://127.0.0.1:443/cb",
            "http://[::1]:8080/cb",
            "http://localhost:8080/cb",
            "http://127.0.0.1:8080/cb/",
            "http://127.0.0.1:8080/CB",
        ] {
            assert!(!matches(reg, evil, true), "{evil}");
        }
        assert!(matches("http://[::1]/cb?x=1", "http://[::1]:51000/cb?x=1", true));
    }

    proptest! {
        #[test]
        fn native_loopback_matches_on_any_port(port in 1u32..=65_535, path in "/[a-z0-9/_.-]{0,20}") {
            let registered = format!("http://127.0.0.1{}", path);
            let requested = format!("http://127.0.0.1:{}{}", port, path);
            let registered_with_port = format!("http://127.0.0.1:1234{}", path);
            prop_assert!(matches(&registered, &requested, true));
            prop_assert!(!matches(&registered, &requested, false));
            // A registered port is no restriction for native apps either (RFC 8252 §7.3).
            prop_assert!(matches(&registered_with_port, &requested, true));
        }

        #[test]
        fn a_different_path_never_matches(port in 1u32..=65_535, a in "/[a-z]{1,10}", b in "/[a-z]{1,10}") {
            prop_assume!(a != b);
            let registered = format!("http://127.0.0.1{}", a);
            let requested = format!("http://127.0.0.1:{}{}", port, b);
            prop_assert!(!matches(&registered, &requested, true));
        }

        #[test]
        fn other_uris_match_only_byte_for_byte(host in "[a-z]{1,10}\\.example", port in 1u32..=65_535, path in "/[a-zA-Z0-9]{0,10}") {
            let registered = format!("https://{}{}", host, path);
            let with_port = format!("https://{}:{}{}", host, port, path);
            let with_slash = format!("{}/", registered);
            let upper_host = format!("https://{}{}", host.to_uppercase(), path);
            prop_assert!(matches(&registered, &registered, true));
            prop_assert!(!matches(&registered, &with_port, true));
            prop_assert!(!matches(&registered, &with_slash, true));
            prop_assert!(!matches(&registered, &upper_host, true));
        }
    }
}
