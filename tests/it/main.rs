//! One integration binary (one link step): each `mod` is a behaviour area, run against a real
//! server on port 0 with SQLite, and with PostgreSQL when GATEHOUSE_TEST_POSTGRES_URL is set
//! (required when CI is set).

#[macro_use]
mod harness; // TestServer (real server, fresh database per test), both_backends!, fixtures

mod account; // the account page: sessions, allowed apps revoked, password change, name, verification, events
mod api; // the admin API: a partner's CI rotates secrets and certificates, idempotent creates, If-Match, tenants, the audit stream, problem details
mod api_tenants; // the admin API's tenant resources with admin:tenant: members, invitations, approvals; user.disabled events; signing keys
mod architecture; // the shape of src/: layers, no import cycles, http and AppState kept in the web layer, files ≤ 600 lines
mod assertions; // private_key_jwt and the JWT bearer grant: signed assertions, JWT credentials, every forgery
mod audit_log; // the audit trail as JSON lines: every event once, in order, one instance at a time, taken over when its lease lapses
mod backchannel_logout; // back-channel logout: signed logout tokens to another port, retries and giving up, one delivery across instances
mod browser; // the sign-in pages in headless Chromium over WebDriver, with screenshots
mod claims_parameter; // the claims parameter (OIDC Core 5.5): claims by name, essential acr, required sub; dpop_jkt (RFC 9449 §10)
mod cli; // the gatehouse binary: exit codes, one-line errors, --json output
mod client_credentials; // client_credentials, secrets, token formats, introspection, revocation
mod client_keys; // clients' own kids, keys at a registered jwks_uri fetched from the RP's listener
mod clock_steps; // the server clock stepping back 5 minutes and forward 2 hours
mod cors; // CORS on the wire: public documents for any origin, client endpoints for registered origins
mod device; // the device grant (RFC 8628): codes, polling, slow_down, the sign-in on /device, denial, expiry, guessing
mod discovery; // discovery and JWKS read by the openidconnect crate; token signatures verify
mod dpop; // DPoP (RFC 9449): bound tokens, every bad proof, replay, public clients' refresh tokens, userinfo, nonces
mod federation; // tenants' upstream OpenID Providers: another Gatehouse on another origin signs people in; every refused answer
mod federation_domains; // a tenant administrator connects a provider; its domains route only once DNS proves them; admin:tenant
mod hardening; // the external audit's findings (issue 16): acting for users, silent re-authorization, auth methods, refresh limits
mod health; // /healthz, /readyz, /metrics, and the error shape of unknown routes
mod keys; // rotation: next published before it signs, retired stays published
mod offboarding; // a disabled person signs in no more and what they held ends at once; delete only after disable
mod opaque_tokens; // the opaque-token writer and reader, tokens that name their row, the upgrade
mod par; // pushed authorization requests (RFC 9126): one use, own client, expiry, the push validated, PAR required per app and server
mod passkeys; // passkeys with a software authenticator: alone and as a second factor, each wrong answer refused
mod passkeys_browser; // a passkey made and used in headless Chromium's virtual authenticator, the app on another origin
mod people; // invitations, verification and password reset by mail through a real SMTP server; a tenant's last administrator
mod people_browser; // invitation, sign-in at an app on another origin, reset and offboarding in headless Chromium
mod portal; // the Developer Portal and administration pages over HTTP: wizard, app page, bad input
mod portal_browser; // the portal in headless Chromium: every wizard path, secrets, certificates, approvals
mod pruning; // expired rows of every table pruned in batches, live ones and reuse detection kept; the pending-request cap
mod refresh; // strict one-time refresh by default, the per-app grace opt-in, refresh-token introspection
mod registration; // dynamic client registration and management (RFC 7591 / 7592)
mod registry; // apps from templates, secrets, certificates, redirect URIs, nothing half-written
mod request_objects; // signed request objects (RFC 9101) by value and through PAR; every untrustworthy one refused, errors only to registered URIs
mod rfc_musts; // one test per RFC / OIDC requirement not covered elsewhere, named after its clause
mod second_factor; // TOTP set up at sign-in, one use per code, throttling, recovery codes, acr_values step-up, tenant policies, amr/acr
mod signin; // authorization code + PKCE + OIDC with the openidconnect crate; pages, CSRF, throttling
mod signin_hardening; // logout needs a hint or a confirmation, cross-site posts refused, __Host- cookies
mod superid; // SuperID as SuperOffice's clients use it: tickets, SOAP, SAML, JWKS order, tenant paths, PKCE opt-out, claims
mod system_user; // SuperID system users: the whole story, and every wrong signed token
mod tenants; // tenants, users, memberships, partners
mod throttle; // failed logins: per account and address, known-device cookies, trusted proxies
mod token_exchange; // token exchange (RFC 8693): delegation with act chains, only where the tenant approved it; every refusal
mod webhooks; // approvals to partners' webhooks, signed as Standard Webhooks; retries, another instance, one delivery
