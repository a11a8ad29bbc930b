//! Form and query parameters as the token, revocation and introspection endpoints read them:
//! `oauth::params::FormParams::{parse, extend, get}`, `oauth::params::parse_scope`, and the
//! axum extractor `http::extract::OAuthRequest` (content type, body, the SuperID alias's query
//! string, and `Authorization: Basic` credentials).
//!
//! Beyond "no panic", against an independent reading of the same bytes:
//! - a request parses iff no name with a value is repeated (body and query together) and at
//!   most 64 parameters have a value; then every such parameter reads back exactly;
//! - a parsed scope is a list of distinct RFC 6749 §3.3 tokens that parses back to itself;
//! - Basic credentials are the form-decoding of the whole `id` and `secret` parts.

#![no_main]

use std::future::Future;
use std::task::{Context, Poll, Waker};

use arbitrary::{Arbitrary, Unstructured};
use axum::body::Body;
use axum::extract::FromRequest;
use axum::http::{header, HeaderValue, Request};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use gatehouse::http::extract::OAuthRequest;
use gatehouse::oauth::params::{parse_scope, FormParams};
use libfuzzer_sys::fuzz_target;

const MAX_PARAMS: usize = 64;

#[derive(Arbitrary, Debug)]
enum Basic<'a> {
    None,
    /// `Basic base64(id ":" secret)`: the credentials as a client would send them.
    Encoded {
        id: &'a str,
        secret: &'a str,
    },
    /// Any header value at all.
    Raw(&'a [u8]),
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    body: &'a [u8],
    query: &'a str,
    superid_alias: bool,
    content_type: u8,
    basic: Basic<'a>,
    scope: &'a str,
}

/// The parameters with a value, as an independent reading of the bytes.
fn pairs(encoded: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(encoded)
        .filter(|(_, v)| !v.is_empty())
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect()
}

fn acceptable(pairs: &[(String, String)]) -> bool {
    pairs.len() <= MAX_PARAMS && pairs.iter().enumerate().all(|(i, (n, _))| !pairs[..i].iter().any(|(m, _)| m == n))
}

fn check_reads(form: &FormParams, expected: &[(String, String)]) {
    for (n, v) in expected {
        assert_eq!(form.get(n), Some(v.as_str()), "parameter {n:?}");
        assert!(form.contains(n));
    }
    assert_eq!(form.required("client_id").ok(), form.get("client_id"));
}

/// `application/x-www-form-urlencoded` decoding of one value: `+` is a space, then percent
/// escapes; bytes that are not UTF-8 become U+FFFD (as `form_urlencoded` does).
fn form_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced).decode_utf8_lossy().into_owned()
}

/// Polls a future that never waits (the body is already in memory) to its end.
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1000 {
        if let Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("the extractor waited on an in-memory body");
}

fn check_scope(scope: &str) {
    let Ok(tokens) = parse_scope(scope) else { return };
    for (i, t) in tokens.iter().enumerate() {
        assert!(!t.is_empty());
        assert!(t.bytes().all(|b| (0x21..=0x7E).contains(&b) && b != b'"' && b != b'\\'), "token {t:?}");
        assert!(!tokens[..i].contains(t), "duplicate {t:?}");
    }
    assert_eq!(parse_scope(&tokens.join(" ")).ok().as_ref(), Some(&tokens));
}

