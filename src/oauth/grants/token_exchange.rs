//! `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693): delegation. An
//! app holding an access token another app (or itself) got for a person exchanges it for a
//! token of its own, acting for that person in the same tenant, with itself named in `act`
//! on top of any chain the token carried (§4.1). Allowed only where the tenant approved the
//! exchanging app with its `token-exchange` integration point, and still admits the app the
//! token was issued to. No refresh token: the exchange is repeated while the subject token lives.

use serde_json::{json, Value};

use super::super::client_auth::AuthenticatedClient;
use super::super::token::TokenResponse;
use super::super::tokens::{issue_access, lookup_active, AccessRequest};
use super::super::{OAuthError, ProtocolError};
use super::audience;
use crate::apps::Entitlement;
use crate::oauth::params::{parse_scope, FormParams};
use crate::provider::Provider;
use crate::store::audit::AuditEvent;
use crate::vocab::GrantType;

/// RFC 8693 §3: the token types we take and issue.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// How many actors a chain may name: enough for real delegation, bounded so a token stays small.
const MAX_CHAIN: usize = 4;

/// RFC 8693 §2.2.2: an invalid or unacceptable subject token is `invalid_request`.
fn refused(why: &'static str) -> ProtocolError {
    OAuthError::invalid_request(why).into()
}

fn chain_len(act: Option<&Value>) -> usize {
    match act {
        Some(a) => 1 + chain_len(a.get("act")),
        None => 0,
    }
}

pub async fn exchange(
    state: &Provider,
    client: &AuthenticatedClient,
    form: &FormParams,
) -> Result<TokenResponse, ProtocolError> {
    let app = client.app();
    client.require_grant(GrantType::TokenExchange, true)?;
    if !app.active_entitlements().any(|e| e == Entitlement::ExchangeTokens) {
        return Err(OAuthError::unauthorized_client("this app has no active token-exchange integration point").into());
    }
    let subject_token = form.required("subject_token")?;
    match form.required("subject_token_type")? {
        ACCESS_TOKEN_TYPE | JWT_TOKEN_TYPE => {}
        _ => return Err(refused("subject_token_type must be urn:ietf:params:oauth:token-type:access_token")),
    }
    // The client itself is the actor (§1.1 delegation); a separate actor token is not taken.
    if form.contains("actor_token") || form.contains("actor_token_type") {
        return Err(refused("actor_token is not supported: the authenticated client is the actor"));
    }
    if form.get("requested_token_type").is_some_and(|t| t != ACCESS_TOKEN_TYPE) {
        return Err(refused("only access tokens are issued (requested_token_type)"));
    }
    let Some(subject) = lookup_active(state, subject_token).await? else {
        return Err(refused("the subject token is not an active access token of this server"));
    };
    // A sender-constrained token is only exchanged by the holder of its key.
    if subject.jkt.as_deref().is_some_and(|bound| client.dpop_jkt() != Some(bound)) {
        return Err(refused("the subject token is DPoP-bound to a key this request did not prove"));
    }
    let (Some(ctx), true) = (subject.tenant_ctx.as_deref(), subject.subject != subject.client_id) else {
        return Err(refused("the subject token must act for a person in a tenant"));
    };
    let tenant = state.directory.tenant(ctx).await?;
    // Both apps in the tenant: the subject token's app still (checked by lookup_active), and
    // this one, approved with its token-exchange integration point.
    if !state.approvals.admits(app, &tenant).await? {
        return Err(refused("the tenant has not approved this app to exchange its users' tokens"));
    }
    if chain_len(subject.act.as_ref()) >= MAX_CHAIN {
        return Err(refused("the subject token's delegation chain is already as long as allowed"));
    }
    let held: Vec<String> = subject.scope.split_whitespace().map(str::to_string).collect();
    let scope = match form.get("scope") {
        None => held.clone(),
        Some(s) => {
            let asked = parse_scope(s)?;
            if let Some(bad) = asked.iter().find(|a| !held.contains(a)) {
                return Err(OAuthError::invalid_scope(format!("'{bad}' is not in the subject token's scope")).into());
            }
            asked
        }
    };
    // §2.1: `resource` or `audience` name the target; both go through the resource registry.
    let target = form.get("resource").or(form.get("audience"));
    let audience = audience(state, app, target).await?;
    let act = match &subject.act {
        Some(prior) => json!({ "sub": app.client_id, "act": prior }),
        None => json!({ "sub": app.client_id }),
    };
    let access = issue_access(
        state,
        AccessRequest {
            app,
            subject: subject.subject.clone(),
            user_id: Some(subject.subject.clone()),
            tenant_id: Some(tenant.id.clone()),
            tenant_ctx: Some(tenant.ctx.clone()),
            scope: scope.clone(),
            audience,
            jkt: client.dpop_jkt().map(str::to_string),
            act: Some(act.clone()),
            requires_revision: None,
        },
    )
    .await?;
    let detail = json!({ "from_client": subject.client_id, "user": subject.subject, "tenant": tenant.ctx, "act": act });
    let event = AuditEvent::new(state.clock.now(), &app.client_id, "token.exchanged", &app.client_id, detail);
    state.store.record_audit(&event).await?;
    let mut response = TokenResponse::bearer(access, scope);
    response.issued_token_type = Some(ACCESS_TOKEN_TYPE);
    Ok(response)
}
