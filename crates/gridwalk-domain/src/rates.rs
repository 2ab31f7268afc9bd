//! The three rates (三率) the district is judged on, as a pure function over folded issues.
//!
//! # Definitions (the server's `GET /api/v1/rates` uses exactly these)
//!
//! Every rate is a **receipt cohort**: an issue counts in the period (and group) in which it was
//! *received* (`IssueState::received_at_ms`: the hotline's dispatch time for a work order, the
//! clock-corrected report time for an issue found on a visit). Only issues received in
//! `[from, to)` are counted. `as_of` is the moment the figures are taken (the server's clock).
//!
//! - **Response rate (响应率)** = issues whose *first response* (`responded_at_ms`, corrected
//!   clock; resolving on the spot counts as the response) came at or before
//!   `received_at_ms + 1 h` ÷ issues received, where an issue that is still unanswered **and**
//!   still inside its first hour at `as_of` is not yet counted in either (it can still go either
//!   way). A late response, or none after the hour, counts in the denominator only.
//! - **Resolution rate (解决率)** = issues received whose status at `as_of` is `resolved` or
//!   `closed` ÷ issues received. A reopened issue (dissatisfied callback, recurrence) counts as
//!   unresolved until it is resolved again.
//! - **Satisfaction rate (满意率)** = issues whose **latest** callback was *satisfied* or
//!   *basically satisfied* ÷ issues received that have at least one callback. Each issue counts
//!   once, by its latest callback in fold order.
//!
//! A rate with a zero denominator is `None` (no figure), never 0 % or 100 %.
//!
//! # Periods
//! ISO weeks (Monday 00:00 to the next Monday 00:00) and calendar months, both in Beijing time
//! (UTC+8, no daylight saving). A period is named by its start in ms since the epoch.
//!
//! # Returns, transfers, duplicates and cancellations
//! The response clock starts at receipt and nothing resets it: an order returned (退单) or
//! transferred (转派) keeps its `received_at_ms`, so the time it spent being passed on counts
//! against the response rate. An issue closed as a duplicate (重复件) or cancelled (撤销) counts
//! in no rate, numerator or denominator. A resolution only closes after a review or a callback
//! by someone other than the resolver, so the satisfaction rate is never self-reported.
//!
//! # The worker of an issue
//! For `by=worker`, an issue belongs to the worker who first responded (the author of the event
//! that set `responded_at_ms`), or else to its current assignee, or else to its reporter.

use crate::calendar::{beijing, instant};
use crate::fold::{IssueState, RESPONSE_WINDOW_MS};
use crate::ids::WorkerId;
use crate::vocab::{IssueStatus, Satisfaction};
use jiff::civil::Time;
use jiff::ToSpan;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Week,
    Month,
}

impl Period {
    pub fn from_code(code: &str) -> Option<Period> {
        match code {
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            _ => None,
        }
    }

    /// The start of the period holding `ms` (Beijing time), in ms since the epoch.
    pub fn start(self, ms: i64) -> i64 {
        let day = beijing(ms).date();
        let first = match self {
            // jiff's ISO week dates: weeks start on Monday. (`first_of_week` fails only past
            // jiff's smallest date, which `beijing` never yields.)
            Period::Week => day.iso_week_date().first_of_week().map_or(day, |w| w.date()),
            Period::Month => day.first_of_month(),
        };
        instant(first.to_datetime(Time::midnight()))
    }

    /// The start of the next period after the one starting at `start`.
    pub fn next(self, start: i64) -> i64 {
        let at = beijing(start);
        let next = match self {
            // Beijing keeps no daylight saving: a civil week is always 7 × 24 h.
            Period::Week => at.saturating_add(1.week()),
            Period::Month => at.date().first_of_month().saturating_add(1.month()).to_datetime(Time::midnight()),
        };
        instant(next)
    }
}

/// What the rates need of one issue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateFacts {
    pub received_at_ms: i64,
    pub responded_at_ms: Option<i64>,
    pub status: IssueStatus,
    /// The latest callback's answer, if any callback was recorded.
    pub satisfaction: Option<Satisfaction>,
}

impl RateFacts {
    /// The facts of a folded issue; `None` while its report is not known.
    pub fn of(s: &IssueState) -> Option<RateFacts> {
        s.report.as_ref()?;
        // Duplicates and cancelled reports are not work done or owed: they count nowhere.
        if !s.status.counts_in_rates() {
            return None;
        }
        Some(RateFacts {
            received_at_ms: s.received_at_ms?,
            responded_at_ms: s.responded_at_ms,
            status: s.status,
            satisfaction: s.satisfaction,
        })
    }
}

