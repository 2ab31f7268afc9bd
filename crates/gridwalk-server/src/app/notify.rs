//! "Something new for you": the long-poll a tablet holds open so a dispatched order shows on it
//! within seconds instead of at its next periodic pull.
//!
//! One feed task reads what each commit stored (one query per commit, not one per waiting
//! device) into a short in-memory ring, and bumps a watch channel. Each waiting device is a
//! parked future on that channel, not a thread: on a bump it checks the ring's new entries
//! against its own scope in memory and answers as soon as one is for it. A device that fell
//! behind the ring (it only holds the newest [`RING`] changes) checks the database once.

use super::{Action, AppState, Principal};
use crate::error::Result;
pub use crate::model::Change;
use crate::model::Scope;
use crate::store::{Reader, Storage};
use gridwalk_domain::DeviceId;
use gridwalk_proto::NotifyCount;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Changes kept in memory for waiting devices.
pub const RING: usize = 4096;
/// The longest a wait may be held open, in seconds.
pub const MAX_WAIT_S: u64 = 60;
/// How often the feed looks for changes when no commit pokes it (a commit by the CLI).
const FEED_IDLE: Duration = Duration::from_secs(1);

/// The answer to a wait.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WaitResponse {
    /// Something in the caller's scope was stored after the cursor: pull now.
    pub news: bool,
    /// The newest sequence the server held when it answered.
    pub latest_seq: u64,
}

/// The feed: the ring of recent changes, the watch waiting devices park on, and the poke
/// writes give it.
pub struct Feed {
    ring: Mutex<VecDeque<Change>>,
    latest: watch::Sender<u64>,
    poke: Notify,
    closing: watch::Sender<bool>,
}

impl Feed {
    pub fn new(latest: u64) -> Feed {
        Feed {
            ring: Mutex::new(VecDeque::with_capacity(RING)),
            latest: watch::channel(latest).0,
            poke: Notify::new(),
            closing: watch::channel(false).0,
        }
    }

    /// A write committed: look for its changes now.
    pub fn poke(&self) {
        self.poke.notify_one();
    }

    /// Answer every wait at once (the server is shutting down).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    fn publish(&self, changes: Vec<Change>) {
        let Some(last) = changes.last().map(|c| c.seq) else { return };
        {
            let mut ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
            for c in changes {
                if ring.len() == RING {
                    ring.pop_front();
                }
                ring.push_back(c);
            }
        }
        self.latest.send_replace(last);
    }

    /// Whether the ring answers for everything after `after`: `Some(found)`, or `None` when it
    /// no longer holds all of it.
    fn scan(&self, scope: &Scope, own_device: DeviceId, after: u64) -> Option<bool> {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        match ring.front() {
            Some(first) if first.seq > after + 1 => None,
            _ => Some(ring.iter().rev().take_while(|c| c.seq > after).any(|c| c.concerns(scope, own_device))),
        }
    }

    /// Run the feed until the process ends: on each poke (or every [`FEED_IDLE`]) read what was
    /// stored since the last look and publish it.
    pub async fn run(self: Arc<Self>, storage: Storage) {
        let mut last = *self.latest.borrow();
        loop {
            let _ = tokio::time::timeout(FEED_IDLE, self.poke.notified()).await;
            let after = last;
            match storage.read(move |r| r.changes_after(after, RING as u64)).await {
                Ok(changes) => {
                    if let Some(c) = changes.last() {
                        last = c.seq;
                    }
                    self.publish(changes);
                }
                Err(e) => tracing::error!(error = %e, "the change feed could not read"),
            }
        }
    }
}

