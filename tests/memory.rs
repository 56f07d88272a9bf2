//! The path memory's stable byte form, which applications store per network and read
//! back in later versions: every memory any trace reaches survives the round trip,
//! frozen byte strings of this version keep their meaning, and damaged, short or foreign
//! input is refused, never read as a wrong memory.

use keepalive::{Config, Duration, Event, HeartbeatMachine, Instant, PathMemory};
use proptest::prelude::*;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// A learning client (smart keepalive on), with a short pong timeout so that round
/// trips set the floor.
fn learning() -> Config {
    Config::client()
        .ping_interval(ms(2_000))
        .pong_timeout(ms(100))
        .keepalive_ceiling(Duration::from_secs(600))
        .spread_pings(false)
        .seed(5)
        .build()
        .expect("a valid config")
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => Just(Event::Tick),
        2 => Just(Event::Connected),
        1 => Just(Event::ConnectFailed),
        2 => Just(Event::Disconnected),
        3 => proptest::option::of(0u64..8).prop_map(|id| Event::PongReceived(id.map(keepalive::PingId::new))),
        2 => Just(Event::DataReceived),
        1 => Just(Event::DataSent),
        1 => Just(Event::NetworkChanged),
        1 => (0u64..2_000_000, 0u64..1_000_000).prop_map(|(s, v)| Event::PathRtt {
                srtt: Duration::from_micros(s), rttvar: Duration::from_micros(v) }),
    ]
}

proptest! {
    /// `from_bytes(to_bytes(m)) == m` for every memory a trace reaches, and a machine
    /// that remembers it starts where the first one left off.
    #[test]
    fn every_memory_any_trace_reaches_survives_its_bytes(
        steps in proptest::collection::vec((0u64..30_000, event()), 1..300),
    ) {
        let mut m = HeartbeatMachine::new(learning(), Instant::ZERO);
        let mut now = Instant::ZERO;
        for (dt, event) in steps {
            now = now + ms(dt);
            let _ = m.handle(now, event);
            let memory = m.path_memory();
            // The interval learned and the interval in force read alike, in whole ms.
            let in_force = m.stats().ping_interval;
            prop_assert_eq!(memory.interval().unwrap_or(ms(2_000)), in_force);
            prop_assert_eq!(in_force.subsec_nanos() % 1_000_000, 0);
            let bytes = memory.to_bytes();
            prop_assert_eq!(PathMemory::from_bytes(&bytes), Some(memory));
            let next = HeartbeatMachine::new(learning(), now).remember(memory);
            prop_assert_eq!(next.path_memory(), memory);
            prop_assert_eq!(next.stats().ping_interval, m.stats().ping_interval);
            // The round trips and the floor they set under the pong timeout come along.
            let (was, is) = (m.stats(), next.stats());
            prop_assert_eq!(is.smoothed_rtt, was.smoothed_rtt);
            prop_assert_eq!(is.rtt_var, was.rtt_var);
            prop_assert_eq!(is.pong_timeout, was.pong_timeout);
        }
    }

    /// Any change to the version, the stale flag or the reserved bytes is refused, and
    /// so is any other length.
    #[test]
    fn damaged_short_or_foreign_bytes_are_refused(
        at in prop_oneof![Just(0usize), Just(1usize), Just(14usize), Just(15usize)],
        value in 2u8..=255,
        len in 0usize..64,
    ) {
        let mut bytes = PathMemory::new().to_bytes();
        bytes[at] = value;
        prop_assert_eq!(PathMemory::from_bytes(&bytes), None);
        let good = FROZEN[1].0;
        prop_assume!(len != good.len());
        let mut other = good.to_vec();
        other.resize(len, 0);
        prop_assert_eq!(PathMemory::from_bytes(&other), None);
    }
}

/// A byte string written by this version, and what it says: it must read the same in
/// every later version (the interval learned, the idle limit, in ms; whether stale; the
/// smoothed round trip, in ms).
type Frozen = ([u8; 28], Option<u64>, Option<u64>, bool, Option<u64>);

