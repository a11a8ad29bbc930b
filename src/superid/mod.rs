//! SuperID compatibility: what SuperOffice's own clients speak besides OAuth and OIDC. The
//! PartnerSystemUser exchange (REST JSON and SOAP 1.1, with its WSDL), its SAML form, and the
//! XML they are written in. Tickets live with the tenants (`tenants::tickets`), the tenant
//! form of the authorize path in `http::authorize`, the certificates in `keys::certificate`.

pub mod saml;
pub mod soap;
pub mod system_user;
pub mod xml;
