//! A field-network link for loopback tests: a TCP proxy that gives the bytes passing through it
//! a bandwidth, a one-way delay with jitter and segment loss in each direction, and that can cut
//! every connection it carries.
//!
//! Why a proxy and not `tc netem` in a network namespace: this machine's kernel (and CI's, the
//! same image) has no netem qdisc. `tc qdisc add … netem` answers "Specified qdisc kind is
//! unknown", while `tbf` exists. So the link is emulated in user space, per TCP connection.
//!
//! What it models, per direction:
//! - **Bandwidth:** each read from the sender is a segment of at most [`SEGMENT`] bytes. It
//!   occupies the wire for `len × 8 / rate` seconds, one after another.
//! - **Delay and jitter:** a segment arrives `delay ± jitter` after it has left the wire. Order is
//!   kept, as TCP keeps it.
//! - **Handshake:** a new connection's first request byte leaves one round trip after the
//!   connect, as after a SYN and its SYN-ACK.
//! - **Loss:** a lost segment is sent again. It takes the wire a second time and arrives one
//!   retransmission timeout later (`max(200 ms, RTT)`, Linux's floor). Everything behind it waits,
//!   as TCP's in-order delivery makes it wait.
//! - **Queue:** at most [`queue_segments`] segments are in flight, so a sender is held back, as a
//!   full socket buffer holds it back.
//!
//! Left out: TCP's congestion window after a loss, and the TLS handshake. The loss model is
//! therefore gentler than a real one at the same rate.
//!
//! [`Link::cut`] closes every connection at once, and refuses new ones for a while: a tunnel, a
//! lift, a dead zone.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// Bytes per emulated segment: an Ethernet MSS.
pub const SEGMENT: usize = 1448;

/// One link's character.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Profile {
    pub name: &'static str,
    /// Bits per second, each direction.
    pub rate_bps: u64,
    /// One-way delay, each direction: the round trip is twice this.
    pub delay_ms: u64,
    /// Each segment's delay varies by up to this much either way.
    pub jitter_ms: u64,
    /// Segments lost, per thousand.
    pub loss_per_mille: u64,
}

impl Profile {
    pub fn rtt(&self) -> Duration {
        Duration::from_millis(2 * self.delay_ms)
    }

    /// How long the wire needs for `bytes` at this rate, without delay or loss.
    pub fn wire_time(&self, bytes: u64) -> Duration {
        Duration::from_secs_f64(bytes as f64 * 8.0 / self.rate_bps as f64)
    }

    fn rto(&self) -> Duration {
        self.rtt().max(Duration::from_millis(200))
    }
}

/// Good 4G: 10 Mbit/s, 40 ms.
pub const GOOD_4G: Profile = Profile { name: "good_4g", rate_bps: 10_000_000, delay_ms: 40, jitter_ms: 5, loss_per_mille: 0 };
/// Weak 4G: 1 Mbit/s, 150 ms, 1 % loss.
pub const WEAK_4G: Profile = Profile { name: "weak_4g", rate_bps: 1_000_000, delay_ms: 150, jitter_ms: 20, loss_per_mille: 10 };
/// 2G-like: 100 kbit/s, 400 ms, 3 % loss.
pub const EDGE_2G: Profile = Profile { name: "2g", rate_bps: 100_000, delay_ms: 400, jitter_ms: 50, loss_per_mille: 30 };

pub const PROFILES: [Profile; 3] = [GOOD_4G, WEAK_4G, EDGE_2G];

/// How many segments one direction holds in flight: twice the bandwidth-delay product, and at
/// least 32.
pub fn queue_segments(p: &Profile) -> usize {
    let bdp = p.rate_bps as f64 / 8.0 * (p.delay_ms as f64 / 1000.0) / SEGMENT as f64;
    ((2.0 * bdp).ceil() as usize).max(32)
}

/// What crossed the link.
#[derive(Debug, Default)]
pub struct LinkStats {
    /// Bytes from the client towards the server, delivered.
    pub up: AtomicU64,
    /// Bytes from the server towards the client, delivered.
    pub down: AtomicU64,
    pub connections: AtomicU64,
    pub cuts: AtomicU64,
    pub lost_segments: AtomicU64,
}

