//! A delaying TCP relay the test controls: a WAN-like link between the proxy
//! container and a share service container, for kernels without `sch_netem`.
//!
//! It listens on the gateway address of the test's own Docker network (the
//! host side of that bridge) and forwards to the share service. Every chunk is
//! held for half the configured round-trip delay plus jitter in each
//! direction, in order; with the configured probability a chunk is held an
//! extra 200 ms, which is what a lost segment costs TCP (its minimum
//! retransmission timeout). The TLS inside passes through untouched.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

/// The link's settings, changeable while it runs.
#[derive(Default)]
pub struct Link {
    /// Added round-trip delay (µs).
    pub rtt_us: AtomicU64,
    /// Jitter: the round trip varies uniformly by ± this (µs).
    pub jitter_us: AtomicU64,
    /// Chunks held an extra 200 ms, per million.
    pub stall_ppm: AtomicU64,
}

impl Link {
    /// Sets delay, jitter and loss-like stalls.
    pub fn set(&self, rtt: Duration, jitter: Duration, stall_percent: f64) {
        self.rtt_us.store(rtt.as_micros() as u64, Ordering::Relaxed);
        self.jitter_us.store(jitter.as_micros() as u64, Ordering::Relaxed);
        self.stall_ppm.store((stall_percent * 10_000.0) as u64, Ordering::Relaxed);
    }
}

/// A running relay; stops when dropped.
pub struct Relay {
    pub addr: SocketAddr,
    pub link: Arc<Link>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Relay {
    /// Listens on `bind` (port 0) and forwards every connection to `upstream`.
    pub async fn start(bind: &str, upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind((bind, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let link = Arc::new(Link::default());
        let l = link.clone();
        let task = tokio::spawn(async move {
            while let Ok((down, _)) = listener.accept().await {
                let l = l.clone();
                tokio::spawn(async move {
                    let Ok(up) = TcpStream::connect(upstream).await else { return };
                    let _ = (down.set_nodelay(true), up.set_nodelay(true));
                    let (dr, dw) = down.into_split();
                    let (ur, uw) = up.into_split();
                    tokio::join!(pump(dr, uw, l.clone()), pump(ur, dw, l));
                });
            }
        });
        Self { addr, link, task }
    }
}

/// xorshift64*: enough randomness for jitter, seeded per direction.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1;
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// One direction: read chunks, release each at its due time, in order.
async fn pump(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, link: Arc<Link>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut rng = Rng::new();
    let mut last_due = Instant::now();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let half = link.rtt_us.load(Ordering::Relaxed) / 2;
        let jitter = link.jitter_us.load(Ordering::Relaxed) / 2;
        let mut us = half;
        if jitter > 0 {
            us = (half + rng.next() % (2 * jitter + 1)).saturating_sub(jitter);
        }
        if rng.next() % 1_000_000 < link.stall_ppm.load(Ordering::Relaxed) {
            us += 200_000;
        }
        let due = (Instant::now() + Duration::from_micros(us)).max(last_due);
        last_due = due;
        if tx.send((due, buf[..n].to_vec())).is_err() {
            break;
        }
    }
    drop(tx);
    let _ = writer.await;
}
