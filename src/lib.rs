//! Gatehouse: an OAuth 2.0 / OpenID Connect authorization server for an app platform.
//!
//! The tree is the architecture: `http` (axum only) → `superid`/`oauth`/`oidc` (protocol) →
//! `apps`/`tenants`/`keys` (domain) → `store` (SQL). Nothing calls upwards.

pub mod approvals; // a tenant's approval of an app, and who an app admits
pub mod apps; // app registry: templates, secrets, redirect URIs, certificates
pub mod audit_log; // the audit trail as JSON lines to a file or stdout, one instance at a time
pub mod cli; // the `gatehouse` command line: serve, migrate, partners, apps, tenants, users, keys
pub mod clock; // the one source of "now" (a test clock in tests)
pub mod config; // Config: file → environment → flags, validated once at start
pub mod crypto; // random values, digests, base64, constant-time comparison
pub mod error; // the domain error every non-protocol operation returns
pub mod failpoint; // crash points the faults suite arms by environment variable
pub mod federation; // a tenant's upstream OpenID Providers: settings, home realm discovery, the upstream leg
pub mod http; // axum router, discovery, JWKS, health and metrics endpoints
pub mod jose; // JWS, JWK, X.509 and key pairs: the encodings and the mathematics, no storage
pub mod keys; // server signing keys: generate, rotate, sign, publish as JWKS
pub mod mail; // outbound mail: an SMTP relay, or the outbox folder on the embedded default
pub mod oauth; // RFC 6749 and extensions: requests, grants, client authentication, tokens
pub mod oidc; // OpenID Connect on top of oauth: ID tokens and user claims
pub mod outbound; // the one outbound HTTP client (jwks_uri): timeouts, size limit, public addresses only
pub mod outbox; // delivering what the store queued (back-channel logouts), leased across instances
pub mod paths; // every path the server answers: routes and discovery read the same constants
pub mod provider; // Provider: the domain handles and settings every protocol step is given
pub mod pruning; // deleting expired rows in bounded batches, once per period across instances
pub mod secret; // Secret<T>: redacted Debug, constant-time equality
pub mod state; // AppState: the Provider plus what only the web side needs
pub mod store; // SQLite and PostgreSQL storage, one file per aggregate
pub mod superid; // SuperID compatibility: the system-user exchange (REST and SOAP), SAML
pub mod tenants; // tenants, users, memberships, partners and their developers
pub mod vocab; // closed vocabularies: grant types, client authentication methods, string_enum!

pub use http::app;
pub use state::AppState;
