//! ns per `handle()` + `next_deadline()`, against one `std::time::Instant::now()` call in
//! the same run: the floor every adapter pays per event. Goal: at most 0.40×.
//! `python3 benches/report.py` prints the ratios.
//!
//! Two traces of a busy open connection. *Periodic*: a fixed eight-event pattern, which a
//! branch predictor learns. *Unpredictable*: the same kinds of event (runs of data in
//! each direction, bytes the peer took, the peer's pings, pongs, early ticks) drawn from a
//! seeded generator, as a real connection's traffic comes: the honest figure.

use criterion::{criterion_group, criterion_main, Criterion};
use keepalive::{Action, Config, Duration, Event, HeartbeatMachine, Instant};
use std::hint::black_box;

/// A steady mix: traffic both ways, the peer's pings, our pings answered, ticks. Times
/// are absolute offsets (ns) within one pass, so the loop measures the machine, not
/// `Instant + Duration` arithmetic.
fn trace() -> (Vec<(u64, Event)>, u64) {
    let pattern = [
        (3, Event::DataReceived),
        (1, Event::DataSent),
        (40, Event::Tick),
        (2, Event::PingReceived),
        (500, Event::Tick),
        (5, Event::PongReceived(None)),
        (7, Event::DataSent),
        (900, Event::Tick),
    ];
    let mut t = 0;
    let v = pattern
        .iter()
        .cycle()
        .take(1024)
        .map(|&(ms, e)| {
            t += ms * 1_000_000;
            (t, e)
        })
        .collect();
    (v, t)
}

/// SplitMix64: a seeded, repeatable generator.
fn mix(z: &mut u64) -> u64 {
    *z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut x = *z;
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Runs of data in each direction, bytes the peer took, the peer's pings, pongs without
/// a ping in flight and early ticks, in no pattern; 0 to 2 ms apart.
fn unpredictable_trace() -> (Vec<(u64, Event)>, u64) {
    let mut seed = 0x5eed_u64;
    let mut t = 0;
    let mut v = Vec::with_capacity(1024);
    while v.len() < 1024 {
        let r = mix(&mut seed);
        let event = match r % 100 {
            0..=34 => Event::DataReceived,
            35..=59 => Event::DataSent,
            60..=69 => Event::DataDelivered,
            70..=79 => Event::PingReceived,
            80..=89 => Event::Tick,
            _ => Event::PongReceived(None),
        };
        // A run of the same event: 1 to 4 of them.
        for _ in 0..=(r >> 32) % 4 {
            t += (mix(&mut seed) % 2_000) * 1_000;
            v.push((t, event));
        }
    }
    v.truncate(1024);
    (v, t)
}

fn bench(c: &mut Criterion) {
    let config = Config::client()
        .ping_interval(Duration::from_secs(1))
        .pong_timeout(Duration::from_secs(2))
        .seed(1)
        .build()
        .unwrap();
    // Steps through a trace forever, times always increasing.
    let stepper = |(trace, pass): (Vec<(u64, Event)>, u64)| {
        let (mut base, mut i) = (0u64, 0usize);
        move || {
            let (at, e) = trace[i & 1023];
            i += 1;
            if i & 1023 == 0 {
                base += pass;
            }
            (Instant::from_nanos(base + at), e)
        }
    };
    let open = || {
        let mut m = HeartbeatMachine::new(config, Instant::ZERO);
        let _ = m.handle(Instant::ZERO, Event::Connected);
        m
    };
    let mut g = c.benchmark_group("per_event");
    // One event: handle it, carry out what it says, ask for the deadline.
    let per_event = |b: &mut criterion::Bencher<'_>, trace| {
        let (mut m, mut next) = (open(), stepper(trace));
        b.iter(|| {
            let (now, e) = next();
            let mut sent = 0;
            for a in m.handle(black_box(now), black_box(e)) {
                sent += matches!(a, Action::SendPing(_)) as u32;
            }
            black_box((sent, m.next_deadline()))
        });
        assert_eq!(
            m.state(),
            keepalive::State::Open,
            "the trace must keep the connection open"
        );
    };
    g.bench_function("machine_handle_next_deadline", |b| per_event(b, trace()));
    g.bench_function("machine_unpredictable", |b| {
        per_event(b, unpredictable_trace())
    });
    // The two halves, for finding where the time goes.
    g.bench_function("handle_only", |b| {
        let (mut m, mut next) = (open(), stepper(trace()));
        b.iter(|| {
            let (now, e) = next();
            black_box(m.handle(black_box(now), black_box(e)).len())
        });
    });
    g.bench_function("deadline_only", |b| {
        let mut m = open();
        let _ = m.handle(Instant::from_millis(500), Event::DataReceived);
        b.iter(|| black_box(black_box(&m).next_deadline()));
    });
    g.bench_function("std_instant_now", |b| {
        b.iter(|| black_box(std::time::Instant::now()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
