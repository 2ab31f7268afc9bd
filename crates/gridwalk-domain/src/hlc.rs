//! Hybrid logical clock. Tablets' wall clocks are wrong and jump; the HLC still gives every
//! event a stamp that is after everything its author had seen, so causal order survives.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A stamp: physical milliseconds plus a logical counter for events within the same millisecond
/// (or while the wall clock lags behind a stamp already seen).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Hlc {
    pub ms: i64,
    pub counter: u32,
}

impl Hlc {
    pub const ZERO: Hlc = Hlc { ms: 0, counter: 0 };

    pub fn new(ms: i64, counter: u32) -> Self {
        Self { ms, counter }
    }

    /// The stamp for a new local event, given the last stamp this device issued or saw and the
    /// device's wall clock now.
    pub fn tick(self, wall_ms: i64) -> Hlc {
        if wall_ms > self.ms {
            Hlc::new(wall_ms, 0)
        } else {
            Hlc::new(self.ms, self.counter.saturating_add(1))
        }
    }

    /// Merge a stamp received from elsewhere (pull), so the next local stamp sorts after it.
    pub fn merge(self, remote: Hlc, wall_ms: i64) -> Hlc {
        let top = self.max(remote);
        if wall_ms > top.ms {
            Hlc::new(wall_ms, 0)
        } else {
            Hlc::new(top.ms, top.counter.saturating_add(1))
        }
    }

    /// A fixed-width text form that sorts like the stamp (used as a SQLite key).
    pub fn to_key(self) -> String {
        format!("{:015}-{:010}", self.ms.max(0), self.counter)
    }

    /// Parse [`Hlc::to_key`]'s form.
    pub fn from_key(key: &str) -> Option<Hlc> {
        let (ms, counter) = key.split_once('-')?;
        Some(Hlc::new(ms.parse().ok()?, counter.parse().ok()?))
    }
}

impl fmt::Debug for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hlc({}.{})", self.ms, self.counter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_and_merge_are_monotonic() {
        let cases = [
            // (last, wall, expected tick)
            (Hlc::new(100, 0), 200, Hlc::new(200, 0)),
            (Hlc::new(100, 3), 100, Hlc::new(100, 4)),
            (Hlc::new(100, 3), 50, Hlc::new(100, 4)),
        ];
        for (last, wall, want) in cases {
            assert_eq!(last.tick(wall), want, "a tick is after the last stamp and follows the wall clock");
        }
        let merged = Hlc::new(100, 0).merge(Hlc::new(500, 7), 300);
        assert_eq!(merged, Hlc::new(500, 8), "a merge lands after the remote stamp even when the wall clock lags");
        assert!(Hlc::new(5, 1).to_key() < Hlc::new(10, 0).to_key(), "keys sort like stamps");
        assert_eq!(Hlc::from_key(&Hlc::new(5, 1).to_key()), Some(Hlc::new(5, 1)), "keys parse back");
    }
}
