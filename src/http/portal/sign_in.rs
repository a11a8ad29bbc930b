//! A tenant administrator's forms about how the tenant's people sign in (`POST
//! /admin/tenant/sign-in`): connect an organisation's OpenID Provider, prove each of its email
//! domains by DNS, and disconnect it. The page that lists them is `admin`'s.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};

use super::admin::tenant_form;
use super::Form;
use crate::error::Error;
use crate::federation::{NewProvider, Proof};
use crate::http::pages::PageError;
use crate::paths;
use crate::secret::Secret;
use crate::AppState;

/// The sentence the tenant page shows after an action (`?done=`).
pub fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "idp-add" => {
            "The provider is connected. Publish the DNS record shown for each domain, then prove it: until then nobody signs in there."
        }
        "idp-prove" => "The domain is proven: its people now sign in at your provider.",
        "idp-remove" => "The provider is disconnected: its people sign in here with a password again.",
        _ => return None,
    })
}

/// `POST /admin/tenant/sign-in`
pub async fn act(State(state): State<AppState>, headers: HeaderMap, form: Form) -> Result<Response, PageError> {
    let (viewer, ctx) = tenant_form(&state, &headers, &form).await?;
    let actor = viewer.user.id.as_str();
    let action = form.text("action");
    let optional = |name: &str| Some(form.text(name)).filter(|v| !v.is_empty());
    match action.as_str() {
        "idp-add" => {
            let new = NewProvider {
                issuer: form.text("issuer"),
                client_id: form.text("client_id"),
                // No secret: we make a key and authenticate with private_key_jwt.
                client_secret: optional("client_secret").map(Secret::new),
                domains: form
                    .text("domains")
                    .split([',', ' ', '\n', '\r', '\t'])
                    .filter(|d| !d.is_empty())
                    .map(str::to_string)
                    .collect(),
                admin_group: optional("admin_group"),
                passwords_allowed: form.get("passwords_allowed").is_some(),
                email_claim: optional("email_claim"),
                name_claim: optional("name_claim"),
                groups_claim: optional("groups_claim"),
            };
            state.upstreams.add(&ctx, new, actor, Proof::Dns).await?;
        }
        "idp-prove" => state.upstreams.prove_domain(&ctx, &form.text("id"), &form.text("domain"), actor).await?,
        "idp-remove" => state.upstreams.remove(&ctx, &form.text("id"), actor).await?,
        _ => return Err(Error::invalid("action", "must be idp-add, idp-prove or idp-remove").into()),
    }
    let ctx = form_urlencoded::byte_serialize(ctx.as_bytes()).collect::<String>();
    Ok(Redirect::to(&format!("{}?ctx={ctx}&done={action}#sign-in", paths::ADMIN_TENANT)).into_response())
}
