//! HeartbeatSet: exactly the semantics of one HeartbeatMachine per key (checked by
//! `SetCheck` over random operations), and its memory and size.

mod check;
use check::setcheck::{SetCheck, SetOp};
use keepalive::{Action, Config, Duration, Event, HeartbeatSet, Instant, PingPolicy};
use proptest::prelude::*;

fn config() -> impl Strategy<Value = Config> {
    (
        any::<bool>(),
        1u64..5_000,
        1u64..5_000,
        0u8..3,
        proptest::option::of(0u32..4),
        any::<u64>(),
    )
        .prop_filter_map(
            "refused",
            |(server, interval, pong, policy, attempts, seed)| {
                let ms = Duration::from_millis;
                let mut b = if server {
                    Config::server()
                } else {
                    Config::client()
                }
                .ping_interval(ms(interval))
                .pong_timeout(ms(pong))
                .close_timeout(ms(500))
                .connect_timeout(ms(700))
                // Policing within what the idle timeout below allows.
                .min_ping_interval(ms((interval + pong) / 4))
                .seed(seed);
                if !server {
                    b = b
                        .backoff_initial(ms(100))
                        .backoff_max(ms(2_000))
                        .stable_after(ms(3_000));
                }
                if policy == 2 {
                    b = b
                        .ping_policy(PingPolicy::Never)
                        .idle_timeout(ms(interval + pong));
                } else if policy == 1 {
                    b = b.ping_policy(PingPolicy::Fixed);
                }
                if let (false, Some(n)) = (server, attempts) {
                    b = b.max_attempts(n);
                }
                b.build().ok()
            },
        )
}

fn op() -> impl Strategy<Value = SetOp<u8>> {
    let key = 0u8..6;
    let event = prop_oneof![
        Just(Event::Tick),
        Just(Event::Connected),
        Just(Event::ConnectFailed),
        Just(Event::Disconnected),
        Just(Event::PingReceived),
        Just(Event::PingReceived),
        Just(Event::PongReceived(None)),
        Just(Event::Closed(keepalive::CloseReason::TooManyPings)),
        // Between milliseconds, which the set keeps at its grain.
        Just(Event::PathRtt {
            srtt: Duration::from_micros(300_123),
            rttvar: Duration::from_micros(80_456),
        }),
        Just(Event::PathHeard {
            ago: Duration::from_micros(250_789),
        }),
        Just(Event::PathMoved {
            ago: Duration::from_micros(120_345),
        }),
        Just(Event::DataReceived),
        Just(Event::DataSent),
        Just(Event::Pause),
        Just(Event::Resume),
        Just(Event::NetworkChanged),
        Just(Event::Shutdown),
    ];
    prop_oneof![
        2 => key.clone().prop_map(SetOp::Insert),
        1 => key.clone().prop_map(SetOp::Remove),
        4 => (key, event).prop_map(|(k, e)| SetOp::Handle(k, e)),
        4 => Just(SetOp::Poll),
    ]
}

