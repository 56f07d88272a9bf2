//! ns per `handle()` + `next_deadline()` on a mixed trace, against one
//! `std::time::Instant::now()` call in the same run: the floor every adapter pays per
//! event. Goal: at most 0.25×. `python3 benches/report.py` prints the ratio.

use criterion::{criterion_group, criterion_main, Criterion};
use keepalive::{Action, Config, Duration, Event, HeartbeatMachine, Instant};
use std::hint::black_box;

/// A steady mix: traffic both ways, the peer's pings, our pings answered, ticks.
fn trace() -> Vec<(Duration, Event)> {
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
    pattern
        .iter()
        .cycle()
        .take(1024)
        .map(|&(ms, e)| (Duration::from_millis(ms), e))
        .collect()
}

fn bench(c: &mut Criterion) {
    let config = Config::client()
        .ping_interval(Duration::from_secs(1))
        .pong_timeout(Duration::from_secs(2))
        .seed(1)
        .build()
        .unwrap();
    let trace = trace();
    let mut g = c.benchmark_group("per_event");
    g.bench_function("machine_handle_next_deadline", |b| {
        let mut m = HeartbeatMachine::new(config, Instant::ZERO);
        let _ = m.handle(Instant::ZERO, Event::Connected);
        let mut now = Instant::ZERO;
        let mut i = 0;
        b.iter(|| {
            let (dt, e) = trace[i & 1023];
            i += 1;
            now = now + dt;
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
    g.bench_function("std_instant_now", |b| {
        b.iter(|| black_box(std::time::Instant::now()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
