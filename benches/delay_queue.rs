//! HeartbeatSet against what a server author writes instead: tokio-util's `DelayQueue` of
//! idle deadlines beside a `HashMap` from connection to its queue key, both measured in
//! the same run on the same workload.
//!
//! The workload: a million connections whose clients send a message every 20 s on
//! average (each gap drawn from 0–40 s), a server that never pings and closes a client
//! after 70 s of silence; 1 % of the clients went silent 60–70 s before the window opens
//! and expire in it. Ten seconds of that, checked every 10 ms. Criterion times the
//! window (the messages and the checks; building the structures is outside); one extra
//! pass writes the heap bytes per connection of each to
//! `target/criterion/delay-queue-extra.json`, which `benches/report.py` reads.
//!
//! The `DelayQueue` runs on tokio's paused clock, advanced by the window's steps; each
//! message moves its key's deadline with `reset_at`, each check drains `poll_expired`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use keepalive::{Action, CloseReason, Config, Duration, Event, HeartbeatSet, Instant, PingPolicy};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Instant as Wall;
use tokio_util::time::{delay_queue, DelayQueue};

#[path = "support/counting.rs"]
mod counting;
use counting::LIVE;

const T0: u64 = 100_000; // ms: the window opens here
const WINDOW: u64 = 10_000; // ms of simulated time
const STEP: u64 = 10; // ms between checks
const IDLE: u64 = 70_000; // ms of silence before the server closes

fn config() -> Config {
    Config::server()
        .ping_policy(PingPolicy::Never)
        .idle_timeout(Duration::from_millis(IDLE))
        .seed(1)
        .build()
        .expect("a valid config")
}

/// A fixed pseudo-random sequence (SplitMix64), so both sides see the same workload.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct Workload {
    /// Each connection's last message (ms) when the window opens, in time order.
    starts: Vec<(u64, u64)>,
    /// The messages of the window, in time order.
    messages: Vec<(u64, u64)>,
}

fn workload(n: u64) -> Workload {
    let mut starts = Vec::with_capacity(n as usize);
    let mut messages = Vec::new();
    for k in 0..n {
        let r = mix(k);
        if k % 100 == 0 {
            // Silent since 60–70 s before the window: expires in it.
            starts.push((T0 - 70_000 + r % 10_000, k));
            continue;
        }
        let mut t = T0 - r % 20_000;
        starts.push((t, k));
        let mut j = 1;
        loop {
            t += mix(r ^ j) % 40_001; // a gap of 0–40 s: 20 s on average
            if t >= T0 + WINDOW {
                break;
            }
            if t > T0 {
                messages.push((t, k));
            }
            j += 1;
        }
    }
    starts.sort_unstable();
    messages.sort_unstable();
    Workload { starts, messages }
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// The set: each message is `DataReceived`, each check drains `poll` and removes whom it
/// closes. Returns the window's time and how many it closed.
fn run_set(w: &Workload) -> (std::time::Duration, u64) {
    let mut set = HeartbeatSet::new(config());
    for &(t, k) in &w.starts {
        set.insert(k, at(t)).expect("a new key");
    }
    let mut closed = 0;
    let mut m = 0;
    let start = Wall::now();
    let mut now = T0;
    while now < T0 + WINDOW {
        now += STEP;
        while m < w.messages.len() && w.messages[m].0 <= now {
            let (t, k) = w.messages[m];
            let _ = set
                .handle(at(t), &k, Event::DataReceived)
                .expect("a known key");
            m += 1;
        }
        while let Some((k, a)) = set.poll(at(now)) {
            assert_eq!(a, Action::Close(CloseReason::IdleTimeout));
            set.remove(&k);
            closed += 1;
        }
    }
    let took = start.elapsed();
    black_box(&set);
    (took, closed)
}

/// What an author writes instead: a `DelayQueue` of idle deadlines and a map from each
/// connection to its queue key.
struct Queue {
    queue: DelayQueue<u64>,
    keys: HashMap<u64, delay_queue::Key>,
    epoch: tokio::time::Instant,
}

impl Queue {
    fn new(epoch: tokio::time::Instant) -> Queue {
        Queue {
            queue: DelayQueue::new(),
            keys: HashMap::new(),
            epoch,
        }
    }
    fn deadline(&self, heard_ms: u64) -> tokio::time::Instant {
        self.epoch + std::time::Duration::from_millis(heard_ms + IDLE)
    }
    fn insert(&mut self, k: u64, heard_ms: u64) {
        let key = self.queue.insert_at(k, self.deadline(heard_ms));
        self.keys.insert(k, key);
    }
}

fn run_queue(w: &Workload) -> (std::time::Duration, u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let mut q = Queue::new(tokio::time::Instant::now());
        for &(t, k) in &w.starts {
            q.insert(k, t);
        }
        tokio::time::advance(std::time::Duration::from_millis(T0)).await;
        let mut cx = Context::from_waker(futures_util::task::noop_waker_ref());
        let mut closed = 0;
        let mut m = 0;
        let mut took = std::time::Duration::ZERO;
        let mut now = T0;
        while now < T0 + WINDOW {
            now += STEP;
            // The clock's own advance is left out: only the author's code is timed.
            tokio::time::advance(std::time::Duration::from_millis(STEP)).await;
            let start = Wall::now();
            while m < w.messages.len() && w.messages[m].0 <= now {
                let (t, k) = w.messages[m];
                let when = q.deadline(t);
                let key = q.keys.get(&k).expect("a known key");
                q.queue.reset_at(key, when);
                m += 1;
            }
            while let Poll::Ready(Some(expired)) = q.queue.poll_expired(&mut cx) {
                q.keys.remove(expired.get_ref());
                closed += 1;
            }
            took += start.elapsed();
        }
        black_box(&q.keys);
        (took, closed)
    })
}

