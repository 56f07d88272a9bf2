//! ns per `handle()` + `next_deadline()` on a mixed trace, against one
//! `std::time::Instant::now()` call in the same run: the floor every adapter pays per
//! event. Goal: at most 0.25×. `python3 benches/report.py` prints the ratio.

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

fn bench(c: &mut Criterion) {
    let config = Config::client()
        .ping_interval(Duration::from_secs(1))
        .pong_timeout(Duration::from_secs(2))
        .seed(1)
        .build()
        .unwrap();
    let (trace, pass) = trace();
    // Steps through the trace forever, times always increasing.
    let stepper = || {
        let (trace, mut base, mut i) = (trace.clone(), 0u64, 0usize);
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
    g.bench_function("machine_handle_next_deadline", |b| {
        let (mut m, mut next) = (open(), stepper());
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
    });
    // The two halves, for finding where the time goes.
    g.bench_function("handle_only", |b| {
        let (mut m, mut next) = (open(), stepper());
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
