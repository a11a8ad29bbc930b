//! `POST /token` (RFC 6749 §3.2) and its SuperID alias.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::cors::CorsClient;
use super::extract::OAuthRequest;
use super::respond::no_store_json;
use crate::oauth::{client_auth, dpop, token, OAuthError, ProtocolError};
use crate::store::audit::AuditEvent;
use crate::store::batch::WriteError;
use crate::vocab::GrantType;
use crate::AppState;
use serde_json::json;

pub async fn token(State(state): State<AppState>, headers: HeaderMap, uri: Uri, req: OAuthRequest) -> Response {
    let client_hint = client_hint(&req);
    let mut authenticated = None;
    let proof = super::extract::dpop_proof(&headers);
    let result = async {
        let grant = token::grant_type(&req.form)?;
        // RFC 9449 §4.3: the proof is for this method and this URL (the path the client used,
        // SuperID's aliases included); a request without one pays for neither.
        let proof = match proof? {
            Some(p) => {
                dpop::check(&state, Some(&p), "POST", &format!("{}{}", state.config.issuer, uri.path()), None).await?
            }
            None => None,
        };
        let jkt = proof.map(|p| p.jkt);
        let pending = client_auth::authenticate_pending(&state, req.basic, &req.form).await?;
        // A remembered secret asking for an opaque client_credentials token: the token's
        // INSERT checks the app's revision, saving the read that would confirm it first. Any
        // other outcome (a changed app, a refusal) is answered by the confirmed client below;
        // an outage is answered at once, so the request's deadline holds.
        if grant == GrantType::ClientCredentials {
            if let Some(client) = pending.confirmed_by_write() {
                let client = client.with_dpop(jkt.clone());
                match token::exchange(&state, grant, &client, &req.form).await {
                    Ok(tokens) => {
                        authenticated = Some(client.app().client_id.clone());
                        return Ok(tokens);
                    }
                    Err(e) if e.is_outage() => return Err(e),
                    // A changed app (`WriteError::Stale`) or a refusal is answered below; an
                    // internal fault is logged here, as the answer below may not repeat it.
                    Err(ProtocolError::Internal(e)) if e.downcast_ref::<WriteError>().is_none() => {
                        tracing::warn!(error = %e, "client_credentials for a remembered client failed; confirming it");
                    }
                    Err(_) => {}
                }
            }
        }
        let client = pending.confirm_by_reading(&state).await?.with_dpop(jkt);
        authenticated = Some(client.app().client_id.clone());
        token::exchange(&state, grant, &client, &req.form).await
    }
    .await;
    let mut res = match result {
        Ok(tokens) => no_store_json(StatusCode::OK, &tokens),
        Err(e) => {
            if let ProtocolError::OAuth(refusal) = &e {
                record_refusal(&state, &client_hint, refusal).await;
            }
            e.into_response()
        }
    };
    if let Some(client_id) = authenticated {
        res.extensions_mut().insert(CorsClient(client_id));
    }
    // RFC 9449 §8: a fresh nonce with every answer to a DPoP request, for its next proof.
    if headers.contains_key("dpop") {
        if let Ok(v) = HeaderValue::from_str(&dpop::nonce(&state)) {
            res.headers_mut().insert("dpop-nonce", v);
        }
    }
    res
}

/// The client a request claims to be, for the audit trail. Only something shaped like a
/// client ID (32 hex characters) is recorded, so a secret sent in the wrong field never is.
fn client_hint(req: &OAuthRequest) -> String {
    let claimed = req.basic.as_ref().map(|b| b.client_id.as_str()).or(req.form.get("client_id")).unwrap_or("");
    if claimed.len() == 32 && claimed.bytes().all(|b| b.is_ascii_hexdigit()) {
        claimed.to_string()
    } else {
        "unknown".to_string()
    }
}

/// A refused token request leaves an audit event (and nothing else).
async fn record_refusal(state: &AppState, client: &str, refusal: &OAuthError) {
    let event = AuditEvent::new(
        state.clock.now(),
        client,
        "token.refused",
        client,
        json!({ "error": refusal.code.as_str(), "description": refusal.description }),
    );
    if let Err(e) = state.store.record_audit(&event).await {
        tracing::warn!(error = %e, "could not record a refused token request");
    }
}