const FROZEN: [Frozen; 3] = [
    // Nothing learned.
    (
        [
            1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0,
            0, 0,
        ],
        None,
        None,
        false,
        None,
    ),
    // 30 s learned after 3 successes; a round trip of 40 ms ± 5 ms.
    (
        [
            1, 0, 3, 0, 0x30, 0x75, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0x9c, 0, 0, 0x88, 0x13, 0,
            0, 0, 0, 0, 0,
        ],
        Some(30_000),
        None,
        false,
        Some(40),
    ),
    // Settled at 48 s below a 60 s gap that failed twice, 7 successes since; the network
    // changed since; the transport's RTO 250 ms.
    (
        [
            1, 1, 0, 0, 0x80, 0xbb, 0, 0, 0x60, 0xea, 0, 0, 7, 0, 0, 0, 255, 255, 255, 255, 0, 0,
            0, 0, 0x90, 0xd0, 0x03, 0,
        ],
        Some(48_000),
        Some(60_000),
        true,
        None,
    ),
];

#[test]
fn debug_output_names_what_was_learned() {
    let m = PathMemory::from_bytes(&FROZEN[2].0).expect("ours");
    let shown = format!("{m:?}");
    for part in [
        "PathMemory",
        "interval_ms: 48000",
        "limit_ms: 60000",
        "stale: true",
    ] {
        assert!(shown.contains(part), "{part} in {shown}");
    }
}

#[test]
fn frozen_bytes_keep_their_meaning() {
    for (bytes, interval, limit, stale, srtt) in FROZEN {
        let m = PathMemory::from_bytes(&bytes).expect("bytes of this version");
        assert_eq!(m.interval(), interval.map(ms), "{bytes:?}");
        assert_eq!(m.idle_limit(), limit.map(ms), "{bytes:?}");
        assert_eq!(m.is_stale(), stale, "{bytes:?}");
        assert_eq!(m.to_bytes(), bytes, "written back the same");
        // What a machine makes of it: the interval in force, and the round trip.
        let machine = HeartbeatMachine::new(learning(), Instant::ZERO).remember(m);
        let stats = machine.stats();
        assert_eq!(
            stats.ping_interval,
            interval.map_or(ms(2_000), ms),
            "{bytes:?}"
        );
        assert_eq!(stats.smoothed_rtt, srtt.map(ms), "{bytes:?}");
    }
    // The round trip sets the floor: 3 × (40 ms + 4 × 5 ms) = 180 ms over the 100 ms
    // configured; the transport's 250 ms RTO: 750 ms.
    let floor = |bytes: &[u8; 28]| {
        let m = PathMemory::from_bytes(bytes).expect("ours");
        HeartbeatMachine::new(learning(), Instant::ZERO)
            .remember(m)
            .stats()
            .pong_timeout
    };
    assert_eq!(floor(&FROZEN[1].0), ms(180));
    assert_eq!(floor(&FROZEN[2].0), ms(750));
}