pub struct Link {
    pub addr: SocketAddr,
    pub profile: Profile,
    pub stats: Arc<LinkStats>,
    cut: watch::Sender<u64>,
    down_until: Arc<Mutex<Option<Instant>>>,
    /// The link's own runtime: dropping the link stops it and closes what it carries.
    rt: tokio::runtime::Runtime,
}

impl Link {
    /// Start on 127.0.0.1:0 in front of `upstream`. Jitter and loss are drawn from a splitmix
    /// generator seeded with `seed`, so a failing run can be replayed.
    pub fn start(upstream: SocketAddr, profile: Profile, seed: u64) -> std::io::Result<Link> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(LinkStats::default());
        let (cut, cut_rx) = watch::channel(0u64);
        let down_until: Arc<Mutex<Option<Instant>>> = Arc::default();
        let rng = Arc::new(AtomicU64::new(seed));
        let (s, d) = (stats.clone(), down_until.clone());
        rt.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let down = d.lock().unwrap().is_some_and(|until| Instant::now() < until);
                if down {
                    drop(client); // a dead zone: the connection goes nowhere
                    continue;
                }
                s.connections.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(carry(client, upstream, profile, rng.clone(), s.clone(), cut_rx.clone()));
            }
        });
        Ok(Link { addr, profile, stats, cut, down_until, rt })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Close every connection now, and refuse new ones for `down`.
    pub fn cut(&self, down: Duration) {
        *self.down_until.lock().unwrap() = Some(Instant::now() + down);
        self.stats.cuts.fetch_add(1, Ordering::Relaxed);
        self.cut.send_modify(|g| *g += 1);
    }

    /// Cut the link every `period`, each time for `down`, until the link is dropped.
    pub fn cut_every(&self, period: Duration, down: Duration) {
        let (cut, down_until, stats) = (self.cut.clone(), self.down_until.clone(), self.stats.clone());
        self.rt.spawn(async move {
            let mut tick = tokio::time::interval_at(Instant::now() + period, period);
            loop {
                tick.tick().await;
                *down_until.lock().unwrap() = Some(Instant::now() + down);
                stats.cuts.fetch_add(1, Ordering::Relaxed);
                cut.send_modify(|g| *g += 1);
            }
        });
    }

    /// Bytes delivered both ways so far.
    pub fn bytes(&self) -> u64 {
        self.stats.up.load(Ordering::Relaxed) + self.stats.down.load(Ordering::Relaxed)
    }
}

