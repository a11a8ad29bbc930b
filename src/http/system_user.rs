//! SuperID's system-user exchange over HTTP: `POST /Login/api/PartnerSystemUser/Authenticate`
//! (and its lower-case twin) in JSON `{IsSuccessful, ErrorMessage, Token}`, and
//! `PartnerSystemUserService.svc` in SOAP 1.1 with its WSDL at `?wsdl`. Both run the same
//! exchange, checks and audit; a body that cannot be read is a 400 (a SOAP fault on the SOAP
//! path), never a 500.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::respond::no_store_json;
use crate::store::audit::AuditEvent;
use crate::superid::soap;
use crate::superid::system_user::{authenticate, Request, Response as Answer};
use crate::AppState;

type Body = Result<Bytes, axum::extract::rejection::BytesRejection>;

const TOO_LARGE: &str = "The request body is larger than 64 KiB.";

pub async fn system_user(State(state): State<AppState>, body: Body) -> Response {
    let Ok(body) = body else {
        let answer = Answer { is_successful: false, error_message: TOO_LARGE.into(), token: None };
        return no_store_json(StatusCode::PAYLOAD_TOO_LARGE, &answer);
    };
    let req: Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => {
            let answer = Answer {
                is_successful: false,
                error_message: "The request body must be a JSON object.".into(),
                token: None,
            };
            return no_store_json(StatusCode::BAD_REQUEST, &answer);
        }
    };
    no_store_json(StatusCode::OK, &answer(&state, &req).await)
}

/// `POST …/PartnerSystemUserService.svc`: the SOAP 1.1 form.
pub async fn soap(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let Ok(body) = body else {
        return xml(
            StatusCode::PAYLOAD_TOO_LARGE,
            soap::fault(&soap::Fault { code: "Client", message: TOO_LARGE.into() }),
        );
    };
    // SOAP 1.1 §6.1.1: the action is a quoted URI; an empty one means "the request's URI".
    if let Some(action) = headers.get("soapaction").and_then(|v| v.to_str().ok()) {
        let action = action.trim().trim_matches('"');
        if !action.is_empty() && action != soap::ACTION {
            let fault = soap::Fault {
                code: "Client",
                message: format!("Unknown SOAPAction; this service has only {}.", soap::ACTION),
            };
            return xml(StatusCode::BAD_REQUEST, soap::fault(&fault));
        }
    }
    match soap::parse(&body) {
        Ok(req) => xml(StatusCode::OK, soap::response(&answer(&state, &req).await)),
        Err(fault) => {
            tracing::info!(reason = %fault.message, "a system-user SOAP request could not be read");
            xml(StatusCode::BAD_REQUEST, soap::fault(&fault))
        }
    }
}

/// `GET …/PartnerSystemUserService.svc?wsdl`: the service description, naming this server.
pub async fn wsdl(State(state): State<AppState>, uri: Uri) -> Response {
    let location = format!("{}{}", state.config.issuer.trim_end_matches('/'), uri.path());
    let mut res = xml(StatusCode::OK, soap::wsdl(&location));
    res.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("public, max-age=3600"));
    res
}

/// A body over the limit is refused before any handler runs; on the SOAP paths that refusal
/// is given as a SOAP fault like every other, not as plain text.
pub async fn soap_limit_fault(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let soap_path = req.uri().path().eq_ignore_ascii_case(crate::paths::SYSTEM_USER_SOAP);
    let res = next.run(req).await;
    let is_xml = res.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"text/xml"));
    if soap_path && res.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_xml {
        return xml(
            StatusCode::PAYLOAD_TOO_LARGE,
            soap::fault(&soap::Fault { code: "Client", message: TOO_LARGE.into() }),
        );
    }
    res
}

fn xml(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "text/xml; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body)
        .into_response()
}

/// Runs the exchange; a refusal is audited with its code and message (never the secrets).
async fn answer(state: &AppState, req: &Request) -> Answer {
    let result = authenticate(state, req).await;
    if let Err(refusal) = &result {
        let subject: String = req
            .context_identifier
            .as_deref()
            .unwrap_or("unknown")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(32)
            .collect();
        let event = AuditEvent::new(
            state.clock.now(),
            "system-user",
            "system_user.refused",
            &subject,
            json!({ "code": refusal.code, "message": refusal.message }),
        );
        let _ = state.store.record_audit(&event).await;
    }
    Answer::from_result(&result)
}
