//! Extractors for OAuth endpoints: the form (repeated parameters refused, the SuperID token
//! alias also reads the query string) and `Authorization: Basic` client credentials. Their
//! rejections are OAuth-shaped JSON, never axum's plain text.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::respond::oauth_error;
use crate::oauth::client_auth::BasicCredentials;
use crate::oauth::params::FormParams;
use crate::oauth::OAuthError;
use crate::secret::Secret;

/// A POSTed OAuth request: its parameters and any Basic credentials.
pub struct OAuthRequest {
    pub form: FormParams,
    pub basic: Option<BasicCredentials>,
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
            (req.uri().path() == super::paths::SUPERID_TOKEN).then(|| req.uri().query().unwrap_or("").to_string());
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

/// The peer address of the connection, when the server was started with connect info (it is
/// in `http::serve` and in tests); login throttling counts failures per address.
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip())))
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::extract::Request;
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;

    use super::basic_credentials;

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
}