fn check_extractor(input: &Input<'_>) {
    let path = if input.superid_alias { gatehouse::paths::SUPERID_TOKEN } else { gatehouse::paths::TOKEN };
    let uri = if input.query.is_empty() { path.to_string() } else { format!("{path}?{}", input.query) };
    let content_type = match input.content_type % 4 {
        0 => "application/x-www-form-urlencoded",
        1 => "application/x-www-form-urlencoded; charset=UTF-8",
        2 => "APPLICATION/X-WWW-FORM-URLENCODED ;",
        _ => "application/json",
    };
    let mut builder = Request::builder().method("POST").uri(uri.as_str()).header(header::CONTENT_TYPE, content_type);
    let (basic_id, basic_secret) = match &input.basic {
        Basic::None => (None, None),
        Basic::Encoded { id, secret } => {
            builder =
                builder.header(header::AUTHORIZATION, format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))));
            (Some(*id), Some(*secret))
        }
        Basic::Raw(raw) => match HeaderValue::from_bytes(raw) {
            Ok(v) => {
                builder = builder.header(header::AUTHORIZATION, v);
                (None, None)
            }
            Err(_) => return,
        },
    };
    // An invalid URI is refused by the HTTP layer before any extractor runs.
    let Ok(req) = builder.body(Body::from(input.body.to_vec())) else { return };
    let query = req.uri().query().unwrap_or("").to_string();
    let result = ready(OAuthRequest::from_request(req, &()));
    let form_type = content_type != "application/json";
    let mut expected = pairs(input.body);
    if input.superid_alias {
        expected.extend(pairs(query.as_bytes()));
    }
    // Whether the request must be read, when that can be told independently (a ':' in the id
    // part moves the split, and a raw header may be anything).
    let must_read = match (basic_id, &input.basic) {
        (Some(id), _) if !id.contains(':') => Some(!form_decode(id).is_empty()),
        (None, Basic::None) => Some(true),
        _ => None,
    }
    .map(|basic_ok| basic_ok && form_type && acceptable(&expected));
    match result {
        Ok(got) => {
            assert!(form_type, "a JSON body was read as a form");
            assert!(acceptable(&expected), "the extractor accepted a repeated or excessive parameter");
            assert_ne!(must_read, Some(false), "the extractor accepted a request it should refuse");
            check_reads(&got.form, &expected);
            if let (Some(id), Some(secret)) = (basic_id, basic_secret) {
                let basic = got.basic.as_ref().expect("Basic credentials were sent");
                if !id.contains(':') {
                    assert_eq!(basic.client_id, form_decode(id), "client id of Basic {id:?}:{secret:?}");
                    assert_eq!(basic.secret.expose(), &form_decode(secret), "secret of Basic {id:?}:{secret:?}");
                }
            }
        }
        Err(_) => assert_ne!(must_read, Some(true), "the extractor refused a well-formed request"),
    }
}

// The first byte picks the kind of input: even, the rest is text lines `body`, `query`,
// `Authorization` header value (`Basic …` is decoded and sent again), `scope`, with the
// SuperID alias if bit 1 is set and the content type from the bits above (seeds are written
// this way); odd, the rest builds them.
fuzz_target!(|data: &[u8]| {
    let Some((mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        let mut parts = rest.splitn(4, |b| *b == b'\n');
        let body = parts.next().unwrap_or_default();
        let query = String::from_utf8_lossy(parts.next().unwrap_or_default());
        let authorization = parts.next().unwrap_or_default();
        let scope = String::from_utf8_lossy(parts.next().unwrap_or_default());
        // A `Basic` value is sent as the id and secret it carries, so its decoding is checked.
        let decoded = authorization
            .strip_prefix(b"Basic ")
            .and_then(|b| STANDARD.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let basic = match decoded.as_deref().and_then(|d| d.split_once(':')) {
            Some((id, secret)) => Basic::Encoded { id, secret },
            None if authorization.is_empty() => Basic::None,
            None => Basic::Raw(authorization),
        };
        check(&Input {
            body,
            query: &query,
            superid_alias: mode & 2 != 0,
            content_type: mode >> 2,
            basic,
            scope: &scope,
        });
    } else if let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(rest)) {
        check(&input);
    }
});

fn check(input: &Input<'_>) {
    // The body alone.
    let expected = pairs(input.body);
    match FormParams::parse(input.body) {
        Ok(form) => {
            assert!(acceptable(&expected), "accepted a repeated or excessive parameter");
            check_reads(&form, &expected);
            // The SuperID alias adds the query string.
            let mut form = form;
            let mut both = expected.clone();
            both.extend(pairs(input.query.as_bytes()));
            match form.extend(input.query.as_bytes()) {
                Ok(()) => {
                    assert!(acceptable(&both), "accepted a parameter repeated across body and query");
                    check_reads(&form, &both);
                }
                Err(_) => assert!(!acceptable(&both), "refused body+query {:?}", input.query),
            }
        }
        Err(e) => {
            assert!(!acceptable(&expected), "refused an acceptable body: {}", e.description);
        }
    }
    check_scope(input.scope);
    check_extractor(input);
}
