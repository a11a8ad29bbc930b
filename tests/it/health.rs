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

both_backends!(
    async fn made_up_http_methods_share_one_metrics_series(srv) {
        // See: issue 16, item 12. A label per raw method would let anyone grow /metrics without bound.
        let c = http();
        let series = |body: &str| body.lines().filter(|l| l.starts_with("gatehouse_http_requests_total{")).count();
        // Twice, so the scrape's own series exists before counting.
        c.get(srv.url("/metrics")).send().await.unwrap();
        let before = series(&c.get(srv.url("/metrics")).send().await.unwrap().text().await.unwrap());
        for i in 0..50 {
            let method = reqwest::Method::from_bytes(format!("MADEUP{i}").as_bytes()).unwrap();
            let r = c.request(method, srv.url("/healthz")).send().await.unwrap();
            assert_eq!(r.status(), 405);
        }
        let body = c.get(srv.url("/metrics")).send().await.unwrap().text().await.unwrap();
        assert_eq!(series(&body), before + 1, "{body}");
        assert!(body.contains("gatehouse_http_requests_total{route=\"/healthz\",method=\"other\",status=\"405\"} 50"), "{body}");
        assert!(!body.contains("MADEUP"), "{body}");
    }
);
