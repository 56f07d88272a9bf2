//! The rules a driver reaches that the public API does not: a caller that reads
//! nothing, and a round trip spoiled by the caller's own stall.

use crate::{Action, Config, Duration, Event, HeartbeatMachine, Instant, PingId};

fn machine() -> HeartbeatMachine {
    let config = Config::client()
        .ping_interval(Duration::from_millis(1_000))
        .pong_timeout(Duration::from_millis(500))
        .spread_pings(false)
        .build()
        .unwrap();
    let mut m = HeartbeatMachine::new(config, Instant::ZERO);
    let _ = m.handle(Instant::ZERO, Event::Connected);
    m
}

/// Ticks at `at` and takes the ping it sends.
fn ping(m: &mut HeartbeatMachine, at: Instant) -> PingId {
    m.handle(at, Event::Tick)
        .find_map(|a| match a {
            Action::SendPing(id) => Some(id),
            _ => None,
        })
        .expect("a ping")
}

fn closes(m: &mut HeartbeatMachine, at: Instant) -> bool {
    m.handle(at, Event::Tick)
        .any(|a| matches!(a, Action::Close(_)))
}

fn heard(ago_ms: u64) -> Event {
    Event::PathHeard {
        ago: Duration::from_millis(ago_ms),
    }
}

/// While the caller reads nothing, the peer's bytes after our ping left answer it (its
/// pong waits unread): no pong timeout. Once the caller reads again they do not.
#[test]
fn a_caller_that_reads_nothing_takes_the_peers_bytes_as_the_answer() {
    let mut m = machine();
    m.reads_nothing(true);
    let id = ping(&mut m, Instant::from_secs(1));
    let _ = m.handle(Instant::from_secs(1), Event::PingWritten(id));
    let _ = m.handle(Instant::from_millis(1_100), heard(50));
    assert_eq!(m.ping_in_flight(), None);
    assert!(!closes(&mut m, Instant::from_millis(1_600)));

    m.reads_nothing(false);
    let id = ping(&mut m, Instant::from_millis(2_050));
    let _ = m.handle(Instant::from_millis(2_050), Event::PingWritten(id));
    let _ = m.handle(Instant::from_millis(2_100), heard(10));
    assert_eq!(m.ping_in_flight(), Some(id));
    assert!(closes(&mut m, Instant::from_millis(2_600)));
}

/// Even while the caller reads nothing, a ping still waiting behind our own data (the
/// caller reports writes and has not reported this one) cannot have been answered.
#[test]
fn a_ping_not_yet_written_is_never_answered_by_the_peers_bytes() {
    let mut m = machine();
    m.reads_nothing(true);
    let first = ping(&mut m, Instant::from_secs(1));
    let _ = m.handle(Instant::from_secs(1), Event::PingWritten(first));
    let _ = m.handle(
        Instant::from_millis(1_010),
        Event::PongReceived(Some(first)),
    );
    let second = ping(&mut m, Instant::from_millis(2_010));
    let _ = m.handle(Instant::from_millis(2_100), heard(10));
    assert_eq!(m.ping_in_flight(), Some(second));
}

/// A round trip that spans the caller's own stall is no sample; the next one is.
#[test]
fn a_round_trip_across_our_own_stall_is_not_sampled() {
    let mut m = machine();
    let id = ping(&mut m, Instant::from_secs(1));
    let _ = m.handle(Instant::from_secs(1), Event::PingWritten(id));
    m.round_trip_unsampled();
    let _ = m.handle(Instant::from_millis(1_300), Event::PongReceived(Some(id)));
    assert_eq!(m.stats().smoothed_rtt, None);
    assert_eq!(m.stats().pongs_received, 1);

    let id = ping(&mut m, Instant::from_millis(2_300));
    let _ = m.handle(Instant::from_millis(2_300), Event::PingWritten(id));
    let _ = m.handle(Instant::from_millis(2_320), Event::PongReceived(Some(id)));
    assert_eq!(m.stats().smoothed_rtt, Some(Duration::from_millis(20)));
}

/// With no ping in flight there is no round trip to spoil: the next ping's is sampled.
#[test]
fn a_stall_with_no_ping_in_flight_spoils_nothing() {
    let mut m = machine();
    m.round_trip_unsampled();
    let id = ping(&mut m, Instant::from_secs(1));
    let _ = m.handle(Instant::from_secs(1), Event::PingWritten(id));
    let _ = m.handle(Instant::from_millis(1_020), Event::PongReceived(Some(id)));
    assert_eq!(m.stats().smoothed_rtt, Some(Duration::from_millis(20)));
}