/// Whether an issue is a complaint the three rates measure: everything but a proactive task
/// (source `proactive`, made from the early-warning list). A task answers no resident, so it
/// counts in no complaint rate; `by=source` gives its own response, resolution and
/// satisfaction rates, apart, by the same definitions.
pub fn is_complaint(s: &IssueState) -> bool {
    s.report.as_ref().is_none_or(|r| r.source != crate::IssueSource::Proactive)
}

/// The worker an issue counts for under `by=worker`: who first responded, else whom it is
/// assigned to now, else who reported it.
pub fn issue_worker(s: &IssueState) -> Option<WorkerId> {
    s.responded_by.or(s.owner())
}

/// A numerator over a denominator; `rate` is `None` when the denominator is 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Ratio {
    pub numerator: u64,
    pub denominator: u64,
    pub rate: Option<f64>,
}

impl Ratio {
    fn add(&mut self, hit: bool) {
        self.denominator += 1;
        self.numerator += u64::from(hit);
    }
    fn settle(&mut self) {
        self.rate = (self.denominator > 0).then(|| self.numerator as f64 / self.denominator as f64);
    }
}

/// The three rates of one group in one period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RateRow {
    pub group: String,
    pub period_start_ms: i64,
    pub period_end_ms: i64,
    /// Issues received in the period (the resolution denominator).
    pub received: u64,
    pub response: Ratio,
    pub resolution: Ratio,
    pub satisfaction: Ratio,
}

/// Count one issue's facts into the three ratios, as of `as_of_ms`.
fn count(response: &mut Ratio, resolution: &mut Ratio, satisfaction: &mut Ratio, f: &RateFacts, as_of_ms: i64) {
    let due = f.received_at_ms.saturating_add(RESPONSE_WINDOW_MS);
    match f.responded_at_ms {
        Some(at) => response.add(at <= due),
        None if as_of_ms > due => response.add(false),
        None => {} // still inside its first hour: not yet counted
    }
    resolution.add(matches!(f.status, IssueStatus::Resolved | IssueStatus::Closed));
    if let Some(s) = f.satisfaction {
        satisfaction.add(matches!(s, Satisfaction::Satisfied | Satisfaction::BasicallySatisfied));
    }
}

/// The response, resolution and satisfaction ratios of `facts` as of `as_of_ms`, as one row of
/// [`compute`] counts them, over whatever span the caller chose (the early warning compares
/// the last 28 days with the 28 before).
pub fn ratios<'a>(facts: impl IntoIterator<Item = &'a RateFacts>, as_of_ms: i64) -> [Ratio; 3] {
    let mut r = [Ratio::default(); 3];
    for f in facts {
        let [a, b, c] = &mut r;
        count(a, b, c, f, as_of_ms);
    }
    for x in &mut r {
        x.settle();
    }
    r
}

