//! A fault-injecting proxy for loopback tests. It sits between a tablet and the real server
//! and, request by request, passes, delays, drops, resets mid-response, truncates or
//! duplicates the server's answer. Faults are drawn from a seeded generator so a failing run
//! can be replayed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    Pass,
    /// Hold the answer back for a while, then pass it.
    Delay,
    /// Close the client's connection before anything reaches the server.
    Drop,
    /// Let the request reach the server, then reset the client mid-response.
    ResetMidResponse,
    /// Send only the first part of the answer, then close cleanly.
    Truncate,
    /// Send the answer twice on the same connection.
    Duplicate,
}

pub const ALL_FAULTS: [Fault; 6] = [Fault::Pass, Fault::Delay, Fault::Drop, Fault::ResetMidResponse, Fault::Truncate, Fault::Duplicate];

/// What the proxy did, per fault kind, for the test's report.
#[derive(Debug, Default)]
pub struct FaultCounts(pub Mutex<std::collections::HashMap<Fault, u64>>);

pub struct FaultProxy {
    pub addr: SocketAddr,
    pub counts: Arc<FaultCounts>,
    /// The proxy's own runtime: dropping the proxy stops it.
    _rt: tokio::runtime::Runtime,
}

impl FaultProxy {
    /// Start on 127.0.0.1:0 in front of `upstream`. `fault_percent` of requests get a fault
    /// other than `Pass`, chosen by a splitmix generator seeded with `seed`.
    pub fn start(upstream: SocketAddr, seed: u64, fault_percent: u64) -> std::io::Result<FaultProxy> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let counts = Arc::new(FaultCounts::default());
        let state = Arc::new(AtomicU64::new(seed));
        let c = counts.clone();
        rt.spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(handle(client, upstream, state.clone(), fault_percent, c.clone()));
            }
        });
        Ok(FaultProxy { addr, counts, _rt: rt })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn next(state: &AtomicU64) -> u64 {
    let mut z = state.fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::SeqCst).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Read one HTTP/1.1 request (head and Content-Length body). `None` when the client is done.
async fn read_request(client: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let len: usize = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    while buf.len() < head_end + len {
        let n = client.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    // One request per upstream connection: the server closes after answering, so the whole
    // answer is what arrives before EOF, and the client is told to reconnect too.
    let mut out = buf[..head_end - 2].to_vec();
    out.extend_from_slice(b"connection: close\r\n\r\n");
    out.extend_from_slice(&buf[head_end..head_end + len]);
    Some(out)
}

async fn handle(mut client: TcpStream, upstream: SocketAddr, state: Arc<AtomicU64>, fault_percent: u64, counts: Arc<FaultCounts>) {
    while let Some(request) = read_request(&mut client).await {
        let r = next(&state);
        let fault = if r % 100 < fault_percent { ALL_FAULTS[1 + (r / 100) as usize % (ALL_FAULTS.len() - 1)] } else { Fault::Pass };
        *counts.0.lock().unwrap().entry(fault).or_default() += 1;
        if fault == Fault::Drop {
            return; // the server never sees it; dropping the stream closes it
        }
        let Ok(mut server) = TcpStream::connect(upstream).await else { return };
        if server.write_all(&request).await.is_err() {
            return;
        }
        let mut answer = Vec::new();
        if server.read_to_end(&mut answer).await.is_err() {
            return;
        }
        match fault {
            Fault::Pass | Fault::Drop => {
                let _ = client.write_all(&answer).await;
            }
            Fault::Delay => {
                tokio::time::sleep(Duration::from_millis(50 + r % 400)).await;
                let _ = client.write_all(&answer).await;
            }
            Fault::Truncate => {
                let _ = client.write_all(&answer[..answer.len() / 2]).await;
                return;
            }
            Fault::ResetMidResponse => {
                let _ = client.write_all(&answer[..answer.len() / 2]).await;
                // A zero linger turns the close into a TCP reset, and never blocks on drop.
                #[allow(deprecated)]
                let _ = client.set_linger(Some(Duration::ZERO));
                return;
            }
            Fault::Duplicate => {
                let _ = client.write_all(&answer).await;
                let _ = client.write_all(&answer).await;
                return;
            }
        }
    }
}
