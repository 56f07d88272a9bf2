//! HeartbeatSet against the common pattern (a hash map of last-heartbeat times scanned
//! on every check), over 10 s of simulated time at 10k, 100k and 1M connections, checked
//! every 10 ms and every 1 s. Criterion times the checks (the timer side, which is what
//! differs); one extra pass per case writes event CPU, expirations and heap bytes to
//! `target/criterion/set-extra.json`. `python3 benches/report.py` prints the ratios,
//! writes the plot and BENCHMARKS.md's tables.
//!
//! Workload A, clients that heartbeat: every 30 s; the server closes a client
//! after 70 s of silence; 1 % of clients went silent and expire in the window.
//! Workload B, server pings: the server pings a connection quiet for 20 s and the peer
//! answers at once; half the connections' deadlines expire in the window.
//! Workload D, peers that never answer: the server pings every 30 s (pong timeout 10 s,
//! close timeout 10 s); connections opened over the 100 s before the window, none ever
//! answers, so the window holds pings, closes and forced closes. Both sides run from the
//! first open; only the window's checks are timed.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use keepalive::{Action, Config, Duration, Event, HeartbeatSet, Instant, PingPolicy};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::time::Instant as Wall;

#[path = "support/counting.rs"]
mod counting;
use counting::LIVE;

const T0: u64 = 100_000; // ms: the window starts here
const WINDOW: u64 = 10_000; // ms of simulated time

#[derive(Copy, Clone, Debug, PartialEq)]
enum Workload {
    ClientHeartbeats,
    ServerPings,
    NeverAnswer,
}

/// Workload D: how long before the window the first connection opened.
const OPENED_OVER: u64 = 100_000;

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::ClientHeartbeats => "A_client_heartbeats",
            Workload::ServerPings => "B_server_pings",
            Workload::NeverAnswer => "D_never_answer",
        }
    }
    fn config(self) -> Config {
        let s = Duration::from_secs;
        match self {
            Workload::ClientHeartbeats => Config::server()
                .ping_policy(PingPolicy::Never)
                .idle_timeout(s(70)),
            Workload::ServerPings => Config::server().ping_interval(s(20)).pong_timeout(s(20)),
            Workload::NeverAnswer => Config::server()
                .ping_interval(s(30))
                .pong_timeout(s(10))
                .close_timeout(s(10))
                .spread_pings(false),
        }
        .seed(1)
        .build()
        .unwrap()
    }
    /// Each connection's last inbound time (ms) when the window opens, in time order.
    fn starts(self, n: u64) -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = (0..n)
            .map(|k| {
                let spread = (k * 7_919) % n; // a fixed shuffle of the keys over time
                let t = match self {
                    // 1 % silent since 60–70 s before T0; the rest heard 0–30 s ago.
                    Workload::ClientHeartbeats if k % 100 == 0 => T0 - 70_000 + spread * 10_000 / n,
                    Workload::ClientHeartbeats => T0 - 30_000 + spread * 30_000 / n,
                    Workload::ServerPings => T0 - 20_000 + spread * 20_000 / n,
                    // Opened evenly over the 100 s before the window.
                    Workload::NeverAnswer => T0 - OPENED_OVER + spread * OPENED_OVER / n,
                };
                (t, k)
            })
            .collect();
        v.sort_unstable();
        v
    }
    /// Heartbeats arriving in the window (workload A): healthy clients, 30 s after the last.
    fn events(self, starts: &[(u64, u64)]) -> Vec<(u64, u64)> {
        let mut v: Vec<(u64, u64)> = match self {
            Workload::ClientHeartbeats => starts
                .iter()
                .filter(|(_, k)| k % 100 != 0)
                .map(|&(t, k)| (t + 30_000, k))
                .filter(|(t, _)| *t < T0 + WINDOW)
                .collect(),
            Workload::ServerPings | Workload::NeverAnswer => Vec::new(),
        };
        v.sort_unstable();
        v
    }
}

