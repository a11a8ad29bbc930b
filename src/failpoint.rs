//! Crash points for the faults suite (`faults/`): `GATEHOUSE_FAILPOINT=<name>` makes the
//! process abort, as `kill -9` would, when it reaches the named point. Unset (always, outside
//! that suite), a point costs one comparison against a value read once at first use.

use std::sync::OnceLock;

/// Aborts the process if `GATEHOUSE_FAILPOINT` names this point.
pub fn crash_if_set(name: &str) {
    static ARMED: OnceLock<Option<String>> = OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var("GATEHOUSE_FAILPOINT").ok().filter(|v| !v.is_empty()));
    if armed.as_deref() == Some(name) {
        eprintln!("failpoint {name}: aborting");
        std::process::abort();
    }
}
