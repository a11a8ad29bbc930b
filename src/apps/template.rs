//! App templates (DESIGN §3) and the closed sets an app is configured with.
//! Each enum's `as_str` is what the database, the CLI and the JSON output use.

use crate::vocab::{string_enum, GrantType};

string_enum!(
    /// The starting configuration of an app.
    Template, "template" {
        Web => "web",
        Native => "native",
        ServerToServer => "server-to-server",
        Mirroring => "mirroring",
        ErpSync => "erp-sync",
        Empty => "empty",
    }
);

string_enum!(
    /// What an app may do beyond logging users in (SuperID "integration points").
    /// Each is also the scope an app asks for to use it.
    Entitlement, "entitlement" {
        WebApi => "webapi",
        Services88 => "services88",
        WebhookAgent => "webhook-agent",
        SystemToken => "system-token",
        ErpSyncAgent => "erp-sync-agent",
        ActForUsers => "act-for-users",
        ActForAdministrators => "act-for-administrators",
        ExchangeTokens => "token-exchange",
        AdminPartner => "admin:partner",
        AdminTenant => "admin:tenant",
        AdminPlatform => "admin:platform",
    }
);

string_enum!(
    EntitlementStatus, "entitlement status" {
        Active => "active",
        Pending => "pending",
        Rejected => "rejected",
    }
);

string_enum!(
    /// Private apps admit only users of the owning partner's tenants; public apps any tenant
    /// that approved them.
    Access, "access" { Private => "private", Public => "public" }
);

string_enum!(
    /// Standard apps need each tenant's authorization record; custom apps serve one tenant.
    AppKind, "kind" { Standard => "standard", Custom => "custom" }
);

string_enum!(
    /// RFC 6749 §2.1: public clients cannot keep a secret and get none.
    ClientType, "client type" { Confidential => "confidential", Public => "public" }
);

string_enum!(
    TokenFormat, "token format" { Jwt => "jwt", Opaque => "opaque" }
);

string_enum!(
    /// Rotating with reuse detection (default), or long-lived bound to the authorization
    /// record (SuperID behaviour).
    RefreshMode, "refresh mode" { Rotating => "rotating", LongLived => "long-lived" }
);

impl Entitlement {
    /// Restricted integration points: requested ones wait as *pending* until a platform
    /// administrator approves them.
    pub const fn needs_approval(self) -> bool {
        matches!(self, Entitlement::Services88 | Entitlement::ErpSyncAgent | Entitlement::AdminPlatform)
    }

    /// Adding one of these to an app puts its tenants' authorization records into
    /// *needs re-approval* (DESIGN §4).
    pub const fn needs_tenant_reapproval(self) -> bool {
        matches!(
            self,
            Entitlement::SystemToken
                | Entitlement::WebhookAgent
                | Entitlement::ActForUsers
                | Entitlement::ActForAdministrators
                | Entitlement::ExchangeTokens
                | Entitlement::AdminTenant
        )
    }

    /// What approving it allows, in the words the tenant administrator reads on the approval
    /// page.
    pub const fn describe(self) -> &'static str {
        match self {
            Entitlement::WebApi => "call the tenant's Web API",
            Entitlement::Services88 => "call the tenant's SOAP services",
            Entitlement::WebhookAgent => "receive the tenant's events (webhooks)",
            Entitlement::SystemToken => "act as a system user with full access to the tenant's data",
            Entitlement::ErpSyncAgent => "synchronise the tenant's data with an ERP system",
            Entitlement::ActForUsers => {
                "act as any user of the tenant who is not an administrator, without that user signing in"
            }
            Entitlement::ActForAdministrators => {
                "act as any user of the tenant, administrators included, without that user signing in"
            }
            Entitlement::ExchangeTokens => {
                "act for a user of the tenant with a token that user gave another app the tenant approved (token exchange)"
            }
            Entitlement::AdminPartner => "manage its partner's apps through the admin API",
            Entitlement::AdminTenant => {
                "manage the tenant's sign-in settings (identity providers and their email domains) through the admin API"
            }
            Entitlement::AdminPlatform => "manage every partner, app and tenant through the admin API",
        }
    }
}

/// What a template expands into. Everything stays editable afterwards.
pub struct TemplateDefaults {
    pub entitlements: &'static [Entitlement],
    pub loopback_any_port: bool,
    pub client_type: ClientType,
    pub grant_types: &'static [GrantType],
}

impl Template {
    pub const fn defaults(self) -> TemplateDefaults {
        use Entitlement::*;
        use GrantType::*;
        let (entitlements, grant_types): (&'static [Entitlement], &'static [GrantType]) = match self {
            Template::Web => (&[WebApi, WebhookAgent], &[AuthorizationCode, RefreshToken]),
            // The device grant (RFC 8628) is for apps on devices without a browser: native ones.
            Template::Native => (&[WebApi, WebhookAgent], &[AuthorizationCode, RefreshToken, DeviceCode]),
            // JWT bearer (RFC 7523) joins the server-to-server defaults: it is how these apps act
            // for a user without a browser.
            Template::ServerToServer => (
                &[WebApi, Services88, WebhookAgent, SystemToken],
                &[ClientCredentials, AuthorizationCode, JwtBearer, TokenExchange],
            ),
            Template::Mirroring => (&[], &[ClientCredentials]),
            Template::ErpSync => (
                &[WebApi, Services88, WebhookAgent, SystemToken, ErpSyncAgent],
                &[ClientCredentials, AuthorizationCode, JwtBearer, TokenExchange],
            ),
            Template::Empty => (&[WebApi, Services88, WebhookAgent], &[AuthorizationCode]),
        };
        let native = matches!(self, Template::Native);
        TemplateDefaults {
            entitlements,
            loopback_any_port: native,
            client_type: if native { ClientType::Public } else { ClientType::Confidential },
            grant_types,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_native_template_is_a_public_loopback_client() {
        for t in Template::ALL {
            let d = t.defaults();
            assert_eq!(d.loopback_any_port, *t == Template::Native);
            assert_eq!(d.client_type == ClientType::Public, *t == Template::Native);
        }
    }

    #[test]
    fn parse_names_the_choices() {
        let e = Template::parse("mobile").unwrap_err().to_string();
        assert!(e.contains("web, native, server-to-server, mirroring, erp-sync, empty"), "{e}");
        assert_eq!(Template::parse("erp-sync").unwrap(), Template::ErpSync);
    }
}
