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

/// Photo chunks: the smallest and largest sent, and the first of a sync.
pub const MIN_CHUNK: usize = 16 * 1024;
pub const MAX_CHUNK: usize = 1024 * 1024;
pub const START_CHUNK: usize = 64 * 1024;
/// How long one chunk should take on the wire. A cut costs at most the chunk in flight, so on
/// a 100 kbit/s link a chunk is about 25 KB, not the 256 KB that took 20 s there and could
/// never finish between two cuts of a weak signal.
pub const CHUNK_TARGET_MS: u64 = 2_000;

/// How a chunk went, for sizing the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkOutcome {
    Sent { bytes: usize, elapsed_ms: u64 },
    Failed,
}

/// The clock offset to keep after a measurement: `measured` when it differs from the kept one
/// by more than the measurement's own uncertainty (the server's clock was read somewhere in the
/// round trip, so the midpoint is off by up to half of it), else `None`: nothing is written,
/// and a sync with nothing new commits nothing for a millisecond of jitter. A slow drift is
/// still written once it adds up past the uncertainty, since the comparison is with the kept
/// value. A negative round trip (the device clock stepped back) is no evidence: nothing.
pub fn offset_to_keep(kept: i64, measured: i64, round_trip_ms: i64) -> Option<i64> {
    if round_trip_ms < 0 {
        return None;
    }
    (measured.abs_diff(kept) > (round_trip_ms as u64).div_ceil(2)).then_some(measured)
}

/// Size the next chunk to take about [`CHUNK_TARGET_MS`] at the throughput the last one saw,
/// growing at most twofold at a time, halving after a failure, within `[MIN_CHUNK, max]`.
pub fn next_chunk_size(current: usize, outcome: ChunkOutcome, max: usize) -> usize {
    let next = match outcome {
        ChunkOutcome::Sent { bytes, elapsed_ms } => {
            let fits = (bytes as u64).saturating_mul(CHUNK_TARGET_MS) / elapsed_ms.max(1);
            usize::try_from(fits).unwrap_or(usize::MAX).min(current.saturating_mul(2))
        }
        ChunkOutcome::Failed => current / 2,
    };
    next.clamp(MIN_CHUNK, max.max(MIN_CHUNK))
}

/// Exponential backoff with jitter: base·2^attempt capped, then scaled into [½, 1) by `jitter`
/// (a number in [0, 1) the caller drew), so a district's tablets don't retry in lockstep.
pub fn backoff_ms(attempt: u32, base_ms: u64, cap_ms: u64, jitter: f64) -> u64 {
    let exp = base_ms.saturating_mul(1u64 << attempt.min(20)).min(cap_ms);
    let j = jitter.clamp(0.0, 0.999_999);
    ((exp as f64) * (0.5 + j / 2.0)) as u64
}

/// Where the tablet stands with the server, as its store remembers it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Standing<'a> {
    /// The server's epoch when the tablet last heard from it (None: never, or an older server).
    pub epoch: Option<&'a str>,
    pub acked_seq: u64,
    pub pull_cursor: u64,
}

/// What one push or pull answer told of the server (None: the answer does not say; an older
/// server, or a push answer, which has no `max_seq`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerSays<'a> {
    pub epoch: Option<&'a str>,
    /// The highest contiguous sequence the server holds for this device.
    pub held_seq: Option<u64>,
    /// The highest global sequence the server holds.
    pub max_seq: Option<u64>,
}

/// Where the tablet should stand after that answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Realign {
    pub acked_seq: u64,
    pub pull_cursor: u64,
    /// The epoch to remember, when it is not the one remembered.
    pub new_epoch: Option<String>,
    /// Ask the server again for every photo (it may have lost some with the rest).
    pub recheck_photos: bool,
}

impl Realign {
    /// Whether the tablet moved back: it has more to push or to pull than it thought.
    pub fn rewound(&self, before: &Standing<'_>) -> bool {
        self.acked_seq < before.acked_seq || self.pull_cursor < before.pull_cursor
    }
}

