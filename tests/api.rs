//! The public API: value types, config errors that say what to change, sizes.

use keepalive::{
    Action, CloseReason, Config, ConfigError, Duration, Event, HeartbeatMachine, Instant, Jitter,
    PingId, PingPolicy, Setting, State,
};

#[test]
fn the_machine_fits_in_144_bytes() {
    // Config 64 (timings, seed, the reconnect policy), state 48, clock 8, counters 20.
    assert!(
        core::mem::size_of::<HeartbeatMachine>() <= 144,
        "HeartbeatMachine is {} bytes",
        core::mem::size_of::<HeartbeatMachine>()
    );
    assert!(core::mem::size_of::<Config>() <= 64);
}

#[test]
fn instants_saturate_instead_of_panicking() {
    assert_eq!(Instant::MAX + Duration::MAX, Instant::MAX);
    assert_eq!(Instant::from_secs(u64::MAX), Instant::MAX);
    assert_eq!(Instant::ZERO - Duration::from_secs(1), Instant::ZERO);
    assert_eq!(
        Instant::from_secs(1) - Instant::from_secs(2),
        Duration::ZERO
    );
    assert_eq!(
        Instant::from_millis(1_500) - Instant::from_secs(1),
        Duration::from_millis(500)
    );
    assert_eq!(Instant::MAX.checked_add(Duration::from_nanos(1)), None);
    assert_eq!(
        Instant::from_nanos(5).checked_duration_since(Instant::from_nanos(6)),
        None
    );
}

#[cfg(feature = "std")]
#[test]
fn the_clock_is_monotonic_and_converts_back() {
    let clock = keepalive::Clock::new();
    let a = clock.now();
    let b = clock.now();
    assert!(b >= a);
    let std_b = clock.to_std(b);
    assert_eq!(clock.from_std(std_b), b);
    // Far-future instants do not panic.
    let _ = clock.to_std(Instant::MAX);
}

