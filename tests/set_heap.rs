//! `HeartbeatSet::heap_bytes` says what the allocator gave the set: every vector, column
//! and table counted once (a counting allocator; one test in this binary, so nothing else
//! allocates meanwhile).

#[path = "../benches/support/counting.rs"]
mod counting;

use keepalive::{Action, Config, Duration, Event, HeartbeatSet, Instant};
use std::sync::atomic::Ordering;

#[test]
fn heap_bytes_is_what_the_allocator_gave_the_set() {
    let config = Config::server()
        .ping_interval(Duration::from_secs(20))
        .pong_timeout(Duration::from_secs(5))
        .min_ping_interval(Duration::from_millis(500))
        .spread_pings(false)
        .build()
        .unwrap();
    let before = counting::LIVE.load(Ordering::SeqCst);
    let mut set = HeartbeatSet::new(config);
    let n = 5_000u64;
    for k in 0..n {
        set.insert(k, Instant::from_millis(k)).unwrap();
    }
    // Every column in use: the peers' pings spend budgets, the pings go out (the ping
    // state), some are answered (round trips); some connections leave (the free list).
    for k in (0..n).step_by(3) {
        let _ = set
            .handle(Instant::from_secs(6), &k, Event::PingReceived)
            .unwrap();
    }
    let mut pings = Vec::new();
    while let Some((k, a)) = set.poll(Instant::from_secs(26)) {
        if let Action::SendPing(_) = a {
            pings.push(k);
        }
    }
    assert!(pings.len() as u64 >= n / 2, "{} pings", pings.len());
    for k in pings.iter().step_by(2) {
        let _ = set
            .handle(Instant::from_secs(26), k, Event::PongReceived(None))
            .unwrap();
    }
    drop(pings);
    for k in (0..n).step_by(7) {
        assert!(set.remove(&k));
    }
    let live = counting::LIVE.load(Ordering::SeqCst) - before;
    assert_eq!(set.heap_bytes(), live);
}
