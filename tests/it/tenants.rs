use gatehouse::error::Error;
use gatehouse::secret::Secret;

fn pw(s: &str) -> Secret<String> {
    Secret::new(s.to_string())
}

both_backends!(
    async fn tenants_users_and_memberships(srv) {
        let dir = &srv.state.directory;
        let partner = srv.partner().await;
        let t = dir.add_tenant("Cust12345", "Customer One", None, Some(&partner), "test").await.unwrap();
        assert!(t.serial > 0);
        assert_eq!(t.status, "running");
        let t2 = dir.add_tenant("Cust2", "Customer Two", Some(77), None, "test").await.unwrap();
        assert_eq!(t2.serial, 77);
        assert!(matches!(dir.add_tenant("Cust12345", "Again", None, None, "test").await.unwrap_err(), Error::Conflict(_)));
        assert!(matches!(dir.add_tenant("Cust9", "Same serial", Some(77), None, "test").await.unwrap_err(), Error::Conflict(_)));
        assert!(matches!(dir.add_tenant("12 bad", "x", None, None, "test").await.unwrap_err(), Error::Invalid { field: "ctx", .. }));

        let u = dir.add_user("Admin@Example.com", None, "Cust12345", true, pw("a long enough passphrase"), "test").await.unwrap();
        assert_eq!(u.email, "admin@example.com");
        // Adding the same email to another tenant adds a membership, not a second user.
        let same = dir.add_user("admin@example.com", None, "Cust2", false, pw("ignored for existing users"), "test").await.unwrap();
        assert_eq!(same.id, u.id);
        let m = dir.memberships(&u.id).await.unwrap();
        assert_eq!(m.len(), 2);
        assert!(m.iter().any(|m| m.tenant == "Cust12345" && m.is_admin));
        assert!(m.iter().any(|m| m.tenant == "Cust2" && !m.is_admin));

        assert_eq!(dir.verify_password("ADMIN@example.com", pw("a long enough passphrase")).await.unwrap().unwrap().id, u.id);
        assert!(dir.verify_password("admin@example.com", pw("wrong passphrase!!")).await.unwrap().is_none());
        assert!(dir.verify_password("nobody@example.com", pw("a long enough passphrase")).await.unwrap().is_none());

        assert!(matches!(dir.add_user("x@example.com", None, "Cust12345", false, pw("short"), "test").await.unwrap_err(), Error::Invalid { field: "password", .. }));
        assert!(matches!(dir.add_user("not-an-email", None, "Cust12345", false, pw("a long enough passphrase"), "test").await.unwrap_err(), Error::Invalid { field: "email", .. }));
        assert!(matches!(dir.add_user("x@example.com", None, "NoSuch", false, pw("a long enough passphrase"), "test").await.unwrap_err(), Error::NotFound(_)));

        dir.add_partner_member(&partner, "admin@example.com", "test").await.unwrap();
        assert!(srv.state.store.is_partner_member(&partner, &u.id).await.unwrap());
        assert!(matches!(dir.add_partner_member(&partner, "admin@example.com", "test").await.unwrap_err(), Error::Conflict(_)));
        assert!(dir.set_platform_admin("admin@example.com", true).await.unwrap().platform_admin);
    }
);
