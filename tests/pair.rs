//! A client and a server machine on a simulated link, stepped from deadline to deadline
//! on a virtual clock (no sleeps): cuts, freezes, restarts, loss, and a day of health.

use keepalive::sim::{Pair, Side};
use keepalive::{Action, CloseReason, Config, Duration, Instant, State};

mod check;
use check::watched_pair;

fn client() -> Config {
    Config::client()
        .ping_interval(Duration::from_secs(20))
        .pong_timeout(Duration::from_secs(10))
        .seed(7)
        .build()
        .unwrap()
}

fn server() -> Config {
    Config::server()
        .ping_interval(Duration::from_secs(25))
        .pong_timeout(Duration::from_secs(15))
        .build()
        .unwrap()
}

fn count(pair: &Pair, side: Side, f: impl Fn(&Action) -> bool) -> usize {
    pair.log()
        .iter()
        .filter(|(_, s, a)| *s == side && f(a))
        .count()
}

#[test]
fn a_healthy_link_runs_a_day_without_a_close_and_keeps_pinging() {
    let mut pair = watched_pair(client(), server()).latency(Duration::from_millis(120));
    pair.run_for(Duration::from_secs(86_400)).unwrap();
    assert!(pair.closes().is_empty(), "{:?}", pair.closes());
    // Pings keep flowing all day (hyper #2310 sent only the first): one per interval.
    let pings = count(&pair, Side::Client, |a| matches!(a, Action::SendPing(_)));
    assert!(
        (4_000..=4_400).contains(&pings),
        "client sent {pings} pings in a day"
    );
    // Every ping answered, but perhaps the last, whose pong is still on the wire.
    let pongs = pair.client().stats().pongs_received as usize;
    assert!(pongs + 1 >= pings, "{pongs} pongs for {pings} pings");
    assert_eq!(pair.client().rtt(), Some(Duration::from_millis(240)));
}

#[test]
fn a_busy_link_carries_no_pings() {
    let mut pair = watched_pair(client(), server());
    pair.set_traffic(Side::Client, Some(Duration::from_secs(5)));
    pair.set_traffic(Side::Server, Some(Duration::from_secs(5)));
    pair.run_for(Duration::from_secs(3_600)).unwrap();
    // A connection's first ping comes at a random phase of its interval, before the
    // first traffic if the phase is short; once traffic flows, none.
    let flowing = Instant::ZERO + Duration::from_secs(10);
    for side in [Side::Client, Side::Server] {
        let pings: Vec<_> = pair
            .log()
            .iter()
            .filter(|(at, s, a)| *s == side && *at > flowing && matches!(a, Action::SendPing(_)))
            .collect();
        assert!(pings.is_empty(), "{side:?} pinged a busy link: {pings:?}");
    }
    assert!(pair.closes().is_empty());
}

#[test]
fn both_ends_detect_a_cut_within_their_bounds() {
    for cut_at in [1_000u64, 1_007, 1_013, 1_019, 1_024, 1_031] {
        let mut pair = watched_pair(client(), server()).latency(Duration::from_millis(30));
        pair.run_until(Instant::from_secs(cut_at)).unwrap();
        pair.cut();
        pair.run_for(Duration::from_secs(120)).unwrap();
        let closes = pair.closes();
        let cut = Instant::from_secs(cut_at);
        let by = |side| closes.iter().find(|(_, s, _)| *s == side).copied();
        let (c_at, _, c_why) = by(Side::Client).expect("client detects the cut");
        let (s_at, _, s_why) = by(Side::Server).expect("server detects the cut");
        assert_eq!(
            (c_why, s_why),
            (CloseReason::PongTimeout, CloseReason::PongTimeout)
        );
        // The last message got through at most one latency after the cut began.
        let slack = Duration::from_millis(30);
        assert!(
            c_at <= cut + slack + client().dead_peer_bound(),
            "client closed at {c_at:?}"
        );
        assert!(
            s_at <= cut + slack + server().dead_peer_bound(),
            "server closed at {s_at:?}"
        );
        // And never before a pong_timeout of silence.
        assert!(c_at >= cut + client().pong_timeout());
    }
}

