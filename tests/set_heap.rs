//! `HeartbeatSet::heap_bytes` says what the allocator gave the set: every vector, column
//! and table counted once. A counting allocator, and no test harness (`harness = false`):
//! nothing but this one thread allocates meanwhile.

#[path = "../benches/support/counting.rs"]
mod counting;

use keepalive::{Action, Config, Duration, Event, HeartbeatSet, Instant};
use std::sync::atomic::Ordering;

fn main() {
    heap_bytes_is_what_the_allocator_gave_the_set();
    println!("set_heap: heap_bytes is what the allocator gave the set ... ok");
}

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
    drop(set);

    // A client's attempts that time out: each gives an abort, then a wait to reconnect,
    // which waits in the set's queue of actions until taken.
    let config = Config::client()
        .connect_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let before = counting::LIVE.load(Ordering::SeqCst);
    let mut set = HeartbeatSet::new(config);
    for k in 0..100u64 {
        set.insert(k, Instant::ZERO).unwrap();
        let _ = set.handle(Instant::ZERO, &k, Event::Disconnected).unwrap();
    }
    while set.poll(Instant::from_secs(60)).is_some() {}
    let (_, abort) = set
        .poll(Instant::from_secs(61))
        .expect("an attempt timed out");
    assert_eq!(abort, Action::AbortConnect);
    let live = counting::LIVE.load(Ordering::SeqCst) - before;
    assert_eq!(set.heap_bytes(), live);
}
