//! The server's clock stepping (issue 7, F7): NTP corrections move wall time back and forward
//! under a running server. A backward step must not panic or invalidate what was just issued;
//! a forward step expires what it should, and a later backward step does not revive it.

use crate::harness::signin::refresh;
use crate::harness::signin::{code_of, introspect, redeem, world, Browser};

both_backends!(
    async fn clock_steps_back_and_forward_without_reviving_expired_artefacts(srv) {
        let w = world(&srv).await;
        let mut browser = Browser::new();
        let code = code_of(&srv, &mut browser, &w, &[]).await;
        let (status, tokens) = redeem(&srv.base, &w, &code).await;
        assert_eq!(status, 200, "{tokens}");
        let access = tokens["access_token"].as_str().unwrap().to_string();
        let unused_code = code_of(&srv, &mut browser, &w, &[]).await;

        // Back 5 minutes: what was issued "in the future" is still good, and nothing panics.
        srv.clock.advance(-300);
        assert_eq!(introspect(&srv.base, &w, &access, None).await["active"], true);
        let (status, rotated) = refresh(&srv.base, &w, tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!(status, 200, "{rotated}");
        let refresh_token = rotated["refresh_token"].as_str().unwrap().to_string();
        let fresh_code = code_of(&srv, &mut browser, &w, &[]).await;

        // Forward 2 hours: the access token (1 h) and the codes (5 min) have expired.
        srv.clock.advance(7_200);
        assert_eq!(introspect(&srv.base, &w, &access, None).await["active"], false);
        for code in [&unused_code, &fresh_code] {
            let (status, body) = redeem(&srv.base, &w, code).await;
            assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
        }
        // The refresh token lives longer than 2 hours and still rotates.
        let (status, later) = refresh(&srv.base, &w, &refresh_token).await;
        assert_eq!(status, 200, "{later}");
        srv.state.pruner().prune().await.unwrap();

        // Back 5 minutes again: still 1 h 55 min past the access token's expiry; nothing revives.
        srv.clock.advance(-300);
        assert_eq!(introspect(&srv.base, &w, &access, None).await["active"], false);
        let (status, body) = redeem(&srv.base, &w, &unused_code).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
        // The superseded refresh token stays spent (reuse is detected, not honoured).
        let (status, body) = refresh(&srv.base, &w, &refresh_token).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
        // A fresh sign-in still works on the stepped clock.
        let code = code_of(&srv, &mut browser, &w, &[]).await;
        assert_eq!(redeem(&srv.base, &w, &code).await.0, 200);
    }
);