/// The rates per (group, period) of issues received in `[from_ms, to_ms)`, as of `as_of_ms`.
/// Rows come sorted by group, then period; groups and periods without issues are absent.
pub fn compute(issues: &[(String, RateFacts)], period: Period, from_ms: i64, to_ms: i64, as_of_ms: i64) -> Vec<RateRow> {
    let mut rows: BTreeMap<(String, i64), RateRow> = BTreeMap::new();
    for (group, f) in issues {
        if f.received_at_ms < from_ms || f.received_at_ms >= to_ms {
            continue;
        }
        let start = period.start(f.received_at_ms);
        let row = rows.entry((group.clone(), start)).or_insert_with(|| RateRow {
            group: group.clone(),
            period_start_ms: start,
            period_end_ms: period.next(start),
            received: 0,
            response: Ratio::default(),
            resolution: Ratio::default(),
            satisfaction: Ratio::default(),
        });
        row.received += 1;
        count(&mut row.response, &mut row.resolution, &mut row.satisfaction, f, as_of_ms);
    }
    rows.into_values()
        .map(|mut r| {
            r.response.settle();
            r.resolution.settle();
            r.satisfaction.settle();
            r
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventBody;

    #[test]
    fn ratios_over_any_span_are_one_row_of_compute() {
        let f = |received: i64, responded: Option<i64>, status| RateFacts {
            received_at_ms: received,
            responded_at_ms: responded,
            status,
            satisfaction: None,
        };
        let h = 3_600_000;
        // In time, late, unanswered past the hour, unanswered within it (not counted yet).
        let facts = [
            f(0, Some(h / 2), IssueStatus::Resolved),
            f(0, Some(2 * h), IssueStatus::InProgress),
            f(0, None, IssueStatus::Reported),
            f(10 * h, None, IssueStatus::Reported),
        ];
        let [response, resolution, satisfaction] = ratios(&facts, 10 * h + 60_000);
        assert_eq!((response.numerator, response.denominator), (1, 3), "one of three judged answered in time; the fresh one waits");
        assert_eq!((resolution.numerator, resolution.denominator), (1, 4));
        assert_eq!((satisfaction.denominator, satisfaction.rate), (0, None), "no callback, no figure");
        let rows =
            compute(&facts.iter().map(|x| ("g".to_owned(), x.clone())).collect::<Vec<_>>(), Period::Month, 0, 11 * h, 10 * h + 60_000);
        assert_eq!((rows[0].response, rows[0].resolution), (response, resolution), "the same arithmetic as a row of compute");
    }

    const DAY_MS: i64 = 86_400_000;
    const H: i64 = 3_600_000;
    const MIN: i64 = 60_000;
    /// 2025-03-03 00:00 Beijing time, a Monday (= 2025-03-02T16:00:00Z).
    const MON: i64 = 1_740_931_200_000;

    #[test]
    fn periods_are_iso_weeks_and_calendar_months_in_beijing_time() {
        assert_eq!(MON, 1_740_960_000_000 - 8 * H, "the fixture Monday is 2025-03-02T16:00Z");
        let cases = [
            // (instant, period, expected start, expected next start)
            (MON, Period::Week, MON, MON + 7 * DAY_MS),
            (MON + 6 * DAY_MS + 23 * H + 59 * MIN, Period::Week, MON, MON + 7 * DAY_MS),
            (MON - 1, Period::Week, MON - 7 * DAY_MS, MON),
            // 2025-03-02T20:00Z is already Monday 04:00 in Beijing.
            (MON + 4 * H, Period::Week, MON, MON + 7 * DAY_MS),
            // March 2025 starts Saturday 2025-03-01 00:00 +08:00 = 2025-02-28T16:00Z.
            (MON, Period::Month, MON - 2 * DAY_MS, MON - 2 * DAY_MS + 31 * DAY_MS),
            // 2025-02-28 23:59 Beijing is still February (28 days).
            (MON - 2 * DAY_MS - MIN, Period::Month, MON - 2 * DAY_MS - 28 * DAY_MS, MON - 2 * DAY_MS),
            // 2024-12-31 23:00 Beijing → December; next is January 2025.
            (1_735_657_200_000, Period::Month, 1_732_982_400_000, 1_735_660_800_000),
            // ISO weeks straddle the year: Thursday 2026-01-01 08:00 Beijing lies in the week of
            // Monday 2025-12-29 (20,451 days after the epoch, hand-computed).
            (20_454 * DAY_MS, Period::Week, 20_451 * DAY_MS - 8 * H, 20_458 * DAY_MS - 8 * H),
            // A leap February has 29 days: 2024-02-29 12:00 Beijing → February 2024.
            (19_782 * DAY_MS + 4 * H, Period::Month, 19_754 * DAY_MS - 8 * H, 19_783 * DAY_MS - 8 * H),
        ];
        for (at, p, start, next) in cases {
            assert_eq!(p.start(at), start, "{p:?} holding {at} starts at Beijing midnight of its first day");
            assert_eq!(p.next(start), next, "{p:?} after {start} starts at the next Beijing period start");
        }
    }

    #[test]
    fn periods_of_absurd_instants_saturate_instead_of_panicking() {
        // A tablet clock can be wildly wrong; no instant may panic the rates.
        for at in [i64::MIN, -400_000_000_000_000, 400_000_000_000_000, i64::MAX] {
            for p in [Period::Week, Period::Month] {
                let start = p.start(at);
                assert!(p.next(start) >= start, "{p:?} holding {at}: the next period does not start before this one");
            }
        }
    }

    #[test]
    fn the_worker_of_an_issue_is_its_first_responder_else_its_reporter() {
        use crate::event::{Entity, Event};
        use crate::hlc::Hlc;
        use crate::ids::*;
        use crate::model::IssueReport;
        use crate::vocab::{Category, IssueSource};
        let id = IssueId::from_parts(1, [9; 10]);
        let (reporter, responder) = (WorkerId::from_parts(1, [1; 10]), WorkerId::from_parts(1, [2; 10]));
        let ev = |n: u8, by: WorkerId, body: EventBody| Event {
            id: EventId::from_parts(n as u64, [n; 10]),
            author: by,
            device: DeviceId::from_parts(1, [n; 10]),
            hlc: Hlc::new(i64::from(n), 0),
            wall_ms: MON + i64::from(n) * MIN,
            clock_offset_ms: 0,
            entity: Entity::Issue(id),
            body,
        };
        let report = ev(
            1,
            reporter,
            EventBody::IssueReported(IssueReport {
                courtyard: CourtyardId::from_parts(1, [3; 10]),
                category: Category::Lift,
                source: IssueSource::Visit,
                description: "电梯停运".into(),
                contact: None,
                location: None,
                received_at_ms: None,
                external_ref: None,
            }),
        );
        let respond = |n, by| ev(n, by, EventBody::IssueResponded { note: String::new() });
        let cases = [
            ("unanswered", vec![report.clone()], reporter),
            ("answered by another worker", vec![report.clone(), respond(2, responder)], responder),
            ("a second response does not take over", vec![report.clone(), respond(2, responder), respond(3, reporter)], responder),
            (
                "resolving on the spot is the response",
                vec![report.clone(), ev(2, responder, EventBody::IssueResolved { note: "ok".into(), photo_sha256: None })],
                responder,
            ),
        ];
        for (name, events, want) in cases {
            assert_eq!(issue_worker(&crate::fold_issue(id, events)), Some(want), "{name}: the first responder, else the reporter");
        }
    }

    fn facts(received: i64, responded_after_min: Option<i64>, status: IssueStatus, sat: Option<Satisfaction>) -> RateFacts {
        RateFacts { received_at_ms: received, responded_at_ms: responded_after_min.map(|m| received + m * MIN), status, satisfaction: sat }
    }

    #[test]
    fn hand_computed_fixture_per_group_and_week() {
        use IssueStatus::*;
        use Satisfaction::*;
        let wk2 = MON + 7 * DAY_MS;
        let as_of = wk2 + 2 * DAY_MS + 10 * H;
        // Eight issues in two communities over two weeks.
        let issues: Vec<(String, RateFacts)> = vec![
            // A, week 1
            ("A".into(), facts(MON + 9 * H, Some(30), Closed, Some(Satisfied))), // on time, resolved, satisfied
            ("A".into(), facts(MON + 10 * H, Some(60), Closed, Some(BasicallySatisfied))), // exactly 1 h: on time
            ("A".into(), facts(MON + 11 * H, Some(61), InProgress, Some(Dissatisfied))), // late, reopened, dissatisfied
            ("A".into(), facts(MON + 12 * H, None, Reported, None)),             // never answered: counts as missed
            // A, week 2
            ("A".into(), facts(as_of - 30 * MIN, None, Reported, None)), // inside its first hour: not yet counted
            ("A".into(), facts(wk2 + H, Some(5), Resolved, None)),       // resolved, no callback yet
            // B, week 1
            ("B".into(), facts(MON + 2 * DAY_MS, Some(-10), Resolved, None)), // responded "before" receipt (skew): on time
            ("B".into(), facts(MON + 3 * DAY_MS, Some(120), Closed, Some(Dissatisfied))),
            // Outside [from, to): ignored.
            ("B".into(), facts(MON - H, Some(1), Closed, Some(Satisfied))),
        ];
        let rows = compute(&issues, Period::Week, MON, wk2 + 7 * DAY_MS, as_of);
        type Pair = (u64, u64);
        let got: Vec<(&str, i64, u64, Pair, Pair, Pair)> = rows
            .iter()
            .map(|r| {
                (
                    r.group.as_str(),
                    (r.period_start_ms - MON) / DAY_MS,
                    r.received,
                    (r.response.numerator, r.response.denominator),
                    (r.resolution.numerator, r.resolution.denominator),
                    (r.satisfaction.numerator, r.satisfaction.denominator),
                )
            })
            .collect();
        let want = vec![
            // group, week start (days after MON), received, response, resolution, satisfaction
            ("A", 0, 4, (2, 4), (2, 4), (2, 3)),
            ("A", 7, 2, (1, 1), (1, 2), (0, 0)),
            ("B", 0, 2, (1, 2), (2, 2), (0, 1)),
        ];
        assert_eq!(
            got, want,
            "response = on time ÷ received (pending first hour excluded); resolution = resolved|closed ÷ received; \
             satisfaction = (satisfied + basically) ÷ issues with a callback"
        );
        assert_eq!(rows[0].response.rate, Some(0.5), "the rate is numerator ÷ denominator");
        assert_eq!(rows[1].satisfaction.rate, None, "no callback: no satisfaction figure, not 0 %");
        let monthly = compute(&issues, Period::Month, MON, wk2 + 7 * DAY_MS, as_of);
        let a: Vec<_> = monthly.iter().map(|r| (r.group.as_str(), r.received, r.response.numerator, r.response.denominator)).collect();
        assert_eq!(a, vec![("A", 6, 3, 5), ("B", 2, 1, 2)], "a month sums its weeks: both weeks lie in March 2025");
    }
}
