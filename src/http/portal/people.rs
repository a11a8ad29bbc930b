//! A tenant administrator's forms about the tenant's people (`POST /admin/tenant/people`):
//! invite by email (and withdraw an invitation), make administrator or member, remove from the tenant, and disable or
//! enable someone who belongs to this tenant alone. The page that lists them is `admin`'s.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};

use super::admin::{render_tenant, tenant_form};
use super::Form;
use crate::error::Error;
use crate::http::pages::PageError;
use crate::paths;
use crate::AppState;

/// The sentence the tenant page shows after an action (`?done=`).
pub fn notice(done: &str) -> Option<&'static str> {
    Some(match done {
        "invite" => "The invitation is on its way. It works once, for seven days.",
        "admin" => "They are an administrator of the tenant now.",
        "member" => "They are a member of the tenant now, no longer an administrator.",
        "remove" => "They were removed from the tenant. Their account stays.",
        "disable" => "They are disabled: they cannot sign in, and their sessions and tokens have ended.",
        "enable" => "They can sign in again.",
        "withdraw" => "The invitation is withdrawn: its link no longer works.",
        _ => return None,
    })
}

/// `POST /admin/tenant/people`
pub async fn act(State(state): State<AppState>, headers: HeaderMap, form: Form) -> Result<Response, PageError> {
    let (viewer, ctx) = tenant_form(&state, &headers, &form).await?;
    let email = form.text("email");
    let actor = viewer.user.id.clone();
    let action = form.text("action");
    match action.as_str() {
        "invite" => {
            let admin = form.text("role") == "admin";
            let sent = state.people.invite_to_tenant(&ctx, &email, admin, &actor).await?;
            if !sent.delivered {
                return render_tenant(&state, viewer, ctx, None, Some(sent)).await;
            }
        }
        "admin" | "member" => state.people.set_role(&ctx, &email, action == "admin", &actor).await?,
        "withdraw" => state.people.withdraw(&ctx, &email, &actor).await?,
        "remove" => state.people.remove(&ctx, &email, &actor).await?,
        "disable" | "enable" => {
            let user = state.people.may_offboard(&ctx, &email).await?;
            if user.id == actor {
                return Err(Error::conflict("you cannot disable yourself").into());
            }
            if action == "disable" {
                state.directory.disable_user(&user.email, &actor).await?;
            } else {
                state.directory.enable_user(&user.email, &actor).await?;
            }
        }
        _ => {
            return Err(
                Error::invalid("action", "must be invite, withdraw, admin, member, remove, disable or enable").into()
            )
        }
    }
    let ctx = form_urlencoded::byte_serialize(ctx.as_bytes()).collect::<String>();
    Ok(Redirect::to(&format!("{}?ctx={ctx}&done={action}", paths::ADMIN_TENANT)).into_response())
}
