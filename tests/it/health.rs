use crate::harness::http;

both_backends!(
    async fn health_readiness_and_metrics_answer(srv) {
        let c = http();
        let r = c.get(srv.url("/healthz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let r = c.get(srv.url("/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["status"], "ready");
        let body = c.get(srv.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert!(body.contains("gatehouse_http_requests_total{route=\"/readyz\",method=\"GET\",status=\"200\"} 1"), "{body}");
    }
);

both_backends!(
    async fn readiness_reports_a_closed_database_as_unavailable(srv) {
        srv.state.store.close().await;
        let r = http().get(srv.url("/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["status"], "unavailable");
    }
);

both_backends!(
    async fn unknown_routes_and_methods_get_the_oauth_error_shape(srv) {
        let c = http();
        let r = c.get(srv.url("/no/such/thing?client_secret=hunter2")).send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["error"], "not_found");
        assert!(!body.to_string().contains("hunter2"));
        let r = c.post(srv.url("/jwks")).send().await.unwrap();
        assert_eq!(r.status(), 405);
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["error"], "method_not_allowed");
    }
);
