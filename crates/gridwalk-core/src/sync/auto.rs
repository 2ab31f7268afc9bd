//! When the tablet syncs by itself: pure planning over a small state, tested with case tables
//! and a manual clock. The app shell keeps one [`AutoState`], tells it what happened (a record
//! was made, a sync started or ended, the server said there is news) and sleeps until
//! [`next_sync_at`]. Nothing here does IO or reads a clock: every time is passed in.

use super::plan::backoff_ms;

/// The knobs. The pull period is the worker's setting (Settings → 自动同步间隔).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoPlan {
    /// Push this long after the last record, so a burst of records goes in one sync.
    pub debounce_ms: i64,
    /// …but never later than this after the first unsent record of a burst.
    pub max_delay_ms: i64,
    /// Pull at least this often while nothing else triggers a sync.
    pub period_ms: i64,
    /// Offline: wait base·2^failures (jittered, capped) before the next try.
    pub backoff_base_ms: u64,
    pub backoff_cap_ms: u64,
}

pub const DEFAULT_PERIOD_S: u32 = 60;
/// The period the worker may set: a quarter minute to an hour.
pub const PERIOD_RANGE_S: std::ops::RangeInclusive<u32> = 15..=3600;

impl AutoPlan {
    pub fn with_period_s(period_s: u32) -> AutoPlan {
        AutoPlan {
            debounce_ms: 2_000,
            max_delay_ms: 10_000,
            period_ms: period_s as i64 * 1000,
            backoff_base_ms: 2_000,
            backoff_cap_ms: 5 * 60_000,
        }
    }
}

impl Default for AutoPlan {
    fn default() -> Self {
        AutoPlan::with_period_s(DEFAULT_PERIOD_S)
    }
}

/// What the planner knows. Times are milliseconds on the device clock.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AutoState {
    /// The store is open (unlocked and enrolled). Locked: never sync.
    pub unlocked: bool,
    /// A sync (automatic or manual) is running: never start a second one.
    pub running: bool,
    /// The first and the last record not yet pushed by a sync that started after them.
    pub first_poke_ms: Option<i64>,
    pub last_poke_ms: Option<i64>,
    /// The long-poll said the server holds something new for this tablet.
    pub news: bool,
    /// When the last sync started, and when the last successful one ended.
    pub last_start_ms: Option<i64>,
    pub last_ok_ms: Option<i64>,
    /// Failed syncs in a row (offline, server down); 0 after a success.
    pub failures: u32,
    /// A number in [0, 1) drawn once per failure, so a district's tablets don't retry in step.
    pub jitter: f64,
}

impl AutoState {
    /// Something was recorded: push it soon.
    pub fn poke(&mut self, now_ms: i64) {
        self.first_poke_ms.get_or_insert(now_ms);
        self.last_poke_ms = Some(now_ms);
    }

    /// A sync starts now: it takes every record made so far and the news with it.
    pub fn started(&mut self, now_ms: i64) {
        self.running = true;
        self.last_start_ms = Some(now_ms);
        self.first_poke_ms = None;
        self.last_poke_ms = None;
        self.news = false;
    }

    /// The sync ended. A failure keeps nothing new to push (the records are in the outbox and
    /// the next sync, after the backoff, sends them), so only the backoff remembers it.
    pub fn finished(&mut self, now_ms: i64, ok: bool, jitter: f64) {
        self.running = false;
        if ok {
            self.failures = 0;
            self.last_ok_ms = Some(now_ms);
        } else {
            self.failures = self.failures.saturating_add(1);
            self.jitter = jitter;
        }
    }

    /// While backing off, the network is taken to be down: the long-poll waits too.
    pub fn online(&self) -> bool {
        self.failures == 0
    }
}

