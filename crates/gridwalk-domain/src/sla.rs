//! SLA arithmetic on clock-corrected times. `now_ms` is always passed in.

use crate::fold::IssueState;
use serde::{Deserialize, Serialize};

/// How long before the deadline an issue counts as "due soon" by default.
pub const DEFAULT_DUE_SOON_MS: i64 = 15 * 60 * 1000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseSla {
    /// Not yet responded, more than the due-soon window left.
    Pending,
    /// Not yet responded, inside the due-soon window.
    DueSoon,
    /// Not responded and past the deadline.
    Overdue,
    /// Responded within the hour.
    Met,
    /// Responded, but late.
    Missed,
}

pub fn response_sla(s: &IssueState, now_ms: i64, due_soon_ms: i64) -> Option<ResponseSla> {
    let due = s.response_due_ms?;
    Some(match s.responded_at_ms {
        Some(at) if at <= due => ResponseSla::Met,
        Some(_) => ResponseSla::Missed,
        None if now_ms > due => ResponseSla::Overdue,
        None if now_ms > due.saturating_sub(due_soon_ms) => ResponseSla::DueSoon,
        None => ResponseSla::Pending,
    })
}

/// When the system steps in on its own. Configurable; the defaults follow the hotline's rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EscalationRules {
    /// Not responded this long after the deadline → alert the supervisor (0 = at the deadline).
    pub alert_after_deadline_ms: i64,
    /// Not resolved this long after receipt → whistle at the next level; each further period
    /// without resolution goes one level higher.
    pub whistle_after_ms: i64,
}