/// Heap bytes per connection of a set under `config`, after the window's messages (as
/// pings, when `pings`: a budget to keep where they are policed).
fn set_heap_per_connection(w: &Workload, config: Config, pings: bool) -> f64 {
    let before = LIVE.load(Ordering::Relaxed);
    let mut set = HeartbeatSet::new(config);
    for &(t, k) in &w.starts {
        set.insert(k, at(t)).expect("a new key");
    }
    let event = if pings {
        Event::PingReceived
    } else {
        Event::DataReceived
    };
    for &(t, k) in &w.messages {
        let _ = set.handle(at(t), &k, event).expect("a known key");
    }
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    drop(set);
    bytes as f64 / w.starts.len() as f64
}

/// Heap bytes per connection of each, `n` connections inserted.
fn heap_per_connection(w: &Workload) -> (f64, f64) {
    let n = w.starts.len() as f64;
    let set_b = set_heap_per_connection(w, config(), false);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let queue_bytes = rt.block_on(async {
        let before = LIVE.load(Ordering::Relaxed);
        let mut q = Queue::new(tokio::time::Instant::now());
        for &(t, k) in &w.starts {
            q.insert(k, t);
        }
        LIVE.load(Ordering::Relaxed) - before
    });
    (set_b, queue_bytes as f64 / n)
}

fn sizes() -> Vec<u64> {
    match std::env::var("KEEPALIVE_BENCH_SIZES") {
        Ok(s) => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) => vec![1_000_000],
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("C_messages_vs_delay_queue");
    g.sample_size(10)
        .warm_up_time(std::time::Duration::from_millis(500));
    let mut heap = Vec::new();
    for n in sizes() {
        let w = workload(n);
        // Both close exactly the silent clients.
        let (_, by_set) = run_set(&w);
        let (_, by_queue) = run_queue(&w);
        assert_eq!(
            by_set, by_queue,
            "the set and the queue close the same clients"
        );
        for (imp, f) in [
            (
                "set",
                run_set as fn(&Workload) -> (std::time::Duration, u64),
            ),
            ("delay_queue", run_queue),
        ] {
            g.bench_with_input(BenchmarkId::new(imp, n), &n, |b, _| {
                b.iter_custom(|iters| (0..iters).map(|_| f(&w).0).sum());
            });
        }
        let (set_b, queue_b) = heap_per_connection(&w);
        // The same clients, heartbeating with pings: a server that polices them keeps
        // their budgets; one that pings them (the defaults) keeps its pings' state too.
        let policing_b = set_heap_per_connection(&w, config(), true);
        let pinging = Config::server().seed(1).build().expect("a valid config");
        let pinging_b = set_heap_per_connection(&w, pinging, true);
        println!(
            "heap per connection at {n}: HeartbeatSet {set_b:.1} B ({policing_b:.1} B when the \
             clients ping, {pinging_b:.1} B for a server that pings), DelayQueue + HashMap {queue_b:.1} B"
        );
        heap.push(format!(
            "{{\"n\":{n},\"messages\":{},\"closed\":{by_set},\"set_bytes_per_conn\":{set_b:.1},\"set_bytes_per_conn_policing\":{policing_b:.1},\"set_bytes_per_conn_pinging\":{pinging_b:.1},\"delay_queue_bytes_per_conn\":{queue_b:.1}}}",
            w.messages.len()
        ));
    }
    g.finish();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/criterion");
    let _ = std::fs::create_dir_all(&dir);
    std::fs::write(
        dir.join("delay-queue-extra.json"),
        format!("{{\"runs\":[{}]}}\n", heap.join(",")),
    )
    .expect("write delay-queue-extra.json");
}

criterion_group!(benches, bench);
criterion_main!(benches);
