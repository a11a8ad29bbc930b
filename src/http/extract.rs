//! Extractors for OAuth endpoints: the form (repeated parameters refused, the SuperID token
//! alias also reads the query string) and `Authorization: Basic` client credentials, whose
//! rejections are OAuth-shaped JSON, never axum's plain text; and the client's address, read
//! through trusted proxies only.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use std::net::IpAddr;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::respond::oauth_error;
use crate::config::Cidr;
use crate::oauth::client_auth::{self, AuthenticatedClient, BasicCredentials};
use crate::oauth::params::FormParams;
use crate::oauth::{OAuthError, ProtocolError};
use crate::secret::Secret;
use crate::AppState;

/// A POSTed OAuth request: its parameters and any Basic credentials.
pub struct OAuthRequest {
    pub form: FormParams,
    pub basic: Option<BasicCredentials>,
}

impl OAuthRequest {
    /// Authenticates the client as the token endpoint does, runs `step` for it, and answers
    /// with its JSON under `status` (`no-store`) or the protocol error; the response names the
    /// client for CORS.
    pub async fn answer_as_client<T: serde::Serialize>(
        self,
        state: &AppState,
        status: StatusCode,
        step: impl AsyncFnOnce(&AuthenticatedClient, &FormParams) -> Result<T, ProtocolError>,
    ) -> Response {
        let client = match client_auth::authenticate(state, self.basic, &self.form).await {
            Ok(client) => client,
            Err(e) => return e.into_response(),
        };
        let mut res = match step(&client, &self.form).await {
            Ok(body) => super::respond::no_store_json(status, &body),
            Err(e) => e.into_response(),
        };
        res.extensions_mut().insert(super::cors::CorsClient(client.app().client_id.clone()));
        res
    }
}

/// The request's `DPoP` proof (RFC 9449 §4.3 check 1: at most one header, visible ASCII).
pub fn dpop_proof(headers: &HeaderMap) -> Result<Option<String>, OAuthError> {
    crate::oauth::dpop::proof_header(headers.get_all("dpop").iter().map(|v| v.to_str().ok().map(str::to_string)))
}

/// The OAuth-shaped response for a request that could not be read (boxed: responses are large).
pub struct Rejection(Box<Response>);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// The request's media type is `application/x-www-form-urlencoded` (parameters such as
/// `charset` allowed, case-insensitive).
pub fn is_urlencoded(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

fn reject(status: StatusCode, err: OAuthError) -> Rejection {
    Rejection(Box::new(oauth_error(status, &err)))
}

impl<S: Send + Sync> FromRequest<S> for OAuthRequest {
    type Rejection = Rejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let form_type = is_urlencoded(req.headers());
        if !form_type {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                OAuthError::invalid_request("the body must be application/x-www-form-urlencoded"),
            ));
        }
        let basic = basic_credentials(&req)?;
        // SuperID's SDKs send token parameters in the query string of the alias path.
        let query =
            (req.uri().path() == crate::paths::SUPERID_TOKEN).then(|| req.uri().query().unwrap_or("").to_string());
        let body = Bytes::from_request(req, state).await.map_err(|_| {
            reject(StatusCode::PAYLOAD_TOO_LARGE, OAuthError::invalid_request("the request body is too large"))
        })?;
        let mut form = FormParams::parse(&body).map_err(|e| reject(StatusCode::BAD_REQUEST, e))?;
        if let Some(q) = query {
            form.extend(q.as_bytes()).map_err(|e| reject(StatusCode::BAD_REQUEST, e))?;
        }
        Ok(OAuthRequest { form, basic })
    }
}

/// RFC 6749 §2.3.1: `Basic base64(urlencode(client_id) ":" urlencode(client_secret))`.
fn basic_credentials(req: &Request) -> Result<Option<BasicCredentials>, Rejection> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else { return Ok(None) };
    let malformed = || {
        let mut r = oauth_error(StatusCode::UNAUTHORIZED, &OAuthError::invalid_client("malformed Basic credentials"));
        r.headers_mut().insert(header::WWW_AUTHENTICATE, super::respond::BASIC_CHALLENGE.clone());
        Rejection(Box::new(r))
    };
    let value = value.to_str().map_err(|_| malformed())?;
    let Some((scheme, encoded)) = value.split_once(' ') else { return Err(malformed()) };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = STANDARD.decode(encoded.trim()).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    // Form-decodes the whole part: a raw '&' would otherwise end it early ("id&x" read as "id").
    let unescape = |s: &str| -> Option<String> {
        form_urlencoded::parse(format!("v={}", s.replace('&', "%26")).as_bytes()).next().map(|(_, v)| v.into_owned())
    };
    let client_id = unescape(id).filter(|s| !s.is_empty()).ok_or_else(malformed)?;
    let secret = unescape(secret).ok_or_else(malformed)?;
    Ok(Some(BasicCredentials { client_id, secret: Secret::new(secret) }))
}

/// The client's address: the peer of the connection (when the server was started with connect
/// info, as `http::serve` and the tests do), or, when that peer is a trusted proxy, the address
/// the proxies forwarded. The login throttle counts failures per address.
pub struct ClientAddr(pub Option<IpAddr>);

impl axum::extract::FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
        Ok(ClientAddr(peer.map(|p| client_address(p, &parts.headers, &state.config.trusted_proxies))))
    }
}