impl Default for EscalationRules {
    fn default() -> Self {
        EscalationRules { alert_after_deadline_ms: 0, whistle_after_ms: 3 * 24 * 3_600_000 }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Escalation {
    /// The 1-hour response deadline passed with no response.
    AlertSupervisor,
    /// Unresolved too long: whistle at this level.
    WhistleNext { level: crate::vocab::WhistleLevel },
}

/// What escalations are due for an issue at `now_ms` (corrected clock). Pure: the server runs
/// it over open issues and records what it does, so each escalation happens once.
pub fn escalations(s: &IssueState, now_ms: i64, rules: &EscalationRules) -> Vec<Escalation> {
    use crate::vocab::{IssueStatus, WhistleLevel};
    let mut out = Vec::new();
    let (Some(received), Some(due)) = (s.received_at_ms, s.response_due_ms) else { return out };
    if s.responded_at_ms.is_none()
        && matches!(s.status, IssueStatus::Reported | IssueStatus::InProgress)
        && now_ms > due.saturating_add(rules.alert_after_deadline_ms)
    {
        out.push(Escalation::AlertSupervisor);
    }
    // An approved extension (延期) holds the whistle until it runs out.
    let extended = s.extended_until_ms().is_some_and(|until| now_ms <= until);
    if matches!(s.status, IssueStatus::Reported | IssueStatus::Responded | IssueStatus::InProgress)
        && rules.whistle_after_ms > 0
        && !extended
    {
        // Saturating: the stored times are bounded at receipt, but a view stored before those
        // bounds may still hold anything.
        let periods = now_ms.saturating_sub(received) / rules.whistle_after_ms;
        let blown = s.whistles.iter().map(|w| w.level).collect::<std::collections::BTreeSet<_>>().len() as i64;
        if periods > blown {
            let next = match s.whistle_level() {
                None => Some(WhistleLevel::PartyBranch),
                Some(l) => l.next(),
            };
            if let Some(level) = next {
                out.push(Escalation::WhistleNext { level });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Entity, Event, EventBody};
    use crate::hlc::Hlc;
    use crate::ids::*;
    use crate::model::IssueReport;
    use crate::vocab::*;

    const H: i64 = 3_600_000;

    fn ev(n: u8, wall: i64, offset: i64, body: EventBody) -> Event {
        Event {
            id: EventId::from_parts(n as u64, [n; 10]),
            author: WorkerId::from_parts(1, [1; 10]),
            device: DeviceId::from_parts(1, [2; 10]),
            hlc: Hlc::new(n as i64, 0),
            wall_ms: wall,
            clock_offset_ms: offset,
            entity: Entity::Issue(IssueId::from_parts(1, [9; 10])),
            body,
        }
    }

    fn hotline(received: i64) -> EventBody {
        EventBody::IssueReported(IssueReport {
            courtyard: CourtyardId::from_parts(1, [3; 10]),
            category: Category::Noise,
            source: IssueSource::Hotline,
            description: "噪声扰民".into(),
            contact: None,
            location: None,
            received_at_ms: Some(received),
            external_ref: Some("12345-1".into()),
        })
    }

    #[test]
    fn response_sla_under_skewed_clocks() {
        let t0 = 1_000 * H;
        // (device skew, minutes after receipt the worker responds, expected SLA)
        let cases = [
            (2 * H, 30, ResponseSla::Met),
            (-2 * H, 30, ResponseSla::Met),
            (2 * H, 70, ResponseSla::Missed),
            (-2 * H, 70, ResponseSla::Missed),
            (0, 59, ResponseSla::Met),
        ];
        for (skew, minutes, want) in cases {
            let real = t0 + minutes * 60_000;
            // The tablet's clock reads real + skew; its last sync measured offset = −skew.
            let respond = ev(2, real + skew, -skew, EventBody::IssueResponded { note: String::new() });
            let s = crate::fold_issue(IssueId::from_parts(1, [9; 10]), vec![ev(1, t0, 0, hotline(t0)), respond]);
            assert_eq!(
                response_sla(&s, real, DEFAULT_DUE_SOON_MS),
                Some(want),
                "skew {skew} ms, respond after {minutes} min: SLA uses corrected time"
            );
        }
    }

    #[test]
    fn due_soon_and_overdue() {
        let t0 = 1_000 * H;
        let s = crate::fold_issue(IssueId::from_parts(1, [9; 10]), vec![ev(1, t0, 0, hotline(t0))]);
        let cases =
            [(t0 + 10 * 60_000, ResponseSla::Pending), (t0 + 50 * 60_000, ResponseSla::DueSoon), (t0 + 61 * 60_000, ResponseSla::Overdue)];
        for (now, want) in cases {
            assert_eq!(response_sla(&s, now, DEFAULT_DUE_SOON_MS), Some(want), "at {} min", (now - t0) / 60_000);
        }
    }

    #[test]
    fn escalation_case_table() {
        let t0 = 1_000 * H;
        let rules = EscalationRules { alert_after_deadline_ms: 0, whistle_after_ms: 24 * H };
        let report = ev(1, t0, 0, hotline(t0));
        let responded = ev(2, t0 + 10 * 60_000, 0, EventBody::IssueResponded { note: String::new() });
        let whistle =
            ev(3, t0 + 25 * H, 0, EventBody::Whistled { level: WhistleLevel::PartyBranch, target: "党员".into(), note: String::new() });
        let resolved = ev(4, t0 + 26 * H, 0, EventBody::IssueResolved { note: "ok".into(), photo_sha256: None });
        let id = IssueId::from_parts(1, [9; 10]);
        let cases: Vec<(&str, Vec<Event>, i64, Vec<Escalation>)> = vec![
            ("fresh", vec![report.clone()], t0 + 30 * 60_000, vec![]),
            ("no response after the hour", vec![report.clone()], t0 + 61 * 60_000, vec![Escalation::AlertSupervisor]),
            ("responded in time", vec![report.clone(), responded.clone()], t0 + 2 * H, vec![]),
            (
                "unresolved a day",
                vec![report.clone(), responded.clone()],
                t0 + 25 * H,
                vec![Escalation::WhistleNext { level: WhistleLevel::PartyBranch }],
            ),
            ("already whistled once", vec![report.clone(), responded.clone(), whistle.clone()], t0 + 30 * H, vec![]),
            (
                "two days: next level",
                vec![report.clone(), responded.clone(), whistle.clone()],
                t0 + 49 * H,
                vec![Escalation::WhistleNext { level: WhistleLevel::Community }],
            ),
            ("resolved stops escalation", vec![report.clone(), responded.clone(), resolved.clone()], t0 + 100 * H, vec![]),
        ];
        for (name, events, now, want) in cases {
            assert_eq!(escalations(&crate::fold_issue(id, events), now, &rules), want, "case {name}");
        }
    }
}