fn next(state: &AtomicU64) -> u64 {
    let mut z = state.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// One connection through the link, until either side closes or the link is cut.
async fn carry(
    client: TcpStream,
    upstream: SocketAddr,
    p: Profile,
    rng: Arc<AtomicU64>,
    stats: Arc<LinkStats>,
    mut cut: watch::Receiver<u64>,
) {
    cut.mark_unchanged();
    let accepted = Instant::now();
    let Ok(server) = TcpStream::connect(upstream).await else { return };
    let _ = (client.set_nodelay(true), server.set_nodelay(true));
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    let up = pump(cr, sw, p, accepted + p.rtt(), rng.clone(), stats.clone(), true);
    let down = pump(sr, cw, p, accepted, rng, stats, false);
    tokio::select! {
        _ = async { tokio::join!(up, down) } => {}
        // Dropping the pumps drops all four halves: both connections close mid-flight, and
        // whatever the link held is lost.
        _ = cut.changed() => {}
    }
}

/// Carry one direction: read segments, stamp each with its arrival time, deliver in order.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    p: Profile,
    first_departure: Instant,
    rng: Arc<AtomicU64>,
    stats: Arc<LinkStats>,
    upward: bool,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(queue_segments(&p));
    let losses = stats.clone();
    let reader = async move {
        let mut wire_free = first_departure;
        let mut last_arrival = first_departure;
        let mut buf = vec![0u8; SEGMENT];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let on_wire = p.wire_time(n as u64);
            let start = wire_free.max(Instant::now());
            wire_free = start + on_wire;
            let r = next(&rng);
            let jitter = if p.jitter_ms == 0 { 0 } else { (r % (2 * p.jitter_ms + 1)) as i64 - p.jitter_ms as i64 };
            let delay = Duration::from_millis((p.delay_ms as i64 + jitter).max(0) as u64);
            let mut arrival = wire_free + delay;
            if (r >> 32) % 1000 < p.loss_per_mille {
                // Sent again after a timeout: the wire carries it twice.
                losses.lost_segments.fetch_add(1, Ordering::Relaxed);
                wire_free += on_wire;
                arrival += p.rto() + on_wire;
            }
            arrival = arrival.max(last_arrival);
            last_arrival = arrival;
            if tx.send((arrival, buf[..n].to_vec())).await.is_err() {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
            let counter = if upward { &stats.up } else { &stats.down };
            counter.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
        // The sender closed its side: pass the close on, after the last byte.
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_holds_twice_the_bandwidth_delay_product_and_at_least_32() {
        // 10 Mbit/s × 40 ms = 50,000 bytes = 34.5 segments; twice is 70.
        assert_eq!(queue_segments(&GOOD_4G), 70);
        // 100 kbit/s × 400 ms = 5,000 bytes = 3.5 segments: the floor.
        assert_eq!(queue_segments(&EDGE_2G), 32);
    }

    #[test]
    fn wire_time_is_bits_over_rate() {
        assert_eq!(WEAK_4G.wire_time(125_000), Duration::from_secs(1), "1 Mbit at 1 Mbit/s takes a second");
        assert_eq!(EDGE_2G.rtt(), Duration::from_millis(800));
        assert_eq!(GOOD_4G.rto(), Duration::from_millis(200), "Linux's floor under a short round trip");
    }

    /// The emulator itself: 200 KB through the weak-4G link takes at least its wire time, and
    /// no more than twice it plus the delays.
    #[test]
    fn a_transfer_takes_the_wire_time_of_its_bytes() {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let sink = rt.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let upstream = sink.local_addr().unwrap();
        let got = rt.spawn(async move {
            let (mut s, _) = sink.accept().await.unwrap();
            let mut all = Vec::new();
            s.read_to_end(&mut all).await.unwrap();
            all.len()
        });
        let link = Link::start(upstream, WEAK_4G, 7).unwrap();
        let bytes = 200_000usize;
        let started = std::time::Instant::now();
        rt.block_on(async {
            let mut c = TcpStream::connect(link.addr).await.unwrap();
            c.write_all(&vec![7u8; bytes]).await.unwrap();
            c.shutdown().await.unwrap();
        });
        assert_eq!(rt.block_on(got).unwrap(), bytes, "every byte arrives");
        let took = started.elapsed();
        let wire = WEAK_4G.wire_time(bytes as u64);
        assert!(took >= wire, "the link is no faster than its rate: {took:?} < {wire:?}");
        assert!(took <= 2 * wire + Duration::from_secs(2), "the link is not far slower than its rate: {took:?}");
    }
}

/// One call a tablet made, as [`Recorded`] saw it.
#[derive(Clone, Debug)]
pub enum Call {
    /// A push of these device sequences, sent `at` and over after `took`; `ok` when it was
    /// answered.
    Push {
        seqs: Vec<u64>,
        ok: bool,
        at: std::time::Instant,
        took: Duration,
    },
    /// A photo chunk: bytes `offset..offset + len` of `sha`.
    Chunk {
        sha: String,
        offset: u64,
        len: u64,
        ok: bool,
    },
    Other {
        ok: bool,
    },
}

/// A transport that logs every call before passing it on, for rules about what went again.
pub struct Recorded<'a> {
    pub inner: &'a dyn gridwalk_core::sync::Transport,
    pub calls: Mutex<Vec<Call>>,
}

impl<'a> Recorded<'a> {
    pub fn new(inner: &'a dyn gridwalk_core::sync::Transport) -> Self {
        Recorded { inner, calls: Mutex::default() }
    }

    fn note<T, E>(&self, call: impl FnOnce(bool) -> Call, r: Result<T, E>) -> Result<T, E> {
        self.calls.lock().unwrap().push(call(r.is_ok()));
        r
    }

    /// The rule after a cut: a push or chunk that carries what an earlier call carried is the
    /// retry of the call just before it of its kind, which failed, and carries nothing more than
    /// it did. Answers what went again: (events, photo bytes).
    pub fn resent(&self) -> Result<(u64, u64), String> {
        use std::collections::{BTreeSet, HashMap};
        let calls = self.calls.lock().unwrap();
        let (mut sent, mut events) = (BTreeSet::new(), 0u64);
        let mut last_push: Option<(&Vec<u64>, bool)> = None;
        // Per photo: the byte ranges sent so far, and the last chunk (range, answered).
        type Sent = (Vec<(u64, u64)>, Option<(u64, u64, bool)>);
        let mut chunks: HashMap<&str, Sent> = HashMap::new();
        let mut bytes = 0u64;
        for (i, call) in calls.iter().enumerate() {
            match call {
                Call::Push { seqs, ok, .. } => {
                    let again: Vec<u64> = seqs.iter().copied().filter(|s| sent.contains(s)).collect();
                    if !again.is_empty() {
                        match last_push {
                            Some((prev, false)) if again.iter().all(|s| prev.contains(s)) => events += again.len() as u64,
                            _ => return Err(format!("call {i}: push re-sends {} events not in a failed push just before it", again.len())),
                        }
                    }
                    sent.extend(seqs.iter().copied());
                    last_push = Some((seqs, *ok));
                }
                Call::Chunk { sha, offset, len, ok } => {
                    let (ranges, prev) = chunks.entry(sha.as_str()).or_default();
                    let (lo, hi) = (*offset, offset + len);
                    let overlap: u64 = ranges.iter().map(|&(a, b)| b.min(hi).saturating_sub(a.max(lo))).sum();
                    if overlap > 0 {
                        match *prev {
                            Some((a, b, false)) if a <= lo && hi <= b => bytes += overlap,
                            _ => {
                                return Err(format!(
                                    "call {i}: chunk {lo}..{hi} of {sha} re-sends {overlap} bytes not in a failed chunk just before it"
                                ))
                            }
                        }
                    }
                    ranges.push((lo, hi));
                    *prev = Some((lo, hi, *ok));
                }
                Call::Other { .. } => {}
            }
        }
        Ok((events, bytes))
    }

    pub fn failures(&self) -> usize {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| matches!(c, Call::Push { ok: false, .. } | Call::Chunk { ok: false, .. } | Call::Other { ok: false }))
            .count()
    }
}