#[derive(Default, Debug)]
struct Run {
    checks: std::time::Duration,
    events: std::time::Duration,
    expired: u64,
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

fn run_set(w: Workload, starts: &[(u64, u64)], events: &[(u64, u64)], step: u64) -> Run {
    if w == Workload::NeverAnswer {
        return run_set_unanswered(w, starts, step);
    }
    let mut set = HeartbeatSet::with_capacity(w.config(), starts.len());
    for &(t, k) in starts {
        set.insert(k, at(t)).unwrap();
    }
    let mut r = Run::default();
    let mut e = 0;
    let mut now = T0;
    while now < T0 + WINDOW {
        now += step;
        let t = Wall::now();
        while e < events.len() && events[e].0 <= now {
            let _ = set
                .handle(at(events[e].0), &events[e].1, Event::PingReceived)
                .unwrap();
            e += 1;
        }
        r.events += t.elapsed();
        let t = Wall::now();
        let mut pongs = Vec::new();
        while let Some((k, a)) = set.poll(at(now)) {
            r.expired += 1;
            match a {
                Action::SendPing(_) => pongs.push(k),
                Action::Close(_) => {
                    set.remove(&k);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        r.checks += t.elapsed();
        let t = Wall::now();
        for k in pongs {
            let _ = set.handle(at(now), &k, Event::PongReceived(None)).unwrap();
        }
        r.events += t.elapsed();
    }
    black_box(&set);
    r
}

/// Workload D through the set: each connection is taken in when it opens, the set is
/// checked every `step` from the first open, and what the checks drain is carried out
/// (pings sent, closes begun, forced closes removed); only the window is timed.
fn run_set_unanswered(w: Workload, opens: &[(u64, u64)], step: u64) -> Run {
    let mut set = HeartbeatSet::with_capacity(w.config(), opens.len());
    let mut r = Run::default();
    let mut o = 0;
    let mut now = T0 - OPENED_OVER;
    while now < T0 + WINDOW {
        now += step;
        while o < opens.len() && opens[o].0 <= now {
            set.insert(opens[o].1, at(opens[o].0)).unwrap();
            o += 1;
        }
        let timed = now > T0;
        let t = Wall::now();
        let mut drained = 0;
        while let Some((k, a)) = set.poll(at(now)) {
            drained += 1;
            match a {
                Action::SendPing(_) | Action::Close(_) => {}
                Action::ForceClose => {
                    set.remove(&k);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        if timed {
            r.checks += t.elapsed();
            r.expired += drained;
        }
    }
    black_box(&set);
    r
}

/// Workload D through a map scanned on every check: the same rules by hand (a ping
/// after the interval of silence, a close a pong timeout later, a forced close a close
/// timeout after that).
fn run_naive_unanswered(w: Workload, opens: &[(u64, u64)], step: u64) -> Run {
    let cfg = w.config();
    let ms = |d: Duration| d.as_millis() as u64;
    let (interval, pong, close) = (
        ms(cfg.ping_interval()),
        ms(cfg.pong_timeout()),
        ms(cfg.close_timeout()),
    );
    #[derive(Clone, Copy)]
    enum Stage {
        Quiet { since: u64 },
        Pinged { at: u64 },
        Closing { at: u64 },
    }
    let mut map: HashMap<u64, Stage> = HashMap::with_capacity(opens.len());
    let mut r = Run::default();
    let mut o = 0;
    let mut now = T0 - OPENED_OVER;
    let mut gone = Vec::new();
    while now < T0 + WINDOW {
        // Before the window, a scan a second is enough to bring the map there (and
        // keeps the untimed part of the run short).
        now += if now < T0 { step.max(1_000) } else { step };
        while o < opens.len() && opens[o].0 <= now {
            map.insert(opens[o].1, Stage::Quiet { since: opens[o].0 });
            o += 1;
        }
        let timed = now > T0;
        let t = Wall::now();
        let mut drained = 0;
        for (k, stage) in map.iter_mut() {
            match *stage {
                Stage::Quiet { since } if now - since >= interval => {
                    *stage = Stage::Pinged { at: now };
                    drained += 1;
                }
                Stage::Pinged { at } if now - at >= pong => {
                    *stage = Stage::Closing { at: now };
                    drained += 1;
                }
                Stage::Closing { at } if now - at >= close => {
                    gone.push(*k);
                    drained += 1;
                }
                _ => {}
            }
        }
        for k in gone.drain(..) {
            map.remove(&k);
        }
        if timed {
            r.checks += t.elapsed();
            r.expired += drained;
        }
    }
    black_box(&map);
    r
}

/// The common pattern: last-heartbeat times in a map, every entry looked at on each check.
#[derive(Clone, Copy)]
struct Naive {
    last_in: u64,
    ping_at: Option<u64>,
}

fn run_naive(w: Workload, starts: &[(u64, u64)], events: &[(u64, u64)], step: u64) -> Run {
    if w == Workload::NeverAnswer {
        return run_naive_unanswered(w, starts, step);
    }
    let cfg = w.config();
    let (interval, pong, idle) = (
        cfg.ping_interval().as_millis() as u64,
        cfg.pong_timeout().as_millis() as u64,
        cfg.idle_timeout().map(|d| d.as_millis() as u64),
    );
    let mut map: HashMap<u64, Naive> = HashMap::with_capacity(starts.len());
    for &(t, k) in starts {
        map.insert(
            k,
            Naive {
                last_in: t,
                ping_at: None,
            },
        );
    }
    let mut r = Run::default();
    let mut e = 0;
    let mut now = T0;
    let mut closed = Vec::new();
    while now < T0 + WINDOW {
        now += step;
        let t = Wall::now();
        while e < events.len() && events[e].0 <= now {
            if let Some(c) = map.get_mut(&events[e].1) {
                c.last_in = events[e].0;
            }
            e += 1;
        }
        r.events += t.elapsed();
        let t = Wall::now();
        for (k, c) in map.iter_mut() {
            match (idle, c.ping_at) {
                (Some(idle), _) if now - c.last_in >= idle => closed.push(*k),
                (None, Some(p)) if now - p.max(c.last_in) >= pong => closed.push(*k),
                (None, None) if now - c.last_in >= interval => {
                    c.ping_at = Some(now);
                    r.expired += 1;
                    // The peer answers at once (as in run_set).
                    c.last_in = now;
                    c.ping_at = None;
                }
                _ => {}
            }
        }
        r.expired += closed.len() as u64;
        for k in closed.drain(..) {
            map.remove(&k);
        }
        r.checks += t.elapsed();
    }
    black_box(&map);
    r
}

/// Heap bytes per connection: the set for workload A's server (which never pings), the
/// set for workload D's (each connection pinged once, none closed yet), and the map.
fn heap_per_connection(n: u64) -> (f64, f64, f64) {
    let w = Workload::ClientHeartbeats;
    let starts = w.starts(n);
    let before = LIVE.load(Ordering::Relaxed);
    let mut set = HeartbeatSet::new(w.config());
    for &(t, k) in &starts {
        set.insert(k, at(t)).unwrap();
    }
    let set_bytes = LIVE.load(Ordering::Relaxed) - before;
    drop(set);
    // Opened evenly over 10 s and checked every 10 ms, as workload D: each pinged once
    // 30 s after its open, none closed yet.
    let before = LIVE.load(Ordering::Relaxed);
    let mut set = HeartbeatSet::new(Workload::NeverAnswer.config());
    let (mut pings, mut now) = (0, T0);
    for k in 0..n {
        let opened = T0 + k * 10_000 / n;
        while now + 10 <= opened {
            now += 10;
            while let Some((_, a)) = set.poll(at(now)) {
                assert!(matches!(a, Action::SendPing(_)), "{a:?}");
                pings += 1;
            }
        }
        set.insert(k, at(opened)).unwrap();
    }
    while let Some((_, a)) = set.poll(at(T0 + 39_999)) {
        assert!(matches!(a, Action::SendPing(_)), "{a:?}");
        pings += 1;
    }
    // (The last to open, in the window's last millisecond, are not due yet.)
    assert!(pings >= n * 999 / 1_000, "{pings} pinged");
    let pinging_bytes = LIVE.load(Ordering::Relaxed) - before;
    drop(set);
    let before = LIVE.load(Ordering::Relaxed);
    let mut map: HashMap<u64, u64> = HashMap::new();
    for &(t, k) in &starts {
        map.insert(k, t);
    }
    let map_bytes = LIVE.load(Ordering::Relaxed) - before;
    drop(map);
    let per = |b: usize| b as f64 / n as f64;
    (per(set_bytes), per(pinging_bytes), per(map_bytes))
}

fn sizes() -> Vec<u64> {
    match std::env::var("KEEPALIVE_BENCH_SIZES") {
        Ok(s) => s.split(',').filter_map(|x| x.trim().parse().ok()).collect(),
        Err(_) => vec![10_000, 100_000, 1_000_000],
    }
}

fn bench(c: &mut Criterion) {
    let mut extra = Vec::new();
    for w in [
        Workload::ClientHeartbeats,
        Workload::ServerPings,
        Workload::NeverAnswer,
    ] {
        let mut g = c.benchmark_group(w.name());
        g.sample_size(10)
            .warm_up_time(std::time::Duration::from_millis(500));
        for n in sizes() {
            let starts = w.starts(n);
            let events = w.events(&starts);
            for (label, step) in [("10ms", 10u64), ("1s", 1_000)] {
                for (imp, f) in [
                    ("set", run_set as fn(_, _, _, _) -> Run),
                    ("map_scan", run_naive),
                ] {
                    let id = BenchmarkId::new(format!("{imp}/{label}"), n);
                    g.bench_with_input(id, &n, |b, _| {
                        b.iter_custom(|iters| {
                            (0..iters)
                                .map(|_| f(w, &starts, &events, step).checks)
                                .sum()
                        });
                    });
                    // Best of 3: a single pass is at the mercy of the scheduler.
                    let r = (0..3)
                        .map(|_| f(w, &starts, &events, step))
                        .min_by_key(|r| r.events + r.checks)
                        .unwrap_or_default();
                    extra.push(format!(
                        "{{\"workload\":\"{}\",\"impl\":\"{imp}\",\"n\":{n},\"precision\":\"{label}\",\"expired\":{},\"event_ns\":{},\"check_ns\":{}}}",
                        w.name(),
                        r.expired,
                        r.events.as_nanos(),
                        r.checks.as_nanos()
                    ));
                }
            }
        }
        g.finish();
    }
    let n = *sizes().iter().max().unwrap_or(&1_000_000);
    let (set_b, pinging_b, map_b) = heap_per_connection(n);
    println!(
        "heap per connection at {n}: HeartbeatSet {set_b:.1} B (a server that pings: \
         {pinging_b:.1} B), HashMap<u64,u64> {map_b:.1} B"
    );
    let json = format!(
        "{{\"heap\":{{\"n\":{n},\"set_bytes_per_conn\":{set_b:.1},\"set_pinging_bytes_per_conn\":{pinging_b:.1},\"map_bytes_per_conn\":{map_b:.1}}},\"runs\":[{}]}}\n",
        extra.join(",")
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/criterion");
    let _ = std::fs::create_dir_all(&dir);
    std::fs::write(dir.join("set-extra.json"), json).expect("write set-extra.json");
}

criterion_group!(benches, bench);
criterion_main!(benches);