/// Walks the forwarded chain from the right: each trusted hop vouches for the address to its
/// left, so the first untrusted address is the client. Entries left of it were written by the
/// client itself and are never read. `X-Forwarded-For` is read, or `Forwarded` (RFC 7239) when
/// there is none.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[Cidr]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |a: IpAddr| trusted.iter().any(|c| c.contains(a));
    if !is_trusted(peer) {
        return peer;
    }
    let chain = forwarded_chain(headers);
    let mut client = peer;
    for hop in chain.iter().rev() {
        // A hop we cannot read (`unknown`, an obfuscated name) ends the walk at the last
        // address a trusted proxy gave.
        let Some(addr) = hop else { break };
        client = *addr;
        if !is_trusted(client) {
            break;
        }
    }
    client
}

/// The forwarded addresses, leftmost (farthest from us) first; `None` for an unreadable hop.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_string())
            .collect()
    };
    let xff = values("x-forwarded-for");
    if !xff.is_empty() {
        return xff.iter().map(|h| parse_hop(h)).collect();
    }
    values("forwarded")
        .iter()
        .map(|element| {
            element.split(';').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| v.trim().trim_matches('"').to_string())
            })
        })
        .map(|v| v.and_then(|v| parse_hop(&v)))
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1` or `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(a) = hop.parse::<IpAddr>() {
        return Some(a.to_canonical());
    }
    if let Ok(a) = hop.parse::<std::net::SocketAddr>() {
        return Some(a.ip().to_canonical());
    }
    hop.strip_prefix('[')?.strip_suffix(']')?.parse::<IpAddr>().ok().map(|a| a.to_canonical())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    use super::{basic_credentials, client_address};
    use crate::config::Cidr;

    fn basic(raw: &str) -> Request {
        let value = format!("Basic {}", STANDARD.encode(raw));
        Request::builder().header(header::AUTHORIZATION, value).body(Body::empty()).unwrap()
    }

    /// The (client id, secret) read from `Basic base64(raw)`.
    fn read(raw: &str) -> (String, String) {
        match basic_credentials(&basic(raw)) {
            Ok(Some(c)) => (c.client_id, c.secret.expose().clone()),
            _ => panic!("{raw:?} was not read"),
        }
    }

    #[test]
    fn basic_credentials_are_form_decoded_whole() {
        assert_eq!(read("my%20app:s3cr%2Bt+x"), ("my app".into(), "s3cr+t x".into()));
        assert_eq!(read("id:a%26b=c"), ("id".into(), "a&b=c".into()));
        assert_eq!(read("%:x"), ("%".into(), "x".into()));
        // Found by the `form_params` fuzz target: a raw '&' ended the part early, so this id was
        // read as "]" (and a secret followed by '&' and anything at all still matched).
        assert_eq!(read("]&\u{0}1\u{0}\u{0}\u{0}:"), ("]&\u{0}1\u{0}\u{0}\u{0}".into(), String::new()));
        assert_eq!(read("id:secret&more"), ("id".into(), "secret&more".into()));
        for malformed in [":secret", "no-colon"] {
            let Err(r) = basic_credentials(&basic(malformed)) else { panic!("{malformed} was read") };
            assert_eq!(r.into_response().status(), StatusCode::UNAUTHORIZED);
        }
    }

    fn client(peer: &str, headers: &[(&str, &str)], trusted: &[&str]) -> String {
        let mut map = axum::http::HeaderMap::new();
        for (k, v) in headers {
            map.append(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        let trusted: Vec<Cidr> = trusted.iter().map(|c| Cidr::parse(c).unwrap()).collect();
        client_address(peer.parse().unwrap(), &map, &trusted).to_string()
    }

    #[test]
    fn forwarded_addresses_are_read_only_through_trusted_proxies() {
        let xff = |v| [("x-forwarded-for", v)];
        // An untrusted peer's claims are ignored.
        assert_eq!(client("198.51.100.1", &xff("203.0.113.9"), &[]), "198.51.100.1");
        assert_eq!(client("198.51.100.1", &xff("203.0.113.9"), &["10.0.0.0/8"]), "198.51.100.1");
        // A trusted proxy's last hop is the client; what the client wrote to its left is not.
        assert_eq!(client("10.0.0.2", &xff("1.1.1.1, 203.0.113.9"), &["10.0.0.0/8"]), "203.0.113.9");
        // Trusted hops are skipped, right to left, across repeated headers.
        let two = [("x-forwarded-for", "1.1.1.1, 203.0.113.9"), ("x-forwarded-for", "10.0.0.7")];
        assert_eq!(client("10.0.0.2", &two, &["10.0.0.0/8"]), "203.0.113.9");
        // Every hop trusted: the leftmost is as far as we can see.
        assert_eq!(client("10.0.0.2", &xff("10.0.0.9, 10.0.0.8"), &["10.0.0.0/8"]), "10.0.0.9");
        // No header, or an unreadable hop: the last address a trusted proxy vouched for.
        assert_eq!(client("10.0.0.2", &[], &["10.0.0.0/8"]), "10.0.0.2");
        assert_eq!(client("10.0.0.2", &xff("203.0.113.9, garbage"), &["10.0.0.0/8"]), "10.0.0.2");
        // RFC 7239 Forwarded, with ports, brackets and quotes; IPv4-mapped peers.
        let fwd = [("forwarded", "for=1.1.1.1, for=\"[2001:db8::5]:4711\";proto=https")];
        assert_eq!(client("::ffff:10.0.0.2", &fwd, &["10.0.0.0/8"]), "2001:db8::5");
        assert_eq!(client("10.0.0.2", &[("forwarded", "for=unknown")], &["10.0.0.0/8"]), "10.0.0.2");
        assert_eq!(client("10.0.0.2", &xff("203.0.113.9:5555"), &["10.0.0.0/8"]), "203.0.113.9");
    }
}
