//! Sync planning: pure functions, tested with case tables. The engine asks what to do next;
//! nothing here does IO or reads a clock.

/// What the engine knows when it picks the next step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanInput {
    /// The server refused our token: stop, keep everything.
    pub revoked: bool,
    /// Events in the outbox (after the acknowledged position) still to send.
    pub outbox: u64,
    /// Whether the last push made progress (a push that advances nothing must not spin).
    pub push_stalled: bool,
    /// Pulled to the end in this run?
    pub pulled_to_end: bool,
    /// Photos whose report is on the server but whose bytes are not.
    pub photos_pending: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Send the next batch of the outbox.
    Push,
    /// Fetch what is new in scope.
    Pull,
    /// Upload one pending photo (text first, so the 1-hour clock starts at once).
    UploadPhoto,
    /// Nothing more to do.
    Done,
    /// Stop: the device was revoked.
    StopRevoked,
}

/// Text first (push), then what others did (pull), then photos.
pub fn next_step(s: &PlanInput) -> Step {
    if s.revoked {
        Step::StopRevoked
    } else if s.outbox > 0 && !s.push_stalled {
        Step::Push
    } else if !s.pulled_to_end {
        Step::Pull
    } else if s.photos_pending > 0 {
        Step::UploadPhoto
    } else {
        Step::Done
    }
}

pub const MIN_BATCH: u32 = 10;
pub const MAX_BATCH: u32 = 1000;
pub const START_BATCH: u32 = 100;

/// How a push round went, for sizing the next batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchOutcome {
    Ok { elapsed_ms: u64 },
    Failed,
}

/// Adapt the batch size: grow while round trips are quick, shrink when they are slow or fail
/// (a flaky link drops big requests more often than small ones).
pub fn next_batch_size(current: u32, outcome: BatchOutcome) -> u32 {
    let next = match outcome {
        BatchOutcome::Ok { elapsed_ms } if elapsed_ms < 1_000 => current.saturating_mul(2),
        BatchOutcome::Ok { elapsed_ms } if elapsed_ms > 4_000 => current / 2,
        BatchOutcome::Ok { .. } => current,
        BatchOutcome::Failed => current / 2,
    };
    next.clamp(MIN_BATCH, MAX_BATCH)
}

/// Exponential backoff with jitter: base·2^attempt capped, then scaled into [½, 1) by `jitter`
/// (a number in [0, 1) the caller drew), so a district's tablets don't retry in lockstep.
pub fn backoff_ms(attempt: u32, base_ms: u64, cap_ms: u64, jitter: f64) -> u64 {
    let exp = base_ms.saturating_mul(1u64 << attempt.min(20)).min(cap_ms);
    let j = jitter.clamp(0.0, 0.999_999);
    ((exp as f64) * (0.5 + j / 2.0)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_step_case_table() {
        let base = PlanInput::default();
        let cases = [
            ("revoked wins", PlanInput { revoked: true, outbox: 5, ..base.clone() }, Step::StopRevoked),
            ("outbox first", PlanInput { outbox: 5, photos_pending: 3, ..base.clone() }, Step::Push),
            ("stalled push moves on to pull", PlanInput { outbox: 5, push_stalled: true, ..base.clone() }, Step::Pull),
            ("pull when outbox empty", PlanInput { ..base.clone() }, Step::Pull),
            ("photos after text and pull", PlanInput { pulled_to_end: true, photos_pending: 2, ..base.clone() }, Step::UploadPhoto),
            ("done", PlanInput { pulled_to_end: true, ..base.clone() }, Step::Done),
            ("stalled and pulled, no photos", PlanInput { outbox: 1, push_stalled: true, pulled_to_end: true, ..base.clone() }, Step::Done),
        ];
        for (name, input, want) in cases {
            assert_eq!(next_step(&input), want, "case {name}");
        }
    }

    #[test]
    fn batch_size_case_table() {
        let cases = [
            (100, BatchOutcome::Ok { elapsed_ms: 50 }, 200),
            (800, BatchOutcome::Ok { elapsed_ms: 50 }, MAX_BATCH),
            (100, BatchOutcome::Ok { elapsed_ms: 2_000 }, 100),
            (100, BatchOutcome::Ok { elapsed_ms: 9_000 }, 50),
            (100, BatchOutcome::Failed, 50),
            (12, BatchOutcome::Failed, MIN_BATCH),
        ];
        for (current, outcome, want) in cases {
            assert_eq!(next_batch_size(current, outcome), want, "batch after {outcome:?} from {current}");
        }
    }

    #[test]
    fn backoff_case_table() {
        let cases = [(0, 0.0, 100), (0, 0.999, 199), (3, 0.0, 800), (10, 0.0, 15_000), (40, 0.5, 22_500)];
        for (attempt, jitter, want) in cases {
            assert_eq!(backoff_ms(attempt, 200, 30_000, jitter), want, "backoff attempt {attempt} jitter {jitter}");
        }
    }
}