impl gridwalk_core::sync::Transport for Recorded<'_> {
    fn login(&self, r: &gridwalk_proto::LoginRequest) -> Result<gridwalk_proto::LoginResponse, gridwalk_core::sync::TransportError> {
        self.note(|ok| Call::Other { ok }, self.inner.login(r))
    }
    fn push(
        &self,
        token: &str,
        body: &gridwalk_core::sync::PushBody,
    ) -> Result<gridwalk_proto::PushResponse, gridwalk_core::sync::TransportError> {
        let req: gridwalk_proto::PushRequest = serde_json::from_str(&body.json).expect("the engine sends a push request");
        let seqs = req.events.iter().map(|e| e.seq).collect();
        let at = std::time::Instant::now();
        let answer = self.inner.push(token, body);
        let took = at.elapsed();
        self.note(|ok| Call::Push { seqs, ok, at, took }, answer)
    }
    fn pull(&self, token: &str, a: u64, l: u32, v: u64) -> Result<gridwalk_proto::PullResponse, gridwalk_core::sync::TransportError> {
        self.note(|ok| Call::Other { ok }, self.inner.pull(token, a, l, v))
    }
    fn pull_reporting(
        &self,
        token: &str,
        a: u64,
        l: u32,
        v: u64,
        report: &gridwalk_proto::console::DeviceReport,
    ) -> Result<gridwalk_proto::PullResponse, gridwalk_core::sync::TransportError> {
        self.note(|ok| Call::Other { ok }, self.inner.pull_reporting(token, a, l, v, report))
    }
    fn blob_status(&self, token: &str, sha: &str) -> Result<gridwalk_proto::BlobStatus, gridwalk_core::sync::TransportError> {
        self.note(|ok| Call::Other { ok }, self.inner.blob_status(token, sha))
    }
    fn blob_put(
        &self,
        token: &str,
        sha: &str,
        offset: u64,
        chunk: &[u8],
        last: bool,
    ) -> Result<gridwalk_proto::BlobStatus, gridwalk_core::sync::TransportError> {
        let call = |ok| Call::Chunk { sha: sha.to_owned(), offset, len: chunk.len() as u64, ok };
        self.note(call, self.inner.blob_put(token, sha, offset, chunk, last))
    }
    fn compresses_pushes(&self) -> Option<bool> {
        self.inner.compresses_pushes()
    }
    fn assume_compression(&self, yes: bool) {
        self.inner.assume_compression(yes)
    }
}
