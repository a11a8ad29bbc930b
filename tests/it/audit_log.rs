//! The audit trail as JSON lines (`audit.log`) on both databases: every event of every
//! instance, once, oldest first, after it has settled; one instance writes at a time, and when
//! its lease lapses (it died) another goes on from the saved cursor without repeating a line.

use std::collections::HashSet;

use serde_json::Value;

use crate::harness::signin::world;
use crate::harness::TestServer;
use gatehouse::audit_log::{Exporter, LEASE};
use gatehouse::config::AuditLog;

fn exporter(srv: &TestServer, state: &gatehouse::state::AppState, path: &std::path::Path) -> Exporter {
    let mut config = (*state.config).clone();
    config.audit_log = Some(AuditLog::File(path.to_path_buf()));
    Exporter::new(state.store.clone(), srv.clock.clone(), &config).expect("an exporter when audit.log is set")
}

fn lines(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(|l| serde_json::from_str(l).expect("each line is one JSON object")).collect()
}

both_backends!(
    async fn every_event_is_written_once_in_order_by_whichever_instance_holds_the_lease(srv) {
        let path = srv.dir.path().join("audit.jsonl");
        let settle = gatehouse::store::audit::stream_settle(srv.state.config.db_acquire_timeout);
        let first = exporter(&srv, &srv.state, &path);
        let other_instance = srv.another_instance().await;
        let second = exporter(&srv, &other_instance.state, &path);

        let w = world(&srv).await;
        assert_eq!(first.export_once().await.unwrap(), 0, "nothing is written before it settles");
        srv.clock.advance(settle + 1);
        let written = first.export_once().await.unwrap();
        assert!(written > 0);
        assert_eq!(second.export_once().await.unwrap(), 0, "the other instance waits while the lease is held");
        assert_eq!(first.export_once().await.unwrap(), 0, "nothing new, nothing written again");

        // The first instance dies; the second writes what came since, once its lease has lapsed.
        let app = srv.state.registry.get(&w.client_id).await.unwrap();
        srv.state.approvals.approve("Cust1", &app, None, "test").await.unwrap();
        srv.clock.advance(settle.max(LEASE) + 1);
        assert!(second.export_once().await.unwrap() >= 1);

        let got = lines(&path);
        let stored = srv.state.store.audit_after(None, srv.clock.now() - settle, 10_000).await.unwrap();
        let ids: Vec<&str> = got.iter().map(|l| l["id"].as_str().unwrap()).collect();
        assert_eq!(ids, stored.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>(), "every event once, in order");
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
        let approval = got.iter().find(|l| l["action"] == "app.approved").expect("the approval is in the log");
        assert_eq!(approval["actor"], "test");
        assert!(approval["at"].is_i64() && approval["detail"].is_object());
        assert!(got.windows(2).all(|p| p[0]["at"].as_i64() <= p[1]["at"].as_i64()));
    }
);
