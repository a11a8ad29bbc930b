//! The one source of "now": the wall clock in production, a settable clock in tests.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, the unit every stored timestamp uses.
pub type UnixTime = i64;

#[derive(Clone, Debug, Default)]
pub enum Clock {
    #[default]
    System,
    /// A clock that only moves when told to; expiry is tested by advancing it.
    Manual(Arc<ManualClock>),
}

#[derive(Debug)]
pub struct ManualClock {
    now: AtomicI64,
    /// Seconds the server asked to pause for (see `Clock::pause`).
    paused: AtomicU64,
}

impl Clock {
    pub fn manual(start: UnixTime) -> Self {
        Clock::Manual(Arc::new(ManualClock { now: AtomicI64::new(start), paused: AtomicU64::new(0) }))
    }

    pub fn now(&self) -> UnixTime {
        match self {
            Clock::System => SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0),
            Clock::Manual(t) => t.now.load(Ordering::SeqCst),
        }
    }

    /// Moves a manual clock forward; the system clock cannot be moved.
    pub fn advance(&self, seconds: i64) {
        if let Clock::Manual(t) = self {
            t.now.fetch_add(seconds, Ordering::SeqCst);
        }
    }

    /// Waits before answering (the login throttle slows guessing down). A manual clock only
    /// counts the seconds and returns at once, so tests see each delay without sleeping.
    pub async fn pause(&self, seconds: u64) {
        match self {
            Clock::System => tokio::time::sleep(std::time::Duration::from_secs(seconds)).await,
            Clock::Manual(t) => {
                t.paused.fetch_add(seconds, Ordering::SeqCst);
            }
        }
    }

    /// Seconds a manual clock was asked to pause for, in all; 0 for the system clock.
    pub fn paused(&self) -> u64 {
        match self {
            Clock::System => 0,
            Clock::Manual(t) => t.paused.load(Ordering::SeqCst),
        }
    }
}

/// `YYYY-MM-DD HH:MM UTC` for pages and listings.
pub fn utc_minute(t: UnixTime) -> String {
    let (year, month, day, secs) = civil(t);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
}

/// `YYYY-MM-DDTHH:MM:SSZ` (XML Schema `dateTime` in UTC, as SAML writes instants).
pub fn xml_datetime(t: UnixTime) -> String {
    let (year, month, day, secs) = civil(t);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// Year, month, day and seconds into the day of a Unix time.
fn civil(t: UnixTime) -> (i64, i64, i64, i64) {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day, secs)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_utc_minutes() {
        assert_eq!(super::utc_minute(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::utc_minute(951_782_400 + 3_660), "2000-02-29 01:01 UTC");
        assert_eq!(super::utc_minute(1_795_305_600), "2026-11-22 00:00 UTC");
        assert_eq!(super::xml_datetime(1_795_305_600 + 3_723), "2026-11-22T01:02:03Z");
    }
}