fn time_step() -> impl Strategy<Value = u64> {
    prop_oneof![
        0u64..10,
        0u64..3_000_000_000,
        0u64..100_000_000_000,
        Just(u64::MAX / 2)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_set_agrees_with_one_machine_per_key(
        config in config(),
        start in prop_oneof![Just(0u64), 0u64..1_000_000_000_000, Just(u64::MAX - 10_000_000_000)],
        ops in proptest::collection::vec((time_step(), op()), 1..120),
    ) {
        let mut check = SetCheck::new(config);
        let mut t = Instant::from_nanos(start);
        for (dt, op) in ops {
            t = t + Duration::from_nanos(dt);
            check.apply(t, op.clone()).map_err(|v| TestCaseError::fail(format!("{v} (op {op:?})")))?;
        }
    }
}

#[test]
fn a_set_pings_and_closes_like_a_machine_at_scale() {
    let config = Config::server()
        .spread_pings(false) // the counts below are exact
        .ping_interval(Duration::from_secs(20))
        .pong_timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut set = HeartbeatSet::with_capacity(config, 10_000);
    for k in 0..10_000u64 {
        // Spread the starts over one interval, as real connections arrive.
        set.insert(k, Instant::from_millis(k * 2)).unwrap();
    }
    let mut pings = 0;
    let mut closes = 0;
    let mut t = Instant::from_secs(0);
    while t < Instant::from_secs(60) {
        t = t + Duration::from_millis(10);
        while let Some((k, action)) = set.poll(t) {
            match action {
                Action::SendPing(_) if k % 100 != 0 => {
                    // Everyone but every hundredth peer answers at once.
                    pings += 1;
                    let _ = set.handle(t, &k, Event::PongReceived(None)).unwrap();
                }
                Action::SendPing(_) => pings += 1,
                Action::Close(_) => closes += 1,
                // Nobody confirms the close: it is forced after close_timeout.
                Action::ForceClose => assert!(set.remove(&k)),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(closes, 100, "the silent hundredth closes, nobody else");
    // Two pings each in a minute; the silent hundredth pinged once, then closed.
    assert_eq!(pings, 9_900 * 2 + 100);
    assert_eq!(set.stats().timeouts, 100);
}

/// Regression (found by the_set_agrees_with_one_machine_per_key): a deadline already
/// past, clamped to a `now` inside the same millisecond, slipped to the next one.
#[test]
fn regression_a_passed_deadline_is_handed_out_in_its_millisecond() {
    let ms = Duration::from_millis;
    let config = Config::client()
        .ping_interval(ms(1))
        .pong_timeout(ms(1))
        .build()
        .unwrap();
    let mut set = HeartbeatSet::new(config);
    set.insert(0u8, Instant::ZERO).unwrap();
    assert_eq!(set.poll(Instant::ZERO), None);
    let got = set.poll(Instant::from_nanos(1_000_001));
    assert!(matches!(got, Some((0, Action::SendPing(_)))), "{got:?}");
}

/// The set wakes for a connection at its deadline, not before: a quiet connection of a
/// server that pings every 20 s is next due 20 s after it opened, and after its ping at
/// the pong timeout.
#[test]
fn the_next_deadline_is_the_connections_own() {
    let config = Config::server()
        .ping_interval(Duration::from_secs(20))
        .pong_timeout(Duration::from_secs(10))
        .spread_pings(false)
        .build()
        .unwrap();
    let mut set = HeartbeatSet::new(config);
    set.insert(1u8, Instant::ZERO).unwrap();
    // An early bound (the wheel's slot), never later, never "now" for a quiet set.
    let within = |set: &HeartbeatSet<u8>, from: u64, to: u64| {
        let next = set.next_deadline().expect("a deadline");
        assert!(
            next > Instant::from_secs(from) && next <= Instant::from_secs(to),
            "{next:?} not in ({from} s, {to} s]"
        );
    };
    within(&set, 10, 20);
    let early = set.poll(Instant::from_secs(19));
    assert!(
        early.is_none(),
        "nothing due before the deadline: {early:?}"
    );
    within(&set, 19, 20);
    let due = set.poll(Instant::from_secs(20));
    assert!(matches!(due, Some((1, Action::SendPing(_)))), "{due:?}");
    while set.poll(Instant::from_secs(20)).is_some() {}
    within(&set, 20, 30);
}

#[test]
fn duplicate_and_unknown_keys_are_typed_errors() {
    let mut set = HeartbeatSet::new(Config::server().build().unwrap());
    set.insert("a", Instant::ZERO).unwrap();
    let e = set.insert("a", Instant::ZERO).unwrap_err();
    assert!(e.to_string().contains("remove it first"));
    let e = set.handle(Instant::ZERO, &"b", Event::Tick).unwrap_err();
    assert!(e.to_string().contains("insert it first"));
    assert!(set.remove(&"a"));
    assert!(!set.remove(&"a"));
    assert!(set.is_empty());
}

/// Heap bytes per connection of a set of a million, keyed by `u64`, opened over 20 s.
fn heap_per_connection(config: Config) -> f64 {
    let n = 1_000_000u64;
    let mut set = HeartbeatSet::new(config);
    for k in 0..n {
        set.insert(k, Instant::from_millis(k % 20_000)).unwrap();
    }
    set.heap_bytes() as f64 / n as f64
}

/// The set's target: a server whose clients heartbeat (it never pings, and closes after
/// 70 s of silence) keeps a connection in one cache line of heap, index, timer links and
/// the slab's growth included: a 24-byte slot and its 8-byte key, 10 bytes of timer
/// links, 4 to 8 of index.
#[test]
fn a_server_that_never_pings_keeps_at_most_64_bytes_a_connection() {
    let config = Config::server()
        .ping_policy(PingPolicy::Never)
        .idle_timeout(Duration::from_secs(70))
        .build()
        .unwrap();
    let per = heap_per_connection(config);
    println!("a server that never pings: {per:.1} heap bytes per connection at 1M");
    assert!(per <= 64.0, "{per:.1} bytes per connection");
}

/// A server that pings and polices its clients' pings (the defaults) pays for the ping
/// count and its last outbound activity: 9 bytes more (and the slab's growth), the
/// round-trip estimate (8 more) once a peer answers, and the budget of each peer that
/// pinged lately (5 more) once one has.
#[test]
fn a_server_that_pings_pays_for_what_it_uses() {
    let per = heap_per_connection(Config::server().build().unwrap());
    println!("a server that pings (defaults): {per:.1} heap bytes per connection at 1M");
    assert!(per <= 64.0, "{per:.1} bytes per connection");
}

/// A cascade from a coarse slot of the timer wheel hands most connections over at once;
/// the room that took is given back once they are looked at, so a set that pinged
/// everyone holds what it held before, and its ping state.
#[test]
fn the_room_for_a_cascade_is_not_kept() {
    let n = 200_000u64;
    let config = Config::server()
        .ping_interval(Duration::from_secs(30))
        .pong_timeout(Duration::from_secs(10))
        .spread_pings(false)
        .build()
        .unwrap();
    let mut set = HeartbeatSet::with_capacity(config, n as usize);
    for k in 0..n {
        set.insert(k, Instant::ZERO).unwrap();
    }
    let before = set.heap_bytes();
    let mut pings = 0;
    while let Some((_, a)) = set.poll(Instant::from_secs(30)) {
        assert!(matches!(a, Action::SendPing(_)), "{a:?}");
        pings += 1;
    }
    assert_eq!(pings, n);
    let after = set.heap_bytes();
    // Their ping state (9 bytes each: the ping count, the last outbound activity), and
    // the room kept for a check: 16 KiB. (The cascade took 4 bytes a connection.)
    let kept = before + 9 * n as usize + 16 * 1024;
    assert!(after <= kept, "{before} then {after} bytes");
}

/// Without policing a set keeps no ping budget, even for clients that ping; with it, the
/// budget's column appears once a client pings, and holds 5 bytes for each connection.
#[test]
fn the_ping_budget_is_kept_only_where_pings_are_policed() {
    let heap = |policing: Duration| {
        let config = Config::server()
            .ping_policy(PingPolicy::Never)
            .idle_timeout(Duration::from_secs(70))
            .min_ping_interval(policing)
            .build()
            .unwrap();
        let mut set = HeartbeatSet::with_capacity(config, 100_000);
        for k in 0..100_000u64 {
            set.insert(k, Instant::ZERO).unwrap();
        }
        let before = set.heap_bytes();
        for k in 0..100_000u64 {
            let _ = set
                .handle(Instant::from_secs(20), &k, Event::PingReceived)
                .unwrap();
        }
        (set.heap_bytes() - before) / 100_000
    };
    assert_eq!(heap(Duration::ZERO), 0);
    assert_eq!(heap(Duration::from_millis(50)), 5);
}

/// A set's `Debug` names its config, how many connections it holds (removed ones not
/// counted) and its clock.
#[test]
fn a_sets_debug_says_how_many_it_holds() {
    let mut set = HeartbeatSet::new(Config::server().build().unwrap());
    for k in 0..3u64 {
        set.insert(k, Instant::from_millis(7)).unwrap();
    }
    assert!(set.remove(&1));
    let text = format!("{set:?}");
    assert!(text.starts_with("HeartbeatSet { config: Config"), "{text}");
    assert!(text.contains("len: 2,"), "{text}");
    assert!(text.ends_with("len: 2, now: Instant(7ms), .. }"), "{text}");
}

fn server() -> Config {
    Config::server()
        .ping_interval(Duration::from_secs(20))
        .pong_timeout(Duration::from_secs(5))
        .spread_pings(false)
        .build()
        .unwrap()
}

/// What a set says of each connection: whether it holds it, its ping in flight, its
/// figures; nothing for a key it does not hold.
#[test]
fn a_set_reads_each_connection() {
    let mut set = HeartbeatSet::new(server());
    assert!(set.is_empty());
    set.insert(1u64, Instant::ZERO).unwrap();
    set.insert(2u64, Instant::ZERO).unwrap();
    assert!(!set.is_empty());
    assert!(set.contains(&1) && set.contains(&2) && !set.contains(&3));
    let mut pinged = Vec::new();
    while let Some((k, a)) = set.poll(Instant::from_secs(20)) {
        if let Action::SendPing(id) = a {
            pinged.push((k, id));
        }
    }
    assert_eq!(pinged.len(), 2);
    for (k, id) in &pinged {
        assert_eq!(set.ping_in_flight(k), Some(*id));
    }
    let _ = set
        .handle(Instant::from_millis(20_010), &1, Event::PongReceived(None))
        .unwrap();
    assert_eq!(set.ping_in_flight(&1), None);
    let one = set.stats_of(&1).expect("held");
    assert_eq!(one.pings_sent, 1);
    assert_eq!(one.smoothed_rtt, Some(Duration::from_millis(10)));
    assert_eq!(one.ping_interval, Duration::from_secs(20));
    assert_eq!(one.dead_peer_bound, Duration::from_secs(25));
    assert_eq!(set.stats_of(&2).expect("held").smoothed_rtt, None);
    assert_eq!(set.stats_of(&3), None);
    assert_eq!(set.ping_in_flight(&3), None);
    assert!(set.remove(&2));
    assert!(!set.contains(&2) && set.contains(&1));
    assert_eq!(set.stats_of(&2), None);
}

/// A connection's second action waits in the set; removing another connection leaves
/// it there, and the set says it is due now until it is taken.
#[test]
fn a_waiting_action_survives_another_removal_and_is_due_now() {
    let config = Config::client()
        .connect_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut set = HeartbeatSet::new(config);
    for k in [1u64, 2] {
        set.insert(k, Instant::ZERO).unwrap();
        let _ = set.handle(Instant::ZERO, &k, Event::Disconnected).unwrap();
    }
    // Both waits are over: both attempts start...
    let started = Instant::from_secs(60);
    let mut connects = 0;
    while let Some((_, a)) = set.poll(started) {
        assert_eq!(a, Action::Connect);
        connects += 1;
    }
    assert_eq!(connects, 2);
    // ...and time out: each gives an abort, then a wait to reconnect.
    let now = started + Duration::from_secs(1);
    let (first, action) = set.poll(now).expect("an attempt timed out");
    assert_eq!(action, Action::AbortConnect);
    assert_eq!(
        set.next_deadline(),
        Some(now),
        "its wait to reconnect is due now"
    );
    let other = if first == 1 { 2 } else { 1 };
    assert!(set.remove(&other));
    let (k, action) = set.poll(now).expect("the first one's wait");
    assert_eq!(k, first);
    assert!(matches!(action, Action::Reconnect { .. }), "{action:?}");
    assert_eq!(set.poll(now), None);
}

/// Once a connection leaves, the set no longer wakes for it: the next deadline is the
/// remaining connection's (a timing wheel may wake a little early, never for the one
/// removed).
#[test]
fn a_removed_connections_deadline_is_forgotten() {
    let mut set = HeartbeatSet::new(server());
    set.insert(1u64, Instant::ZERO).unwrap(); // its first ping at 20 s
    set.insert(2u64, Instant::from_secs(5)).unwrap(); // at 25 s
    let first = set.next_deadline().expect("a ping due");
    assert!(first <= Instant::from_secs(20), "{first:?}");
    assert!(set.remove(&1));
    let next = set.next_deadline().expect("the other's ping");
    assert!(
        next > Instant::from_secs(20) && next <= Instant::from_secs(25),
        "{next:?}"
    );
}
