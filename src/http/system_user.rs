//! `POST /Login/api/PartnerSystemUser/Authenticate` (and its lower-case twin): SuperID's
//! system-user exchange. Always JSON `{IsSuccessful, ErrorMessage, Token}`; a body that is not
//! JSON (or too large) is a 400 in the same shape, never a 500.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::respond::no_store_json;
use crate::oauth::system_user::{authenticate, Request, Response as Answer};
use crate::store::audit::AuditEvent;
use crate::AppState;

pub async fn system_user(
    State(state): State<AppState>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let Ok(body) = body else {
        let answer = Answer {
            is_successful: false,
            error_message: "The request body is larger than 64 KiB.".into(),
            token: None,
        };
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
    let result = authenticate(&state, &req).await;
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
    no_store_json(StatusCode::OK, &Answer::from_result(&result))
}
