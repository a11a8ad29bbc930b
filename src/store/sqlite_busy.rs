//! What a SQLite connection does while another one holds the write lock. SQLite's own busy
//! handler (what `busy_timeout` installs) sleeps 1, 2, 5, 10, 15, 20, 25 … up to 100 ms between
//! tries, made for disks of the 2000s: at 8 users of the code flow a writer slept 5.6 times
//! per round trip, the machine sat a third idle and p99 reached 140–190 ms (issue 15), while
//! the lock it waited for is held for well under a millisecond. This one tries again after
//! 50 µs, doubling to at most 2 ms, and gives up at the same configured limit.

use std::ffi::{c_int, c_void};
use std::time::Duration;

use sqlx::SqliteConnection;

/// Shortest and longest sleep between two tries.
const FIRST_PAUSE_US: u64 = 50;
const LONGEST_PAUSE_US: u64 = 2_000;
/// Tries after which the pause has stopped doubling (50 µs · 2⁶ passes 2 ms).
const DOUBLINGS: u64 = 6;

/// The sleep before try `n` (from 0).
fn pause_us(n: u64) -> u64 {
    if n < DOUBLINGS {
        FIRST_PAUSE_US << n
    } else {
        LONGEST_PAUSE_US
    }
}

/// What tries 0 … n−1 slept in all.
fn slept_us(n: u64) -> u64 {
    let doubled = n.min(DOUBLINGS);
    FIRST_PAUSE_US * ((1 << doubled) - 1) + LONGEST_PAUSE_US * n.saturating_sub(DOUBLINGS)
}

/// Called by SQLite on the connection's own thread each time the lock is taken; `limit_ms` is
/// the configured limit carried in the pointer itself. 1: sleep done, try again; 0: give up
/// (the statement fails with SQLITE_BUSY, which the store answers as unavailable).
extern "C" fn on_busy(limit_ms: *mut c_void, tries: c_int) -> c_int {
    let limit_us = (limit_ms as usize as u64).saturating_mul(1_000);
    let n = u64::try_from(tries).unwrap_or(0);
    let slept = slept_us(n);
    if slept >= limit_us {
        return 0;
    }
    std::thread::sleep(Duration::from_micros(pause_us(n).min(limit_us - slept)));
    1
}

/// Replaces the connection's busy handler (and with it the `busy_timeout` the options set).
pub async fn install(conn: &mut SqliteConnection, limit: Duration) -> sqlx::Result<()> {
    let limit_ms = usize::try_from(limit.as_millis()).unwrap_or(usize::MAX);
    let mut handle = conn.lock_handle().await?;
    // SAFETY: the handle is an open connection, locked for us while the call runs; the
    // argument is an integer carried in the pointer and never dereferenced.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_busy_handler(handle.as_raw_handle().as_ptr(), Some(on_busy), limit_ms as *mut c_void)
    };
    if rc != libsqlite3_sys::SQLITE_OK {
        return Err(sqlx::Error::Protocol(format!("installing the SQLite busy handler failed ({rc})")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_then_hold_and_add_up() {
        let pauses: Vec<u64> = (0..9).map(pause_us).collect();
        assert_eq!(pauses, [50, 100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        for n in 0..40 {
            assert_eq!(slept_us(n), (0..n).map(pause_us).sum::<u64>(), "after {n} tries");
        }
    }

    #[test]
    fn gives_up_at_the_limit() {
        // 5 ms: 50+100+200+400+800+1600 = 3150 µs after six tries, 5150 after seven.
        let five_ms = 5 as *mut c_void;
        assert_eq!(on_busy(five_ms, 6), 1);
        assert_eq!(on_busy(five_ms, 7), 0);
        assert_eq!(on_busy(std::ptr::null_mut(), 0), 0);
    }
}