#[test]
fn a_frozen_server_is_detected_and_the_client_reconnects_after_thaw() {
    let mut pair = watched_pair(client(), server()).latency(Duration::from_millis(5));
    pair.run_until(Instant::from_secs(100)).unwrap();
    pair.freeze(Side::Server); // SIGSTOP: socket open, nothing answers
    pair.run_for(Duration::from_secs(60)).unwrap();
    let (at, side, why) = pair.closes()[0];
    assert_eq!((side, why), (Side::Client, CloseReason::PongTimeout));
    assert!(at <= Instant::from_secs(100) + Duration::from_millis(5) + client().dead_peer_bound());
    // The frozen server never answered the close: the client forced it and is retrying.
    assert!(pair
        .log()
        .iter()
        .any(|(_, s, a)| *s == Side::Client && *a == Action::ForceClose));
    pair.thaw(Side::Server);
    pair.run_for(Duration::from_secs(60)).unwrap();
    assert_eq!(pair.client().state(), State::Open);
}

#[test]
fn a_restarted_server_is_reconnected_with_growing_backoff() {
    let mut pair = watched_pair(client(), server()).latency(Duration::from_millis(5));
    pair.run_until(Instant::from_secs(30)).unwrap();
    pair.server_down();
    pair.run_for(Duration::from_secs(60)).unwrap();
    let delays: Vec<Duration> = pair
        .log()
        .iter()
        .filter_map(|(_, _, a)| match a {
            Action::Reconnect { after } => Some(*after),
            _ => None,
        })
        .collect();
    assert!(delays.len() >= 4, "{delays:?}");
    // Equal jitter: attempt n waits between step n and step n+1 (1 s, 2 s, 4 s, …).
    for (n, d) in delays.iter().enumerate() {
        let step = Duration::from_secs(1 << n.min(4)).min(Duration::from_secs(30));
        let next = Duration::from_secs(1 << (n + 1).min(5)).min(Duration::from_secs(30));
        assert!(*d >= step && *d <= next, "attempt {}: {d:?}", n + 1);
    }
    pair.server_up();
    pair.run_for(Duration::from_secs(60)).unwrap();
    assert_eq!(pair.client().state(), State::Open);
    assert!(pair.server().is_some_and(|s| s.state() == State::Open));
}

#[test]
fn a_flapping_server_still_backs_off() {
    let mut pair = watched_pair(client(), server()).latency(Duration::from_millis(5));
    // The server comes up for 3 s at a time: never stable (stable_after is 60 s).
    for _ in 0..6 {
        pair.run_for(Duration::from_secs(3)).unwrap();
        pair.server_down();
        pair.server_up();
    }
    let attempt = pair.client().stats().attempt;
    assert!(
        attempt >= 3,
        "the attempt counter reset on short connections: {attempt}"
    );
}

#[test]
fn a_lossy_link_keeps_every_invariant_and_recovers() {
    let mut pair = watched_pair(client(), server()).latency(Duration::from_millis(50));
    pair.set_loss(50_000); // 5 % of pings, pongs and data vanish
    pair.set_traffic(Side::Server, Some(Duration::from_secs(7)));
    pair.run_for(Duration::from_secs(6 * 3_600)).unwrap();
    // Losing a pong (and everything else for pong_timeout) closes; the client comes back.
    pair.set_loss(0);
    pair.run_for(Duration::from_secs(120)).unwrap();
    assert_eq!(pair.client().state(), State::Open);
    assert_eq!(
        count(&pair, Side::Client, |a| matches!(a, Action::GiveUp { .. })),
        0
    );
}

#[test]
fn latency_below_the_timeout_never_closes() {
    // One-way 4.9 s: round trips of 9.8 s against a 10 s pong timeout.
    let mut pair = watched_pair(client(), server()).latency(Duration::from_millis(4_900));
    pair.run_for(Duration::from_secs(86_400)).unwrap();
    assert!(pair.closes().is_empty(), "{:?}", pair.closes());
}