/// When the next automatic sync should start (`<= now` means now), or `None`: locked, or one
/// is running (its end is the next event worth planning for).
pub fn next_sync_at(s: &AutoState, p: &AutoPlan) -> Option<i64> {
    if !s.unlocked || s.running {
        return None;
    }
    // Never synced since unlock: at once.
    let Some(started) = s.last_start_ms else { return Some(i64::MIN) };
    let mut due = match s.last_ok_ms {
        Some(ok) => ok.max(started).saturating_add(p.period_ms),
        None => started.saturating_add(p.period_ms),
    };
    if let (Some(first), Some(last)) = (s.first_poke_ms, s.last_poke_ms) {
        due = due.min(last.saturating_add(p.debounce_ms).min(first.saturating_add(p.max_delay_ms)));
    }
    if s.news {
        due = due.min(started);
    }
    if s.failures > 0 {
        // Offline: no sooner than the backoff after the failed try, whatever asks for one.
        let wait = backoff_ms(s.failures - 1, p.backoff_base_ms, p.backoff_cap_ms, s.jitter) as i64;
        due = due.max(started.saturating_add(wait));
    }
    Some(due)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridwalk_clock::{Clock, ManualClock};

    fn plan() -> AutoPlan {
        AutoPlan::with_period_s(60)
    }

    /// A state after one successful sync that started at `t0` and ended 500 ms later.
    fn synced_at(t0: i64) -> AutoState {
        let mut s = AutoState { unlocked: true, ..Default::default() };
        s.started(t0);
        s.finished(t0 + 500, true, 0.0);
        s
    }

    #[test]
    fn next_sync_case_table() {
        let t0 = 1_000_000;
        let base = synced_at(t0);
        let poked = |at: &[i64]| {
            let mut s = base.clone();
            for t in at {
                s.poke(*t);
            }
            s
        };
        let cases: Vec<(&str, AutoState, Option<i64>)> = vec![
            ("locked: never", AutoState { unlocked: false, ..base.clone() }, None),
            ("running: never a second one", AutoState { running: true, ..base.clone() }, None),
            ("never synced since unlock: now", AutoState { unlocked: true, ..Default::default() }, Some(i64::MIN)),
            ("idle: one period after the last success", base.clone(), Some(t0 + 500 + 60_000)),
            ("a record: 2 s after it", poked(&[t0 + 10_000]), Some(t0 + 12_000)),
            ("a burst: 2 s after the last record", poked(&[t0 + 10_000, t0 + 11_000, t0 + 12_500]), Some(t0 + 14_500)),
            (
                "a long burst: no later than 10 s after its first record",
                poked(&[t0 + 10_000, t0 + 12_000, t0 + 14_000, t0 + 16_000, t0 + 18_000, t0 + 19_500]),
                Some(t0 + 20_000),
            ),
            ("news: now", AutoState { news: true, ..base.clone() }, Some(t0)),
            (
                "offline: no sooner than the backoff, even with a record waiting",
                {
                    let mut s = base.clone();
                    s.started(t0 + 1_000);
                    s.finished(t0 + 1_200, false, 0.0);
                    s.failures = 3;
                    s.poke(t0 + 1_300);
                    s
                },
                // backoff after the third failure: 2 s · 2² · ½ (jitter 0) = 4 s after the try.
                Some(t0 + 1_000 + 4_000),
            ),
            (
                "offline and idle: the period still applies when it is the later",
                {
                    let mut s = base.clone();
                    s.started(t0 + 1_000);
                    s.finished(t0 + 1_200, false, 0.0);
                    s
                },
                Some(t0 + 1_000 + 60_000),
            ),
        ];
        for (name, state, want) in cases {
            assert_eq!(next_sync_at(&state, &plan()), want, "case {name}");
        }
    }

    #[test]
    fn offline_backs_off_exponentially_up_to_the_cap_and_a_success_resets_it() {
        let clock = ManualClock::new(5_000_000);
        // No debounce, so a waiting record asks for a sync at once and only the backoff holds it.
        let p = AutoPlan { debounce_ms: 0, max_delay_ms: 0, ..plan() };
        let mut s = AutoState { unlocked: true, ..Default::default() };
        let mut waits = Vec::new();
        for _ in 0..10 {
            let now = clock.now_ms();
            let due = next_sync_at(&s, &p).expect("unlocked and idle");
            assert!(due <= now, "each retry happens once it is due");
            s.started(now);
            clock.advance(100);
            s.finished(clock.now_ms(), false, 0.0);
            s.poke(clock.now_ms());
            let next = next_sync_at(&s, &p).unwrap();
            waits.push(next - now);
            clock.set(next);
        }
        // jitter 0 scales by ½: 1 s, 2 s, 4 s … capped at 2.5 min (half of the 5 min cap).
        assert_eq!(waits[..5], [1_000, 2_000, 4_000, 8_000, 16_000], "the wait doubles per failure");
        assert_eq!(*waits.last().unwrap(), 150_000, "and stops growing at the cap");
        assert!(!s.online(), "while backing off the network counts as down");
        s.started(clock.now_ms());
        clock.advance(300);
        s.finished(clock.now_ms(), true, 0.0);
        assert!(s.online(), "a success ends the backoff");
        assert_eq!(next_sync_at(&s, &plan()), Some(clock.now_ms() + 60_000), "and the period applies again");
    }

    #[test]
    fn one_sync_at_a_time_and_records_made_during_it_go_in_the_next() {
        let clock = ManualClock::new(9_000_000);
        let mut s = synced_at(clock.now_ms());
        clock.advance(5_000);
        s.poke(clock.now_ms());
        clock.advance(2_000);
        assert!(next_sync_at(&s, &plan()).unwrap() <= clock.now_ms(), "the debounce is over: sync");
        s.started(clock.now_ms());
        clock.advance(300);
        s.poke(clock.now_ms());
        assert_eq!(next_sync_at(&s, &plan()), None, "a record during a sync never starts a second one");
        clock.advance(1_000);
        s.finished(clock.now_ms(), true, 0.0);
        assert_eq!(
            next_sync_at(&s, &plan()),
            Some(clock.now_ms() - 1_000 + 2_000),
            "the record made during the sync is pushed by the next one, 2 s after it was made"
        );
    }

    #[test]
    fn the_period_follows_the_setting() {
        let t0 = 2_000_000;
        for (period_s, want) in [(15, t0 + 500 + 15_000), (60, t0 + 500 + 60_000), (3600, t0 + 500 + 3_600_000)] {
            assert_eq!(next_sync_at(&synced_at(t0), &AutoPlan::with_period_s(period_s)), Some(want), "a pull every {period_s} s");
        }
    }
}
