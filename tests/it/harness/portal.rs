//! A partner with a developer, signed in to the Developer Portal.

use gatehouse::secret::Secret;

use super::TestServer;

pub const PASSWORD: &str = "correct horse battery staple";

/// A partner with a developer who administers the partner's own tenant, a second partner with
/// its own developer, and a platform administrator.
pub struct PortalWorld {
    pub partner: String,
}

pub async fn portal_world(srv: &TestServer) -> PortalWorld {
    let dir = &srv.state.directory;
    let partner = srv.partner().await;
    dir.add_tenant("Cust1", "Customer One", None, Some(&partner), "test").await.unwrap();
    dir.add_user("dev@example.com", Some("Dee Developer"), "Cust1", true, Secret::new(PASSWORD.into()), "test")
        .await
        .unwrap();
    dir.add_user("user@example.com", Some("Una User"), "Cust1", false, Secret::new(PASSWORD.into()), "test")
        .await
        .unwrap();
    dir.add_partner_member(&partner, "dev@example.com", "test").await.unwrap();
    let other = dir.add_partner("Other Ltd", "test").await.unwrap();
    dir.add_tenant("Cust2", "Customer Two", None, Some(&other.id), "test").await.unwrap();
    dir.add_user("other@example.com", None, "Cust2", true, Secret::new(PASSWORD.into()), "test").await.unwrap();
    dir.add_partner_member(&other.id, "other@example.com", "test").await.unwrap();
    dir.add_user("root@example.com", None, "Cust2", false, Secret::new(PASSWORD.into()), "test").await.unwrap();
    dir.set_platform_admin("root@example.com", true).await.unwrap();
    PortalWorld { partner }
}