/// A client with smart keepalive behind a NAT that forgets a connection idle for `t`,
/// against a server that never pings (its clients do).
fn behind_a_nat(t: Duration) -> (Config, Pair) {
    let client = Config::client()
        .ping_interval(Duration::from_secs(20))
        .pong_timeout(Duration::from_secs(5))
        .keepalive_ceiling(Duration::from_secs(1_800))
        .seed(3)
        .build()
        .unwrap();
    let server = Config::server()
        .ping_policy(keepalive::PingPolicy::Never)
        .idle_timeout(Duration::from_secs(86_400))
        .build()
        .unwrap();
    let mut pair = watched_pair(client, server);
    pair.set_forget_idle(Some(t));
    (client, pair)
}

/// The client's pong timeouts so far: each a loss after a silent gap.
fn losses(pair: &Pair) -> usize {
    pair.closes()
        .iter()
        .filter(|(_, side, why)| *side == Side::Client && *why == CloseReason::PongTimeout)
        .count()
}

/// Runs until the client's interval in force is in [0.6 t, t] and has held for ten
/// times `t` with no new loss; returns the losses it took (at most `most`).
fn converges(pair: &mut Pair, t: Duration, most: usize, before: usize) -> Duration {
    let latency = Duration::from_millis(10); // the pair's default, one way
    let deadline = pair.now() + Duration::from_secs(30 * 86_400);
    loop {
        let interval = pair.client().stats().ping_interval;
        let lost = losses(pair) - before;
        assert!(
            lost <= most,
            "{lost} losses before converging, at {interval:?}"
        );
        let settled = pair.client().path_memory().idle_limit().is_some();
        if settled && interval.mul_f64(1.0 / 0.6) >= t && interval < t + latency {
            let held_from = losses(pair);
            pair.run_for(t * 10).unwrap();
            assert_eq!(
                losses(pair),
                held_from,
                "a loss at the learned {interval:?}"
            );
            return interval;
        }
        assert!(
            pair.now() < deadline,
            "no convergence in 30 days: {interval:?}"
        );
        pair.run_for(Duration::from_secs(60)).unwrap();
    }
}

#[test]
fn smart_keepalive_learns_what_a_nat_allows_and_the_next_client_starts_there() {
    for t in [45, 100, 290, 1_200] {
        let t = Duration::from_secs(t);
        let (config, mut pair) = behind_a_nat(t);
        let learned = converges(&mut pair, t, 3, 0);
        // The interval never left [floor, ceiling], and the bound grew with it.
        let stats = pair.client().stats();
        assert_eq!(stats.dead_peer_bound, learned + stats.pong_timeout);
        // A second client given the memory starts at the learned interval: no loss.
        let memory = pair.client().path_memory();
        assert_eq!(memory.idle_limit().map(|x| x > learned), Some(true));
        let server = Config::server()
            .ping_policy(keepalive::PingPolicy::Never)
            .idle_timeout(Duration::from_secs(86_400))
            .build()
            .unwrap();
        let mut next = watched_pair(config, server).remember(memory);
        next.set_forget_idle(Some(t));
        assert_eq!(next.client().stats().ping_interval, learned);
        next.run_for(t * 10).unwrap();
        assert_eq!(
            losses(&next),
            0,
            "the remembered interval {learned:?} lost at {t:?}"
        );
        println!(
            "NAT forgets after {t:?}: learned {learned:?} ({:.2} of it) after {} losses",
            learned.as_secs_f64() / t.as_secs_f64(),
            losses(&pair)
        );
    }
}

#[test]
fn smart_keepalive_learns_again_after_the_network_changed() {
    let t = Duration::from_secs(300);
    let (_, mut pair) = behind_a_nat(t);
    converges(&mut pair, t, 3, 0);
    // Another network, whose NAT forgets after a minute.
    let t2 = Duration::from_secs(60);
    pair.set_forget_idle(Some(t2));
    pair.inject(Side::Client, keepalive::Event::NetworkChanged)
        .unwrap();
    assert!(pair.client().path_memory().is_stale());
    // The connection the change cut off is lost (its probe, or the stale interval's next
    // gap): from the next one on, the client learns the new path.
    let changed = losses(&pair);
    while losses(&pair) == changed {
        pair.run_for(Duration::from_secs(60)).unwrap();
    }
    let before = losses(&pair);
    converges(&mut pair, t2, 3, before);
}
