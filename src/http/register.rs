//! `POST /register` (RFC 7591) and `GET/PUT/DELETE /register/{client_id}` (RFC 7592).
//! Errors are RFC 7591 §3.2.2 JSON; token problems are 401 with a Bearer challenge.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::respond::{no_store_json, oauth_error};
use crate::config::RegistrationMode;
use crate::oauth::registration;
use crate::oauth::{ErrorCode, OAuthError, ProtocolError};
use crate::AppState;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
}

fn answer(result: Result<(StatusCode, Option<Value>), ProtocolError>) -> Response {
    match result {
        Ok((status, Some(body))) => no_store_json(status, &body),
        Ok((status, None)) => (status, [(header::CACHE_CONTROL, "no-store")]).into_response(),
        Err(ProtocolError::OAuth(e)) if e.code == ErrorCode::InvalidToken => {
            let mut res = oauth_error(StatusCode::UNAUTHORIZED, &e);
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer error=\"invalid_token\""));
            res
        }
        Err(e) => e.into_response(),
    }
}

/// The body as a JSON object, or the RFC's error.
pub fn object(
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Map<String, Value>, Box<Response>> {
    let body = body.map_err(|_| {
        oauth_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &OAuthError::new(ErrorCode::InvalidClientMetadata, "the body is larger than 64 KiB"),
        )
    })?;
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(Box::new(oauth_error(
            StatusCode::BAD_REQUEST,
            &OAuthError::new(ErrorCode::InvalidClientMetadata, "the body must be a JSON object of client metadata"),
        ))),
    }
}

fn disabled() -> Response {
    oauth_error(
        StatusCode::NOT_FOUND,
        &OAuthError::new(ErrorCode::NotFound, "dynamic client registration is turned off"),
    )
}

pub async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    match state.config.registration {
        RegistrationMode::Off => return disabled(),
        RegistrationMode::Token => match registration::initial_token_valid(&state, bearer(&headers)).await {
            Ok(true) => {}
            Ok(false) => {
                return answer(Err(OAuthError::new(
                    ErrorCode::InvalidToken,
                    "an initial access token is required to register",
                )
                .into()))
            }
            Err(e) => return answer(Err(e)),
        },
        RegistrationMode::Open => {}
    }
    let meta = match object(body) {
        Ok(m) => m,
        Err(res) => return *res,
    };
    answer(registration::register(&state, &meta).await.map(|b| (StatusCode::CREATED, Some(b))))
}

pub async fn read(State(state): State<AppState>, Path(client_id): Path<String>, headers: HeaderMap) -> Response {
    if state.config.registration == RegistrationMode::Off {
        return disabled();
    }
    answer(registration::read(&state, &client_id, bearer(&headers)).await.map(|b| (StatusCode::OK, Some(b))))
}

pub async fn update(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    if state.config.registration == RegistrationMode::Off {
        return disabled();
    }
    let meta = match object(body) {
        Ok(m) => m,
        Err(res) => return *res,
    };
    answer(registration::update(&state, &client_id, bearer(&headers), &meta).await.map(|b| (StatusCode::OK, Some(b))))
}

pub async fn delete(State(state): State<AppState>, Path(client_id): Path<String>, headers: HeaderMap) -> Response {
    if state.config.registration == RegistrationMode::Off {
        return disabled();
    }
    answer(registration::delete(&state, &client_id, bearer(&headers)).await.map(|()| (StatusCode::NO_CONTENT, None)))
}