#[test]
fn the_round_trip_survives_a_loss_on_a_new_network_and_a_reconnect() {
    // What a client learned on another network (stale): 48 s, and the transport's RTO.
    let stale = PathMemory::from_bytes(&FROZEN[2].0).expect("ours");
    let mut m = HeartbeatMachine::new(learning(), Instant::ZERO).remember(stale);
    let _ = m.handle(Instant::ZERO, Event::Connected);
    let first = m.next_deadline().expect("a ping is due");
    assert_eq!(first, Instant::ZERO + ms(48_000), "the interval remembered");
    let id = match m.handle(first, Event::Tick).next() {
        Some(keepalive::Action::SendPing(id)) => id,
        other => panic!("expected a ping, got {other:?}"),
    };
    let _ = m.handle(first + ms(40), Event::PongReceived(Some(id)));
    assert_eq!(m.stats().smoothed_rtt, Some(ms(40)));
    // The next keepalive after a silent gap is lost with the connection: on this new
    // network learning starts over from the floor, and the round trips stay.
    let gap = m.next_deadline().expect("the next ping");
    let _ = m.handle(gap, Event::Tick);
    let _ = m.handle(gap + ms(10), Event::Disconnected);
    let restored = PathMemory::from_bytes(&m.path_memory().to_bytes()).expect("ours");
    assert!(!restored.is_stale());
    assert_eq!(
        restored.interval(),
        None,
        "nothing learned here yet: the floor"
    );
    assert_eq!(restored.idle_limit(), None);
    let next = HeartbeatMachine::new(learning(), gap).remember(restored);
    let stats = next.stats();
    assert_eq!(stats.smoothed_rtt, Some(ms(40)));
    assert_eq!(stats.rtt_var, Some(ms(20)));
    // The transport's RTO (250 ms) outweighs the pongs' (40 + 4 × 20 = 120 ms): 750 ms.
    assert_eq!(stats.pong_timeout, ms(750));
}

/// A client that moves between two networks, told which with what it learned there: it
/// takes up each network's interval and round trips where it left them, starts over on
/// one it has not seen, and a loss after the move counts toward that network alone.
#[test]
fn moving_between_networks_keeps_what_each_taught() {
    // Network A: 30 s learned, 40 ms round trips. Network B: settled at 48 s below 60 s.
    let a = PathMemory::from_bytes(&FROZEN[1].0).expect("ours");
    let mut b_bytes = FROZEN[2].0;
    b_bytes[1] = 0; // not stale: learned on B, stored while on B
    let b = PathMemory::from_bytes(&b_bytes).expect("ours");
    let mut m = HeartbeatMachine::new(learning(), Instant::ZERO).remember(a);
    let _ = m.handle(Instant::ZERO, Event::Connected);
    assert_eq!(m.stats().ping_interval, ms(30_000));

    // To B: probed at once, B's interval, B's settled gap.
    let now = Instant::ZERO + ms(1_000);
    let probe = m.moved_to(now, Some(b));
    assert!(
        probe
            .clone()
            .any(|a| matches!(a, keepalive::Action::SendPing(_))),
        "probed at once: {probe:?}"
    );
    assert_eq!(m.stats().ping_interval, ms(48_000));
    assert_eq!(m.path_memory().idle_limit(), Some(ms(60_000)));
    assert!(!m.path_memory().is_stale());

    // To a network never seen: the floor at once, nothing learned.
    let _ = m.moved_to(now + ms(10), None);
    assert_eq!(m.stats().ping_interval, ms(2_000));
    assert_eq!(m.path_memory().interval(), None);
    assert_eq!(m.path_memory().idle_limit(), None);

    // Back to A: where it left off, round trips included.
    let _ = m.moved_to(now + ms(20), Some(a));
    let back = m.path_memory();
    assert_eq!(back.interval(), a.interval());
    assert_eq!(back.idle_limit(), a.idle_limit());
    assert_eq!(m.stats().ping_interval, ms(30_000));
    assert_eq!(m.stats().smoothed_rtt, Some(ms(40)));
    assert!(
        !back.is_stale(),
        "A's memory holds on A: a loss counts toward A"
    );
}

/// Evidence is a connection's own: a keepalive ping after a silent gap whose connection
/// the peer then closed (no evidence) leaves nothing behind, so the next connection
/// lost before its first ping teaches nothing either.
#[test]
fn a_gap_ping_of_an_old_connection_is_no_evidence_on_the_next() {
    let mut m = HeartbeatMachine::new(learning(), Instant::ZERO);
    let _ = m.handle(Instant::ZERO, Event::Connected);
    let gap = m.next_deadline().expect("the keepalive ping");
    assert!(
        m.handle(gap, Event::Tick)
            .any(|a| matches!(a, keepalive::Action::SendPing(_))),
        "a ping after the silent gap"
    );
    let closed = gap + ms(10);
    let after = m
        .handle(
            closed,
            Event::Closed(keepalive::CloseReason::PeerClosed(1001)),
        )
        .find_map(|a| match a {
            keepalive::Action::Reconnect { after } => Some(after),
            _ => None,
        })
        .expect("a reconnect");
    let back = closed + after;
    let _ = m.handle(back, Event::Tick);
    let _ = m.handle(back, Event::Connected);
    let _ = m.handle(back + ms(5), Event::Disconnected);
    let bytes = m.path_memory().to_bytes();
    assert_eq!(
        (bytes[2], bytes[3]),
        (0, 0),
        "no success, no loss: {bytes:?}"
    );
}