impl AppState {
    /// Hold until something in the caller's scope is stored after `after`, or `timeout_s`
    /// (at most [`MAX_WAIT_S`]) passes, or the server shuts down.
    pub async fn wait_for_news(&self, who: &Principal, after: u64, timeout_s: u64) -> Result<WaitResponse> {
        let grant = self.authorize(who, Action::Pull).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout_s.min(MAX_WAIT_S));
        let (news, latest_seq) = self.wait_in_scope(&grant.scope, who.device, after, deadline, |_| Ok(true)).await?;
        Ok(WaitResponse { news, latest_seq })
    }

    /// The locked tablet's question, asked with its notify-only token: how many new orders
    /// (and urges) for me since `after`? Held like [`AppState::wait_for_news`] until the answer
    /// is not 0. It answers a number and nothing else.
    pub async fn notify_count(&self, token: &str, after: u64, timeout_s: u64) -> Result<NotifyCount> {
        let who = self.authenticate_as(token, super::auth::TokenKind::NotifyOnly).await?;
        let grant = self.authorize(&who, Action::Pull).await?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout_s.min(MAX_WAIT_S));
        let worker = who.worker.id;
        let (_, latest_seq) =
            self.wait_in_scope(&grant.scope, who.device, after, deadline, move |r| Ok(r.news_for_worker(worker, after)? > 0)).await?;
        let new = self.storage().read(move |r| r.news_for_worker(worker, after)).await?;
        Ok(NotifyCount { new: u32::try_from(new).unwrap_or(u32::MAX), latest_seq })
    }

    /// Wait until `wanted` holds of the stored events after `after`, re-asking the database
    /// only when a change lands in `scope` (so thousands of waiting devices cost one query per
    /// change that concerns them, not one per commit each). Returns `(wanted, latest seq)`.
    async fn wait_in_scope(
        &self,
        scope: &Scope,
        device: DeviceId,
        after: u64,
        deadline: tokio::time::Instant,
        wanted: impl Fn(&dyn Reader) -> Result<bool> + Clone + Send + 'static,
    ) -> Result<(bool, u64)> {
        let feed = self.feed();
        let mut latest = feed.latest.subscribe();
        let mut closing = feed.closing.subscribe();
        // First the database, once: the device may be behind by more than the ring holds.
        let ask = |s: Scope| {
            let wanted = wanted.clone();
            self.storage().read(move |r| Ok(!r.pull_page(&s, device, after, 1)?.is_empty() && wanted(r)?))
        };
        let mut seen = after.max(*latest.borrow_and_update());
        if ask(scope.clone()).await? {
            return Ok((true, seen));
        }
        loop {
            tokio::select! {
                changed = latest.changed() => if changed.is_err() { break },
                _ = closing.changed() => break,
                _ = tokio::time::sleep_until(deadline) => break,
            }
            let now = *latest.borrow_and_update();
            // In memory first; the database only when the ring says "maybe" or fell behind.
            let maybe = feed.scan(scope, device, seen).unwrap_or(true);
            if maybe && ask(scope.clone()).await? {
                return Ok((true, now));
            }
            seen = now;
        }
        let latest_seq = *latest.borrow();
        Ok((false, latest_seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Place;
    use gridwalk_domain::{CommunityId, CourtyardId, SubdistrictId};

    fn place(n: u8) -> Place {
        Place {
            courtyard: CourtyardId::from_parts(1, [n; 10]),
            community: CommunityId::from_parts(1, [n; 10]),
            subdistrict: SubdistrictId::from_parts(1, [n; 10]),
        }
    }

    #[test]
    fn a_change_concerns_the_scope_that_holds_it_or_the_department_it_is_whistled_to() {
        let me = DeviceId::from_parts(1, [1; 10]);
        let other = DeviceId::from_parts(1, [2; 10]);
        let mine = Scope { courtyards: [place(1).courtyard].into(), ..Default::default() };
        let dept = Scope { departments: ["区城管委".to_owned()].into(), ..Default::default() };
        let c = Change { seq: 5, device: other, place: place(1), targets: vec!["区城管委".into()] };
        assert!(c.concerns(&mine, me), "a change at my courtyard is news for me");
        assert!(!c.concerns(&mine, other), "my own device's change is not news for it");
        assert!(c.concerns(&dept, me), "a change on an issue whistled to my department is news");
        let far = Change { place: place(2), targets: vec![], ..c };
        assert!(!far.concerns(&mine, me) && !far.concerns(&dept, me), "a change elsewhere is not");
    }

    #[test]
    fn the_ring_answers_only_for_what_it_still_holds() {
        let feed = Feed::new(0);
        let other = DeviceId::from_parts(1, [2; 10]);
        let scope = Scope { courtyards: [place(1).courtyard].into(), ..Default::default() };
        feed.publish((1..=RING as u64 + 10).map(|seq| Change { seq, device: other, place: place(2), targets: vec![] }).collect());
        assert_eq!(feed.scan(&scope, DeviceId::from_parts(1, [1; 10]), 3), None, "fell behind the ring: ask the database");
        assert_eq!(feed.scan(&scope, DeviceId::from_parts(1, [1; 10]), RING as u64), Some(false), "nothing for this scope");
        feed.publish(vec![Change { seq: RING as u64 + 11, device: other, place: place(1), targets: vec![] }]);
        assert_eq!(feed.scan(&scope, DeviceId::from_parts(1, [1; 10]), RING as u64 + 10), Some(true), "the new change is news");
    }
}
