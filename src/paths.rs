//! Every path the server answers. The router and the discovery document both read these, so
//! what is advertised is what is routed.

/// Where a person who types the server's address lands: links to the pages they may want.
pub const HOME: &str = "/";
pub const DISCOVERY: &str = "/.well-known/openid-configuration";
pub const AS_METADATA: &str = "/.well-known/oauth-authorization-server";
pub const JWKS: &str = "/jwks";
pub const AUTHORIZE: &str = "/authorize";
/// The sign-in pages (login, tenant, approval, consent) of a pending authorization request.
pub const SIGNIN: &str = "/signin";
/// Where a tenant's upstream provider sends people back (under `SIGNIN`, so the browser sends
/// the sign-in's flow cookie with it).
pub const SIGNIN_FEDERATED: &str = "/signin/federated";
/// The public key we sign client assertions to a tenant's provider with (`private_key_jwt`).
pub const FEDERATION_JWKS: &str = "/federation/{id}/jwks.json";

pub fn federation_jwks(id: &str) -> String {
    FEDERATION_JWKS.replace("{id}", id)
}
pub const TOKEN: &str = "/token";
/// Pushed authorization requests (RFC 9126).
pub const PAR: &str = "/par";
/// The device authorization grant (RFC 8628): where devices ask for codes, and the page where
/// people type theirs.
pub const DEVICE_AUTHORIZATION: &str = "/device_authorization";
pub const DEVICE: &str = "/device";
pub const INTROSPECT: &str = "/introspect";
pub const REVOKE: &str = "/revoke";
pub const USERINFO: &str = "/userinfo";
pub const REGISTER: &str = "/register";
pub const REGISTER_CLIENT: &str = "/register/{client_id}";
pub const LOGOUT: &str = "/logout";

/// SuperID-compatible aliases (DESIGN §2).
pub const SUPERID_DISCOVERY: &str = "/login/.well-known/openid-configuration";
pub const SUPERID_JWKS: &str = "/login/.well-known/jwks";
pub const SUPERID_TOKEN: &str = "/login/common/oauth/tokens";
pub const SUPERID_AUTHORIZE: &str = "/login/common/oauth/authorize";
/// SuperID's tenant form of the authorization and token endpoints (the Connector samples').
pub const SUPERID_TENANT_AUTHORIZE: &str = "/login/{ctx}/oauth/authorize";
pub const SUPERID_TENANT_TOKEN: &str = "/login/{ctx}/oauth/tokens";
pub const SYSTEM_USER: &str = "/Login/api/PartnerSystemUser/Authenticate";
pub const SYSTEM_USER_LOWER: &str = "/login/api/PartnerSystemUser/Authenticate";
/// The SOAP form of the system-user exchange (older SDKs), with its WSDL at `?wsdl`.
pub const SYSTEM_USER_SOAP: &str = "/login/Services/PartnerSystemUserService.svc";
pub const SYSTEM_USER_SOAP_LOWER: &str = "/login/services/PartnerSystemUserService.svc";
pub const SYSTEM_USER_SOAP_CAPITAL: &str = "/Login/Services/PartnerSystemUserService.svc";
/// The certificate of the key that signs SuperID tokens, under SuperOffice's file name.
pub const SUPERID_CERTIFICATE: &str = "/login/SuperOfficeFederatedLogin.crt";

pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const METRICS: &str = "/metrics";

/// The Developer Portal and the administration pages.
pub const PORTAL: &str = "/portal";
pub const PORTAL_LOGIN: &str = "/portal/login";
pub const PORTAL_LOGOUT: &str = "/portal/logout";
pub const PORTAL_APPS: &str = "/portal/apps";
pub const PORTAL_NEW_APP: &str = "/portal/apps/new";
pub const PORTAL_APP: &str = "/portal/apps/{client_id}";
pub const PORTAL_APP_ACTION: &str = "/portal/apps/{client_id}/{action}";
/// The platform administrator's page (restricted entitlements).
pub const PORTAL_ADMIN: &str = "/portal/admin";
/// A tenant administrator's page (apps approved for the tenant).
pub const ADMIN_TENANT: &str = "/admin/tenant";

/// The pages a person reaches from a mailed link, and the reset form.
pub const ACCOUNT_INVITATION: &str = "/account/invitation";
pub const ACCOUNT_VERIFY: &str = "/account/verify";
pub const ACCOUNT_RESET: &str = "/account/reset";
pub const ACCOUNT_RESET_CONFIRM: &str = "/account/reset/confirm";
/// A tenant administrator's forms about people (invite, role, remove, disable).
pub const ADMIN_TENANT_PEOPLE: &str = "/admin/tenant/people";
/// A tenant administrator's forms about the tenant's identity providers (federation).
pub const ADMIN_TENANT_SIGNIN: &str = "/admin/tenant/sign-in";
/// The first-run page: creates the first platform administrator (loopback only, one-time link).
pub const SETUP: &str = "/setup";
/// The portal's second step for people who must (or chose to) use a second factor.
pub const PORTAL_SECOND_FACTOR: &str = "/portal/second-factor";
/// A person's own account page: profile, password, second factor, sessions, allowed apps.
pub const ACCOUNT: &str = "/account";
/// A partner's developers invite more developers (`POST`).
pub const PORTAL_DEVELOPERS: &str = "/portal/developers";
/// A partner's webhooks, for all of its apps (add, remove).
pub const PORTAL_PARTNER_WEBHOOKS: &str = "/portal/partner-webhooks";