/// A probe of an old connection leaves nothing behind: the next connection's pings and
/// its close for an unanswered one keep their own timing.
#[test]
fn a_probe_of_an_old_connection_leaves_the_next_one_alone() {
    let config = Config::client()
        .ping_interval(ms(2_000))
        .pong_timeout(ms(1_000))
        .spread_pings(false)
        .seed(5)
        .build()
        .expect("a valid config");
    let mut m = HeartbeatMachine::new(config, Instant::ZERO);
    let _ = m.handle(Instant::ZERO, Event::Connected);
    let t = Instant::ZERO + ms(500);
    assert!(
        m.handle(t, Event::NetworkChanged)
            .any(|a| matches!(a, keepalive::Action::SendPing(_))),
        "probed"
    );
    let after = m
        .handle(t + ms(10), Event::Disconnected)
        .find_map(|a| match a {
            keepalive::Action::Reconnect { after } => Some(after),
            _ => None,
        })
        .expect("a reconnect");
    let back = t + ms(10) + after;
    let _ = m.handle(back, Event::Tick);
    let _ = m.handle(back, Event::Connected);
    // A change of network on the new connection probes it: the old probe is no more.
    let mut probe = m.clone();
    assert!(
        probe
            .handle(back + ms(1), Event::NetworkChanged)
            .any(|a| matches!(a, keepalive::Action::SendPing(_))),
        "the new connection is probed"
    );
    let mut log = Vec::new();
    let mut now = back;
    for _ in 0..6 {
        let Some(next) = m.next_deadline() else { break };
        now = next;
        for a in m.handle(now, Event::Tick) {
            if let keepalive::Action::SendPing(id) = a {
                let _ = m.handle(now, Event::PingWritten(id));
            }
            log.push((now - back, a));
        }
    }
    let _ = now;
    assert!(
        matches!(log.first(), Some((d, keepalive::Action::SendPing(_))) if *d == ms(2_000)),
        "{log:?}"
    );
    assert!(
        log.iter().any(|(d, a)| *d == ms(3_000)
            && matches!(
                a,
                keepalive::Action::Close(keepalive::CloseReason::PongTimeout)
            )),
        "{log:?}"
    );
}

/// Only a ping after a silent gap teaches: a pong timeout on a ping the peer's traffic
/// preceded is no loss for the learning.
#[test]
fn a_pong_timeout_after_traffic_is_no_evidence() {
    let mut m = HeartbeatMachine::new(learning(), Instant::ZERO);
    let _ = m.handle(Instant::ZERO, Event::Connected);
    let _ = m.handle(Instant::ZERO + ms(1_900), Event::DataReceived);
    let at = m.next_deadline().expect("the ping");
    let id = m
        .handle(at, Event::Tick)
        .find_map(|a| match a {
            keepalive::Action::SendPing(id) => Some(id),
            _ => None,
        })
        .expect("a ping");
    let _ = m.handle(at, Event::PingWritten(id));
    let deadline = m.next_deadline().expect("the pong timeout");
    assert!(m
        .handle(deadline, Event::Tick)
        .any(|a| a == keepalive::Action::Close(keepalive::CloseReason::PongTimeout)));
    let bytes = m.path_memory().to_bytes();
    assert_eq!(bytes[3], 0, "no loss counted: {bytes:?}");
}