/// The epoch rule. A server restored from a backup has forgotten what it acknowledged after
/// the backup, and numbers new events with global sequences the tablets already pulled past.
/// It says so with a new epoch, its `held_seq` for the device and its `max_seq`:
///
/// - the acknowledged position never stays above what the server holds: it drops to
///   `held_seq`, so the outbox re-sends the rest (what the server still has comes back
///   `duplicate`, what it lost is stored again, once; the server would answer `gap` to
///   anything past `held_seq + 1` forever otherwise). It never moves *up* here: only a push
///   answer moves it up, record by record.
/// - on a new epoch, or a cursor past the server's newest sequence, the pull cursor goes
///   back to 0: every event in scope is pulled again and applied idempotently by event id.
/// - the first epoch a tablet sees (after an upgrade, or at enrolment) is adopted as it is: it
///   is no evidence of a restore.
pub fn realign(local: &Standing<'_>, server: &ServerSays<'_>) -> Realign {
    let epoch_changed = matches!((local.epoch, server.epoch), (Some(a), Some(b)) if a != b);
    let acked_seq = match server.held_seq {
        Some(held) if held < local.acked_seq => held,
        _ => local.acked_seq,
    };
    let cursor_past_server = server.max_seq.is_some_and(|max| local.pull_cursor > max);
    let pull_cursor = if epoch_changed || cursor_past_server { 0 } else { local.pull_cursor };
    let new_epoch = server.epoch.filter(|e| local.epoch != Some(*e)).map(str::to_owned);
    Realign { acked_seq, pull_cursor, new_epoch, recheck_photos: epoch_changed || acked_seq < local.acked_seq }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_to_keep_case_table() {
        let cases = [
            ("first measurement of a clock an hour off: kept", 0, 3_600_000, 80, Some(3_600_000)),
            ("jitter within half the round trip: nothing written", 1_000, 1_030, 80, None),
            ("exactly half the round trip: still within the uncertainty", 1_000, 960, 80, None),
            ("past half the round trip: written", 1_000, 959, 80, Some(959)),
            ("loopback, a millisecond of noise on a 1 ms round trip: nothing", 0, 1, 1, None),
            ("loopback, 2 ms off on a 1 ms round trip: written", 0, -2, 1, Some(-2)),
            ("a round trip measured negative (clock stepped back): nothing", 0, 50_000, -5, None),
        ];
        for (why, kept, measured, rtt, want) in cases {
            assert_eq!(offset_to_keep(kept, measured, rtt), want, "{why}");
        }
    }

    #[test]
    fn realign_case_table() {
        let at = |epoch, acked_seq, pull_cursor| Standing { epoch, acked_seq, pull_cursor };
        let says = |epoch, held_seq, max_seq| ServerSays { epoch, held_seq, max_seq };
        let to = |acked_seq, pull_cursor, new_epoch: Option<&str>, recheck_photos| Realign {
            acked_seq,
            pull_cursor,
            new_epoch: new_epoch.map(str::to_owned),
            recheck_photos,
        };
        let cases = [
            ("same epoch, in step: nothing moves", at(Some("a"), 10, 50), says(Some("a"), Some(10), Some(80)), to(10, 50, None, false)),
            (
                "server holds more than we know (a lost answer): no jump up, the push answer settles it",
                at(Some("a"), 10, 50),
                says(Some("a"), Some(12), None),
                to(10, 50, None, false),
            ),
            ("new epoch: back to held, pull from 0", at(Some("a"), 10, 50), says(Some("b"), Some(7), Some(40)), to(7, 0, Some("b"), true)),
            (
                "new epoch, server still holds all of ours: acked stays, pull from 0",
                at(Some("a"), 10, 50),
                says(Some("b"), Some(10), Some(60)),
                to(10, 0, Some("b"), true),
            ),
            (
                "new epoch on a push answer (no max_seq): both move",
                at(Some("a"), 10, 50),
                says(Some("b"), Some(3), None),
                to(3, 0, Some("b"), true),
            ),
            (
                "same epoch but held below acked (restored by hand): re-send",
                at(Some("a"), 10, 50),
                says(Some("a"), Some(4), Some(60)),
                to(4, 50, None, true),
            ),
            (
                "same epoch, cursor past the server's newest: pull from 0",
                at(Some("a"), 10, 50),
                says(Some("a"), Some(10), Some(30)),
                to(10, 0, None, false),
            ),
            (
                "first epoch seen is adopted, nothing reset",
                at(None, 10, 50),
                says(Some("a"), Some(10), Some(80)),
                to(10, 50, Some("a"), false),
            ),
            (
                "first epoch seen, but held below acked: re-send",
                at(None, 10, 50),
                says(Some("a"), Some(6), Some(80)),
                to(6, 50, Some("a"), true),
            ),
            (
                "older server (no epoch, no max): only held counts",
                at(Some("a"), 10, 50),
                says(None, Some(10), None),
                to(10, 50, None, false),
            ),
            ("older server that lost our events: re-send", at(None, 10, 50), says(None, Some(2), None), to(2, 50, None, true)),
            ("an answer that says nothing changes nothing", at(Some("a"), 10, 50), says(None, None, None), to(10, 50, None, false)),
            ("fresh tablet meets a server", at(None, 0, 0), says(Some("a"), Some(0), Some(0)), to(0, 0, Some("a"), false)),
        ];
        for (name, local, server, want) in cases {
            let got = realign(&local, &server);
            assert_eq!(got, want, "{name}");
            assert_eq!(got.rewound(&local), got.acked_seq < local.acked_seq || got.pull_cursor < local.pull_cursor, "{name}: rewound");
            assert!(got.acked_seq <= local.acked_seq, "{name}: realign never moves the acknowledged position up");
        }
    }

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
    fn chunk_size_case_table() {
        let cases = [
            // Loopback: a fast chunk doubles, up to the cap.
            (START_CHUNK, ChunkOutcome::Sent { bytes: START_CHUNK, elapsed_ms: 3 }, MAX_CHUNK, 2 * START_CHUNK),
            (MAX_CHUNK, ChunkOutcome::Sent { bytes: MAX_CHUNK, elapsed_ms: 3 }, MAX_CHUNK, MAX_CHUNK),
            // 2G: 64 KB took 6.4 s at 10 KB/s, so 2 s is 20 KB.
            (START_CHUNK, ChunkOutcome::Sent { bytes: 65_536, elapsed_ms: 6_400 }, MAX_CHUNK, 20_480),
            // Slower still: never under the floor.
            (MIN_CHUNK, ChunkOutcome::Sent { bytes: MIN_CHUNK, elapsed_ms: 60_000 }, MAX_CHUNK, MIN_CHUNK),
            (START_CHUNK, ChunkOutcome::Failed, MAX_CHUNK, START_CHUNK / 2),
            (MIN_CHUNK, ChunkOutcome::Failed, MAX_CHUNK, MIN_CHUNK),
            // A cap under the floor (a test's tiny chunks) still leaves the floor.
            (START_CHUNK, ChunkOutcome::Sent { bytes: 1, elapsed_ms: 1 }, 1024, MIN_CHUNK),
            // A zero elapsed time (a coarse clock) is taken as 1 ms, not a division by zero.
            (START_CHUNK, ChunkOutcome::Sent { bytes: START_CHUNK, elapsed_ms: 0 }, MAX_CHUNK, 2 * START_CHUNK),
        ];
        for (current, outcome, max, want) in cases {
            assert_eq!(next_chunk_size(current, outcome, max), want, "chunk after {outcome:?} from {current} (cap {max})");
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