#[test]
fn ping_ids_travel_as_eight_bytes() {
    let id = PingId::new(0x0102_0304_0506_0708);
    assert_eq!(id.to_bytes(), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(PingId::from_bytes(&id.to_bytes()), Some(id));
    assert_eq!(PingId::from_bytes(&[0; 7]), None);
    assert_eq!(PingId::from_bytes(&[0; 9]), None);
    assert_eq!(PingId::from_bytes(b""), None);
}

#[test]
fn close_reasons_carry_websocket_codes() {
    assert_eq!(CloseReason::PongTimeout.code(), 1011);
    assert_eq!(CloseReason::IdleTimeout.code(), 1011);
    assert_eq!(CloseReason::Shutdown.code(), 1000);
    assert_eq!(CloseReason::PongTimeout.as_str(), "pong timeout");
    assert!(
        CloseReason::Shutdown.as_str().len() <= 123,
        "close frames allow 123 bytes of reason"
    );
}

#[test]
fn actions_is_a_small_exact_iterator() {
    let mut m = HeartbeatMachine::new(Config::client().build().unwrap(), Instant::ZERO);
    let _ = m.handle(Instant::ZERO, Event::Connected);
    let actions = m.handle(Instant::from_secs(20), Event::Tick);
    assert_eq!(actions.len(), 1);
    assert_eq!(actions.as_slice(), &[Action::SendPing(PingId::new(1))]);
    let v: Vec<Action> = actions.collect();
    assert_eq!(v, [Action::SendPing(PingId::new(1))]);
}

fn err(b: keepalive::ConfigBuilder) -> (ConfigError, String) {
    let e = b.build().expect_err("must be refused");
    let s = e.to_string();
    (e, s)
}

#[test]
fn config_errors_name_the_setting_the_value_and_a_fix() {
    let cases: Vec<(keepalive::ConfigBuilder, Setting, &[&str])> = vec![
        (
            Config::client().ping_interval(Duration::ZERO),
            Setting::PingInterval,
            &[
                "ping_interval (0ns)",
                "from 1ms to 86400s",
                "default is 20s",
            ],
        ),
        (
            Config::client().pong_timeout(Duration::MAX),
            Setting::PongTimeout,
            &["pong_timeout", "from 1ms"],
        ),
        (
            Config::client().close_timeout(Duration::from_micros(1_500)),
            Setting::CloseTimeout,
            &[
                "close_timeout (1.5ms)",
                "whole number of milliseconds",
                "try 2ms",
            ],
        ),
        (
            Config::client()
                .backoff_initial(Duration::from_secs(60))
                .backoff_max(Duration::from_secs(30)),
            Setting::BackoffInitial,
            &["backoff_initial (60s)", "backoff_max (30s)", "at least 60s"],
        ),
        (
            Config::client().backoff_multiplier(0.5),
            Setting::BackoffMultiplier,
            &["backoff_multiplier (0.5)", "try 2"],
        ),
        (
            Config::client().backoff_multiplier(f32::NAN),
            Setting::BackoffMultiplier,
            &["NaN"],
        ),
        (
            Config::client()
                .ping_interval(Duration::from_secs(45))
                .path_idle_limit(Duration::from_secs(60)),
            Setting::PingInterval,
            &[
                "ping_interval (45s)",
                "pong_timeout (20s)",
                "path idle limit (60s)",
                "try ping_interval 40s or less",
            ],
        ),
        (
            Config::client()
                .pong_timeout(Duration::from_secs(30))
                .path_idle_limit(Duration::from_secs(30)),
            Setting::PingInterval,
            &[
                "path idle limit (30s)",
                "try pong_timeout 10s and ping_interval 15s",
            ],
        ),
        (
            Config::server().idle_timeout(Duration::from_secs(30)),
            Setting::IdleTimeout,
            &[
                "idle_timeout (30s)",
                "at least ping_interval + pong_timeout (40s)",
                "try 40s",
            ],
        ),
        (
            Config::server().ping_policy(PingPolicy::Never),
            Setting::IdleTimeout,
            &["never detects a dead peer", "set idle_timeout"],
        ),
    ];
    for (builder, setting, needles) in cases {
        let (e, s) = err(builder);
        assert_eq!(e.setting(), setting, "{s}");
        // Every message is "<what is wrong>; <what to do>", and names its setting.
        assert!(
            s.split_once("; ").is_some_and(|(_, fix)| !fix.is_empty()),
            "{s}"
        );
        assert!(s.contains(setting.name()), "{s}");
        for n in needles {
            assert!(s.contains(n), "{s:?} lacks {n:?}");
        }
    }
}

/// Fuzzer finding (config target): a long `backoff_initial` over a short `backoff_max`.
/// The message offered its fix in words the target did not expect; the rule is now one
/// shape for every message, checked here and in the target.
#[test]
fn regression_backoff_inverted_with_a_long_initial_offers_a_fix() {
    let (e, s) = err(Config::client()
        .backoff_initial(Duration::from_secs(65_535))
        .backoff_max(Duration::from_secs(30)));
    assert_eq!(e.setting(), Setting::BackoffInitial);
    assert_eq!(
        s,
        "backoff_initial (65535s) must not exceed backoff_max (30s); lower backoff_initial or \
         raise backoff_max to at least 65535s"
    );
}

#[test]
fn path_idle_limit_derives_a_safe_interval() {
    let c = Config::client()
        .pong_timeout(Duration::from_secs(10))
        .path_idle_limit(Duration::from_secs(25))
        .build()
        .unwrap();
    assert_eq!(c.ping_interval(), Duration::from_secs(15));
    // A roomy limit keeps the default.
    let c = Config::client()
        .path_idle_limit(Duration::from_secs(100))
        .build()
        .unwrap();
    assert_eq!(c.ping_interval(), Duration::from_secs(20));
    // Cloudflare: 85 s with a 15 s timeout is the most that fits.
    assert!(Config::client()
        .ping_interval(Duration::from_secs(85))
        .pong_timeout(Duration::from_secs(15))
        .path_idle_limit(Duration::from_secs(100))
        .build()
        .is_ok());
}

#[test]
fn defaults_match_the_documentation() {
    let c = Config::client().build().unwrap();
    assert_eq!(c.ping_interval(), Duration::from_secs(20));
    assert_eq!(c.pong_timeout(), Duration::from_secs(20));
    assert_eq!(c.idle_timeout(), None);
    assert_eq!(c.ping_policy(), PingPolicy::WhenIdle);
    assert_eq!(c.backoff_initial(), Duration::from_secs(1));
    assert_eq!(c.backoff_max(), Duration::from_secs(30));
    assert_eq!(c.backoff_multiplier(), 2.0);
    assert_eq!(c.jitter(), Jitter::Equal);
    assert_eq!(c.max_attempts(), None);
    assert_eq!(c.stable_after(), Duration::from_secs(60));
    assert_eq!(c.close_timeout(), Duration::from_secs(10));
    assert_eq!(c.connect_timeout(), Duration::from_secs(10));
    assert_eq!(c.dead_peer_bound(), Duration::from_secs(40));
}

#[cfg(feature = "std")]
#[test]
fn default_seeds_differ_so_fleets_spread() {
    let a = Config::client().build().unwrap().seed();
    let b = Config::client().build().unwrap().seed();
    assert_ne!(a, b);
}

#[test]
fn a_new_machine_is_connecting_and_a_paused_one_schedules_nothing() {
    let mut m = HeartbeatMachine::new(Config::client().build().unwrap(), Instant::ZERO);
    assert_eq!(m.state(), State::Connecting);
    assert_eq!(m.next_deadline(), Some(Instant::from_secs(10))); // connect_timeout
    let _ = m.handle(Instant::ZERO, Event::Connected);
    let _ = m.handle(Instant::from_secs(1), Event::Pause);
    assert!(m.is_paused());
    assert_eq!(m.next_deadline(), None);
}

#[test]
fn stats_count_what_happened() {
    let cfg = Config::client()
        .ping_interval(Duration::from_secs(10))
        .pong_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut m = HeartbeatMachine::new(cfg, Instant::ZERO);
    let _ = m.handle(Instant::ZERO, Event::Connected);
    for k in 1..=3u64 {
        let t = Instant::from_millis(k * 10_000 + (k - 1) * 100);
        let ping = m.handle(t, Event::Tick).next();
        assert_eq!(ping, Some(Action::SendPing(PingId::new(k))));
        let _ = m.handle(
            t + Duration::from_millis(100),
            Event::PongReceived(Some(PingId::new(k))),
        );
    }
    let s = m.stats();
    assert_eq!((s.pings_sent, s.pongs_received, s.timeouts), (3, 3, 0));
    assert_eq!(s.rtt, Some(Duration::from_millis(100)));
    assert_eq!(s.smoothed_rtt, Some(Duration::from_millis(100)));
}

/// The attempt counter is 16 bits (it keeps `HeartbeatMachine` within 128 bytes beside a
/// cached deadline): a larger `max_attempts` would never be reached, so it is refused.
#[test]
fn max_attempts_beyond_the_counter_is_refused_with_a_fix() {
    let (e, s) = err(Config::client().max_attempts(keepalive::MAX_ATTEMPTS + 1));
    assert_eq!(e.setting(), Setting::MaxAttempts);
    assert_eq!(
        s,
        "max_attempts (65536) must be at most 65535; leave it unset to retry without limit"
    );
    let c = Config::client()
        .max_attempts(keepalive::MAX_ATTEMPTS)
        .build()
        .unwrap();
    assert_eq!(c.max_attempts(), Some(65_535));
    // u32::MAX is the default: no limit.
    let c = Config::client().max_attempts(u32::MAX).build().unwrap();
    assert_eq!(c.max_attempts(), None);
}
