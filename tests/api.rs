//! The public API: value types, config errors that say what to change, sizes.

use keepalive::{
    Action, CloseReason, Config, ConfigError, Decision, Duration, Event, HeartbeatMachine, Instant,
    Jitter, PingId, PingPolicy, Setting, State,
};

#[test]
fn the_machine_fits_in_224_bytes() {
    // Config 104 (the settings with the role in their padding, the seed, four reconnect
    // overrides), the connection 88 (its times, the stage and its time apart, the
    // round-trip estimate, ping policing, and what the path taught, carried from one
    // connection to the next), clock 8, counters 16, the time before which the driver's
    // reads come first 8.
    assert!(
        core::mem::size_of::<HeartbeatMachine>() <= 224,
        "HeartbeatMachine is {} bytes",
        core::mem::size_of::<HeartbeatMachine>()
    );
    assert!(core::mem::size_of::<Config>() <= 104);
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
    assert_eq!(CloseReason::TooManyPings.code(), 1008);
    assert_eq!(CloseReason::TooManyPings.as_str(), "too many pings");
    assert_eq!(CloseReason::PeerClosed(4001).code(), 4001);
    assert_eq!(CloseReason::PongTimeout.as_str(), "pong timeout");
    assert_eq!(CloseReason::PongTimeout.name(), "pong_timeout");
    assert_eq!(
        CloseReason::Refused {
            status: 503,
            retry_after: Some(Duration::from_secs(2))
        }
        .to_string(),
        "upgrade refused (HTTP 503, retry after 2s)"
    );
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
                // Never a 1 ms heartbeat: the shortest sane one.
                "try 1s (the default is 20s)",
            ],
        ),
        (
            Config::client().pong_timeout(Duration::MAX),
            Setting::PongTimeout,
            &["pong_timeout", "from 1ms"],
        ),
        (
            Config::server().idle_timeout(Duration::from_secs(100_000)),
            Setting::IdleTimeout,
            &["or zero for off", "try 86400s (the default is off)"],
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
            &[
                "backoff_initial (60s)",
                "backoff_max (30s)",
                "try backoff_initial 30s or less",
            ],
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
            // The pong timeout leaves no room: the fix changes it, and names it.
            Config::client()
                .pong_timeout(Duration::from_secs(30))
                .path_idle_limit(Duration::from_secs(30)),
            Setting::PongTimeout,
            &[
                "path idle limit (30s)",
                "try pong_timeout 10s and ping_interval 20s or less",
            ],
        ),
        (
            // A limit that does not divide into whole milliseconds by three.
            Config::client()
                .pong_timeout(Duration::from_secs(5))
                .path_idle_limit(Duration::from_millis(4_000)),
            Setting::PongTimeout,
            &["try pong_timeout 1.333s and ping_interval 2.667s or less"],
        ),
        (
            // A limit no sane heartbeat fits: the fix is the limit these settings need.
            Config::client()
                .pong_timeout(Duration::from_secs(5))
                .path_idle_limit(Duration::from_secs(1)),
            Setting::PathIdleLimit,
            &["check it", "try path_idle_limit 25s"],
        ),
        (
            Config::client().path_idle_limit(Duration::from_millis(1)),
            Setting::PathIdleLimit,
            &["path idle limit (1ms)", "try path_idle_limit 40s"],
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
        (
            Config::server()
                .ping_policy(PingPolicy::Never)
                .idle_timeout(Duration::from_secs(70))
                .min_ping_interval(Duration::from_secs(40)),
            Setting::MinPingInterval,
            &[
                "min_ping_interval (40s)",
                "half of idle_timeout (70s)",
                "try 35s or less",
            ],
        ),
        (
            Config::server().backoff_max(Duration::from_secs(5)),
            Setting::BackoffMax,
            &["backoff_max is a client's setting", "Config::client()"],
        ),
        (
            Config::server().on_close_code(4001, keepalive::Decision::GiveUp),
            Setting::OnCloseCode,
            &["on_close_code is a client's setting"],
        ),
        (
            Config::server().on_http_status(401, keepalive::Decision::Backoff),
            Setting::OnHttpStatus,
            &["on_http_status is a client's setting"],
        ),
        (
            (1000..1005).fold(Config::client(), |b, c| {
                b.on_close_code(c, keepalive::Decision::GiveUp)
            }),
            Setting::OnCloseCode,
            &["at most 4 reconnect overrides"],
        ),
    ];
    for (builder, setting, needles) in cases {
        let (e, s) = err(builder);
        assert_eq!(e.setting(), Some(setting), "{s}");
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

/// Reads a duration as `Duration`'s `Debug` prints it: `40s`, `1.5s`, `333ms`.
#[cfg(feature = "sim")]
fn duration(text: &str) -> Duration {
    let (num, unit) = text.split_at(text.find(|c: char| c.is_alphabetic()).expect("a unit"));
    let scale = match unit {
        "s" => 1e9,
        "ms" => 1e6,
        "µs" => 1e3,
        "ns" => 1.0,
        other => panic!("unit {other}"),
    };
    Duration::from_nanos((num.parse::<f64>().expect("a number") * scale).round() as u64)
}

/// Applies every `<setting> <duration>` a hint proposes ("try ping_interval 40s", "try
/// pong_timeout 1.333s and ping_interval 2.667s or less", or "try 40s" for the setting
/// the error names), as printed, to the settings given as text (a later one wins);
/// returns what it set.
#[cfg(feature = "sim")]
fn apply_hint(values: &mut Vec<(Setting, String)>, e: &ConfigError) -> Vec<(Setting, Duration)> {
    let message = e.to_string();
    let hint = message.rsplit_once("try ").expect("a hint").1;
    // What is in brackets informs ("the default is 20s"); it proposes nothing.
    let mut proposal = String::new();
    let mut depth = 0u32;
    for c in hint.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if depth == 0 => proposal.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = proposal
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let mut setting = e.setting().expect("a setting");
    let mut set = Vec::new();
    for w in words {
        if w.starts_with(|c: char| c.is_ascii_digit()) {
            set.push((setting, duration(w)));
            values.push((setting, w.to_string()));
        } else if let Some(named) = Setting::ALL.iter().find(|s| s.name() == w) {
            setting = *named;
        }
    }
    set
}

/// `b` with the duration setting `s` set to `d`, as a hint proposes it.
fn with(b: keepalive::ConfigBuilder, s: Setting, d: Duration) -> keepalive::ConfigBuilder {
    match s {
        Setting::PingInterval => b.ping_interval(d),
        Setting::PongTimeout => b.pong_timeout(d),
        Setting::IdleTimeout => b.idle_timeout(d),
        Setting::PathIdleLimit => b.path_idle_limit(d),
        Setting::MinPingInterval => b.min_ping_interval(d),
        other => panic!("no hint here for {other}"),
    }
}

/// Two hints that once went round in circles: an idle timeout shorter than a cycle that
/// no idle timeout can hold (20 h + 20 h), and an interval of zero under a path limit no
/// heartbeat fits. The whole fix builds at once, and applying only each refusal's first
/// value converges in two rounds, never proposing a value twice.
#[cfg(feature = "sim")]
#[test]
fn hints_that_once_looped_converge() {
    let hours = |h: u64| Duration::from_secs(h * 3_600);
    let cases = [
        Config::client()
            .ping_interval(hours(20))
            .pong_timeout(hours(20))
            .idle_timeout(hours(1)),
        Config::client()
            .ping_interval(Duration::ZERO)
            .path_idle_limit(Duration::from_millis(500)),
    ];
    for start in cases {
        let e = start.build().expect_err("refused");
        let whole = e.fix().iter().fold(start, |b, (s, d)| with(b, s, d));
        assert!(whole.build().is_ok(), "{e}: {:?}", whole.build());
        let mut b = start;
        let mut seen = Vec::new();
        while let Err(e) = b.build() {
            let (s, d) = e.suggestion().expect("a duration to try");
            assert!(!seen.contains(&(s, d)), "{e}: proposed {s} {d:?} again");
            seen.push((s, d));
            b = with(b, s, d);
            assert!(seen.len() <= 2, "{seen:?}");
        }
    }
}

/// A hint's value for a setting that zero turns off reads "(off)" only where it is zero;
/// after "remove keepalive_ceiling", what else is in the way comes as "then try".
#[test]
fn hints_read_true_around_off() {
    let e = Config::client()
        .ping_interval(Duration::ZERO)
        .path_idle_limit(Duration::from_millis(500))
        .build()
        .unwrap_err();
    assert!(e.to_string().ends_with("with path_idle_limit 21s"), "{e}");
    let e = Config::server()
        .ping_policy(PingPolicy::Never)
        .idle_timeout(Duration::from_secs(70))
        .keepalive_ceiling(Duration::from_secs(60))
        .min_ping_interval(Duration::from_secs(40))
        .build()
        .unwrap_err();
    assert!(
        e.to_string()
            .ends_with("remove keepalive_ceiling, or ping; then try min_ping_interval 35s"),
        "{e}"
    );
    let e = Config::server()
        .ping_policy(PingPolicy::Never)
        .keepalive_ceiling(Duration::from_secs(60))
        .build()
        .unwrap_err();
    assert!(
        e.to_string()
            .ends_with("try 70s, with keepalive_ceiling 0ns (off)"),
        "{e}"
    );
}

/// Policing takes any short interval: one under a millisecond is told the shortest
/// there is, not the heartbeat's one-second floor, and never off.
#[test]
fn a_policing_interval_under_a_millisecond_is_told_the_shortest() {
    let e = Config::server()
        .min_ping_interval(Duration::from_micros(500))
        .build()
        .unwrap_err();
    assert_eq!(
        e.suggestion(),
        Some((Setting::MinPingInterval, Duration::from_millis(1)))
    );
}

/// An error written by hand, with no fix in it, proposes what its own fields call for,
/// in its text and as data alike; one that build refused proposes the same where
/// nothing else is in the way.
#[test]
fn an_error_without_a_fix_proposes_its_own() {
    let s = Duration::from_secs;
    let built = Config::client()
        .ping_interval(s(5))
        .pong_timeout(s(5))
        .path_idle_limit(Duration::from_millis(2_500))
        .build()
        .unwrap_err();
    let by_hand = ConfigError::ExceedsPathLimit {
        ping_interval: s(5),
        pong_timeout: s(5),
        limit: Duration::from_millis(2_500),
        fix: keepalive::Fix::default(),
    };
    // A limit under three seconds: the pong gets the floor, a second.
    let fix = [
        (Setting::PongTimeout, s(1)),
        (Setting::PingInterval, Duration::from_millis(1_500)),
    ];
    for e in [built, by_hand] {
        assert_eq!(e.fix().iter().collect::<Vec<_>>(), fix, "{e}");
        assert_eq!(e.suggestion(), Some(fix[0]));
        assert!(
            e.to_string()
                .ends_with("try pong_timeout 1s and ping_interval 1.5s or less"),
            "{e}"
        );
    }
    let with_fix = ConfigError::ExceedsPathLimit {
        ping_interval: s(5),
        pong_timeout: s(5),
        limit: Duration::from_millis(2_500),
        fix: built.fix(),
    };
    assert_eq!(built, with_fix);
    assert!(keepalive::Fix::default().is_empty());
}

/// A hint is the whole fix: four settings wrong in four ways (grain, range, a cycle past
/// the path's limit, policing past half the idle timeout), one message that names a value
/// for each, in the order the checks meet them.
#[test]
fn one_hint_fixes_every_setting_at_once() {
    let start = Config::server()
        .ping_interval(Duration::from_micros(1_500))
        .pong_timeout(Duration::from_secs(90_000))
        .path_idle_limit(Duration::from_secs(30))
        .idle_timeout(Duration::from_secs(60))
        .min_ping_interval(Duration::from_secs(40));
    let e = start.build().unwrap_err();
    let fix: Vec<_> = e.fix().iter().collect();
    assert_eq!(e.suggestion(), fix.first().copied());
    let built = fix.iter().fold(start, |b, &(s, d)| with(b, s, d)).build();
    assert!(built.is_ok(), "{e}: {built:?}");
    let text = e.to_string();
    for (s, d) in &fix {
        assert!(text.contains(&format!("{d:?}")), "{text} lacks {s} {d:?}");
    }
    assert_eq!(
        fix.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        [
            Setting::PingInterval,
            Setting::PongTimeout,
            Setting::MinPingInterval
        ],
        "{text}"
    );
}

// The hints are applied as text, through the settings table the harnesses share.
#[cfg(feature = "sim")]
mod check;

#[cfg(feature = "sim")]
mod hints {
    use super::*;
    use check::settings::Table;
    use proptest::prelude::*;

    proptest::proptest! {
        /// Every hint is accepted as printed and converges: a configuration refused for
        /// a duration out of range or grain, a path limit, an idle timeout or policing
        /// too strict, with its hint applied as printed, builds in one round whatever the
        /// number of settings wrong; no hint proposes a value it proposed
        /// before (no loop), the hint's data
        /// (`ConfigError::suggestion`) is what its text proposes first, and a hint never
        /// proposes a heartbeat shorter than a second unless the value given was already
        /// shorter (then it only rounds it up to whole milliseconds).
        #[test]
        fn every_hint_is_accepted_as_printed_and_converges(
            interval_us in prop_oneof![1u64..2_000, 1u64..200_000_000, Just(72_000_000_000u64), Just(100_000_000_000u64)],
            pong_us in prop_oneof![1u64..2_000, 1u64..200_000_000, Just(72_000_000_000u64)],
            limit_ms in proptest::option::of(prop_oneof![1u64..200_000, Just(500u64)]),
            idle_ms in proptest::option::of(prop_oneof![1u64..400_000, Just(3_600_000u64)]),
            min_ping_ms in 0u64..100_000,
            server in proptest::bool::ANY,
            never in proptest::bool::ANY,
        ) {
            let us = Duration::from_micros;
            let mut values = vec![
                (Setting::PingInterval, format!("{interval_us}us")),
                (Setting::PongTimeout, format!("{pong_us}us")),
                (Setting::MinPingInterval, format!("{min_ping_ms}ms")),
            ];
            if never {
                values.push((Setting::PingPolicy, "never".into()));
            }
            if let Some(l) = limit_ms {
                values.push((Setting::PathIdleLimit, format!("{l}ms")));
            }
            if let Some(i) = idle_ms {
                values.push((Setting::IdleTimeout, format!("{i}ms")));
            }
            let given = |s: Setting| match s {
                Setting::PingInterval => us(interval_us),
                Setting::PongTimeout => us(pong_us),
                Setting::PathIdleLimit => Duration::from_millis(limit_ms.unwrap_or(u64::MAX)),
                Setting::IdleTimeout => Duration::from_millis(idle_ms.unwrap_or(u64::MAX)),
                _ => Duration::ZERO, // not a heartbeat setting: no floor to hold
            };
            // Each hint is the whole fix, found with every setting in view: one round.
            let rounds = 1;
            let mut proposed = std::collections::HashSet::new();
            for _ in 0..rounds {
                match Table::build(server, &values) {
                    Ok(_) => return Ok(()),
                    Err(ConfigError::NoDeadPeerDetection { .. }) => return Ok(()), // its fix is a choice
                    Err(e) => {
                        let applied = apply_hint(&mut values, &e);
                        proptest::prop_assert_eq!(applied.first().copied(), e.suggestion(), "{}", e);
                        for (s, value) in applied {
                            let floor = given(s).min(Duration::from_secs(1));
                            proptest::prop_assert!(value >= floor, "{}: {} {:?}", e, s, value);
                            proptest::prop_assert!(proposed.insert((s, value)), "{} proposed {:?} again", e, value);
                        }
                        if let Err(again) = Table::build(server, &values) {
                            proptest::prop_assert_ne!(again, e, "the hint of {} did not fix it", e);
                        }
                    }
                }
            }
            let built = Table::build(server, &values);
            proptest::prop_assert!(built.is_ok(), "{:?}", built);
        }
    }
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
    // Ping policing: a server's, off on a client.
    assert_eq!(c.min_ping_interval(), None);
    let s = Config::server().build().unwrap();
    assert_eq!(s.min_ping_interval(), Some(Duration::from_millis(50)));
    // Never stricter than the pings a server's own idle timeout asks for.
    let quiet = Config::server()
        .ping_policy(PingPolicy::Never)
        .idle_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    assert_eq!(quiet.min_ping_interval(), Some(Duration::from_millis(25)));
    // An idle timeout under 4 ms leaves no whole millisecond for a quarter: policing is
    // off, and the server is never refused for a default it was not given.
    for ms in [1, 2, 3] {
        let tiny = Config::server()
            .ping_policy(PingPolicy::Never)
            .idle_timeout(Duration::from_millis(ms))
            .build();
        assert_eq!(tiny.map(|c| c.min_ping_interval()), Ok(None), "{ms} ms");
    }
    assert_eq!(s.max_ping_strikes(), 2);
    assert_eq!(
        Config::server()
            .min_ping_interval(Duration::ZERO)
            .build()
            .unwrap()
            .min_ping_interval(),
        None
    );
}

#[test]
fn configs_are_data_equal_by_every_setting_and_override() {
    let a = Config::client()
        .seed(1)
        .on_close_code(4001, keepalive::Decision::GiveUp)
        .build()
        .unwrap();
    let b = Config::client()
        .seed(1)
        .on_close_code(4001, keepalive::Decision::GiveUp)
        .build()
        .unwrap();
    assert_eq!(a, b);
    let c = Config::client()
        .seed(1)
        .on_close_code(4001, keepalive::Decision::Soon)
        .build()
        .unwrap();
    assert_ne!(a, c);
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

/// The guards of the rules' full pass, each at its edge.
#[test]
fn the_rules_guards_hold_at_their_edges() {
    let ms = Duration::from_millis;
    let config = pinging();
    let ping = |m: &mut HeartbeatMachine, at: Instant| -> PingId {
        let id = sends_ping(m.handle(at, Event::Tick)).expect("a ping");
        let _ = m.handle(at, Event::PingWritten(id));
        id
    };

    // Bytes the transport saw arrive at the very instant our ping left cannot be its
    // answer: the pong that follows is a round trip.
    let mut m = HeartbeatMachine::new(config, Instant::ZERO);
    let _ = m.handle(Instant::ZERO, Event::Connected);
    let t = Instant::from_secs(1);
    let id = ping(&mut m, t);
    let _ = m.handle(
        t,
        Event::PathHeard {
            ago: Duration::ZERO,
        },
    );
    let _ = m.handle(t + ms(40), Event::PongReceived(Some(id)));
    assert_eq!(m.stats().smoothed_rtt, Some(ms(40)));

    // A probe heard of at the instant it left is still a probe: a second change of
    // network meanwhile sends no second one.
    let mut m = HeartbeatMachine::new(config, Instant::ZERO);
    let _ = m.handle(Instant::ZERO, Event::Connected);
    let t = Instant::from_millis(300);
    assert!(m
        .handle(t, Event::NetworkChanged)
        .any(|a| matches!(a, Action::SendPing(_))));
    let _ = m.handle(
        t,
        Event::PathHeard {
            ago: Duration::ZERO,
        },
    );
    let again = m.handle(t + ms(1), Event::NetworkChanged);
    assert!(
        !again.clone().any(|a| matches!(a, Action::SendPing(_))),
        "{again:?}"
    );

    // A pong after our close counts for nothing; a new connection while ours closes
    // (not a shutdown) is open.
    let mut m = HeartbeatMachine::new(config, Instant::ZERO);
    let _ = m.handle(Instant::ZERO, Event::Connected);
    let id = ping(&mut m, Instant::from_secs(1));
    let closed = Instant::from_millis(1_500);
    assert!(m
        .handle(closed, Event::Tick)
        .any(|a| a == Action::Close(CloseReason::PongTimeout)));
    assert_eq!(m.state(), State::Closing);
    let heard = m.last_heard();
    let _ = m.handle(closed + ms(1), Event::PongReceived(Some(id)));
    assert_eq!(m.last_heard(), heard, "no sign of life once closing");
    assert_eq!(m.stats().pongs_received, 0);
    assert_eq!(m.stats().smoothed_rtt, None);
    let _ = m.handle(closed + ms(2), Event::Connected);
    assert_eq!(m.state(), State::Open);
}

/// Only our own data forgives a peer's pings (gRFC A8): a flood of pings between the
/// peer's own messages is closed all the same.
#[test]
fn the_peers_data_does_not_excuse_its_ping_flood() {
    let mut m = HeartbeatMachine::new(Config::server().build().unwrap(), Instant::ZERO);
    let _ = m.handle(Instant::ZERO, Event::Connected);
    let mut closed = None;
    for i in 1..=1_000u64 {
        let now = Instant::from_millis(i);
        let _ = m.handle(now, Event::DataReceived);
        if m.handle(now, Event::PingReceived)
            .any(|a| a == Action::Close(CloseReason::TooManyPings))
        {
            closed = Some(i);
            break;
        }
    }
    let at = closed.expect("the flood is closed");
    assert!(at <= 200, "closed after {at} pings");
}

/// A client waiting to reconnect reads `Backoff` until the wait is over, and
/// `Connecting` from its last instant on (a caller on its own timer may be connecting
/// already), though nothing ticked it.
#[test]
fn the_backoff_state_lasts_exactly_the_wait() {
    let mut m = HeartbeatMachine::new(Config::client().seed(9).build().unwrap(), Instant::ZERO);
    let _ = m.handle(Instant::ZERO, Event::Connected);
    let t = Instant::from_secs(5);
    let after = m
        .handle(t, Event::Disconnected)
        .find_map(|a| match a {
            Action::Reconnect { after } => Some(after),
            _ => None,
        })
        .expect("a reconnect");
    let until = t + after;
    let _ = m.handle(until - Duration::from_millis(1), Event::DataReceived);
    assert_eq!(m.state(), State::Backoff);
    let _ = m.handle(until, Event::DataReceived);
    assert_eq!(m.state(), State::Connecting);
}

/// In a set, whose clock other connections move: a key nobody ticked leaves `Backoff`
/// at the millisecond its wait ends.
#[cfg(feature = "alloc")]
#[test]
fn a_sets_backoff_state_lasts_exactly_the_wait() {
    let t = Instant::from_secs(5);
    let config = Config::client().seed(9).build().unwrap();
    let mut set = keepalive::HeartbeatSet::new(config);
    set.insert(1u8, Instant::ZERO).unwrap();
    set.insert(2u8, Instant::ZERO).unwrap();
    let _ = set.handle(Instant::ZERO, &1, Event::Connected).unwrap();
    let _ = set.handle(Instant::ZERO, &2, Event::Connected).unwrap();
    let after = set
        .handle(t, &1, Event::Disconnected)
        .unwrap()
        .find_map(|a| match a {
            Action::Reconnect { after } => Some(after),
            _ => None,
        })
        .expect("a reconnect");
    // The set keeps whole milliseconds: the wait ends at its millisecond.
    let until_ms = (t + after).as_nanos().div_ceil(1_000_000);
    let _ = set.handle(Instant::from_millis(until_ms - 1), &2, Event::DataReceived);
    assert_eq!(set.state(&1), Some(State::Backoff));
    let _ = set.handle(Instant::from_millis(until_ms), &2, Event::DataReceived);
    assert_eq!(set.state(&1), Some(State::Connecting));
}

#[test]
fn stats_count_what_happened_and_say_what_is_in_force() {
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
    // A fast path: the configured timeouts hold.
    assert_eq!(s.pong_timeout, Duration::from_secs(5));
    assert_eq!(s.dead_peer_bound, Duration::from_secs(15));
    // The kernel reports a slow path: three retransmission timeouts of it.
    let _ = m.handle(
        Instant::from_secs(31),
        Event::PathRtt {
            srtt: Duration::from_millis(800),
            rttvar: Duration::from_millis(300),
        },
    );
    let s = m.stats();
    assert_eq!(s.pong_timeout, Duration::from_millis(3 * (800 + 4 * 300)));
    assert_eq!(s.dead_peer_bound, Duration::from_secs(16));
}

/// The attempt counter is 16 bits: a larger `max_attempts` would never be reached, so
/// it is refused.
#[test]
fn max_attempts_beyond_the_counter_is_refused_with_a_fix() {
    let (e, s) = err(Config::client().max_attempts(65_536));
    assert_eq!(e.setting(), Some(Setting::MaxAttempts));
    assert_eq!(
        s,
        "max_attempts (65536) must be at most 65535; leave it unset to retry without limit"
    );
    let c = Config::client().max_attempts(65_535).build().unwrap();
    assert_eq!(c.max_attempts(), Some(65_535));
    // u32::MAX is the default: no limit.
    let c = Config::client().max_attempts(u32::MAX).build().unwrap();
    assert_eq!(c.max_attempts(), None);
}

/// Fuzzer finding (config target): a long `backoff_initial` over a short `backoff_max`
/// once got a message whose fix did not have the shape every message has.
#[test]
fn regression_backoff_inverted_with_a_long_initial_offers_a_fix() {
    let (e, s) = err(Config::client()
        .backoff_initial(Duration::from_secs(65_535))
        .backoff_max(Duration::from_secs(30)));
    assert_eq!(e.setting(), Some(Setting::BackoffInitial));
    assert_eq!(
        s,
        "backoff_initial (65535s) must not exceed backoff_max (30s); try backoff_initial 30s \
         or less"
    );
}

/// A refused upgrade's `Retry-After`, in seconds or as an HTTP date (IMF-fixdate, read
/// against the caller's clock); anything else is no wait.
#[test]
fn retry_after_reads_seconds_and_http_dates() {
    let wait = |header: &str, now: u64| match CloseReason::refused(503, Some(header), now) {
        CloseReason::Refused { retry_after, .. } => retry_after,
        other => panic!("{other:?}"),
    };
    assert_eq!(wait("120", 0), Some(Duration::from_secs(120)));
    assert_eq!(
        wait("Thu, 01 Jan 1970 00:00:00 GMT", 100),
        Some(Duration::ZERO)
    );
    assert_eq!(
        wait("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_770),
        Some(Duration::from_secs(7))
    );
    assert_eq!(
        wait("Sat, 29 Feb 2020 12:00:00 GMT", 1_582_977_590),
        Some(Duration::from_secs(10))
    );
    assert_eq!(wait("Sun, 06 Nov 1994 08:49:37 UTC", 0), None);
    assert_eq!(wait("Sun, 06 Foo 1994 08:49:37 GMT", 0), None);
}

/// A 1008 close says "too many pings" however the peer spells it; other codes or texts
/// are the peer's own close.
#[test]
fn too_many_pings_is_read_from_the_close_text() {
    for text in [
        "too many pings",
        "Too Many Pings",
        "too_many_pings",
        " too many pings ",
    ] {
        assert_eq!(
            CloseReason::from_peer(Some(1008), text),
            CloseReason::TooManyPings,
            "{text}"
        );
    }
    assert_eq!(
        CloseReason::from_peer(Some(1011), "too many pings"),
        CloseReason::PeerClosed(1011)
    );
    assert_eq!(
        CloseReason::from_peer(Some(1008), "too many pings, and more"),
        CloseReason::PeerClosed(1008)
    );
}

/// The reconnect table gives up only where retrying cannot help; overrides replace it by
/// key, up to four.
#[test]
fn the_table_gives_up_only_where_retrying_cannot_help_and_overrides_replace_it() {
    let table = Config::client().build().unwrap();
    for code in [1002, 1003, 1007, 1008, 1010] {
        assert_eq!(
            table.decide(CloseReason::PeerClosed(code)),
            Decision::GiveUp
        );
    }
    for status in [400, 401, 403, 404, 405, 410, 426, 301] {
        let refused = CloseReason::Refused {
            status,
            retry_after: None,
        };
        assert_eq!(table.decide(refused), Decision::GiveUp, "{status}");
    }
    let busy = CloseReason::Refused {
        status: 503,
        retry_after: Some(Duration::from_secs(2)),
    };
    assert_eq!(
        table.decide(busy),
        Decision::NotBefore(Duration::from_secs(2))
    );
    // A peer that polices pings: back off, and the next connection pings less.
    assert_eq!(table.decide(CloseReason::TooManyPings), Decision::Backoff);

    let ours = Config::client()
        .on_close_code(4001, Decision::GiveUp)
        .on_close_code(4001, Decision::Soon) // the same key: replaced
        .on_http_status(400, Decision::Backoff)
        .on_http_status(401, Decision::Backoff)
        .on_http_status(402, Decision::Backoff)
        .build()
        .unwrap();
    assert_eq!(ours.decide(CloseReason::PeerClosed(4001)), Decision::Soon);
    assert_eq!(ours.decide(CloseReason::PeerClosed(1008)), Decision::GiveUp);
    let full = Config::client()
        .on_http_status(400, Decision::Backoff)
        .on_http_status(401, Decision::Backoff)
        .on_http_status(402, Decision::Backoff)
        .on_http_status(403, Decision::Backoff)
        .on_http_status(499, Decision::Backoff)
        .build();
    assert_eq!(full, Err(ConfigError::TooManyOverrides));
}

/// `TextCodec` recognises a JSON heartbeat by its `"type"`, however the peer formats it,
/// and nothing else.
#[cfg(feature = "alloc")]
#[test]
fn text_heartbeats_are_read_by_their_json_type() {
    use keepalive::codec::{HeartbeatCodec, Inbound, TextCodec};
    let mut codec = TextCodec::default();
    for text in [
        r#"{"type":"ping"}"#,
        r#"{"type": "ping"}"#,
        " {\n  \"type\" : \"ping\"\n} ",
        r#"{"ts": 1700000000, "type": "ping"}"#,
        r#"{"data": {"type": "pong", "list": [1, "}", {"a": []}]}, "type": "ping"}"#,
        r#"{"k\"ey": "v,}", "type":"ping","more":true}"#,
        // A repeated key is its last value, as the peer's own JSON reader sees it.
        r#"{"type": "pong", "type": "ping"}"#,
    ] {
        assert_eq!(codec.classify(&text.to_string()), Inbound::Ping, "{text}");
    }
    for text in [
        "ping",
        "",
        "{",
        "{}",
        r#"["type","ping"]"#,
        r#"{"type": 1}"#,
        r#"{"kind": "ping"}"#,
        r#"{"nested": {"type": "ping"}}"#,
        r#"{"type": "ping"#,
        r#"{"a": "unterminated}"#,
        r#"{"a" 1, "type": "ping"}"#,
        r#"{"type": "ping", "type": null}"#,
        r#"{"type": "ping", "more": "#,
        r#"{"type": "ping" "x"}"#,
    ] {
        assert_eq!(codec.classify(&text.to_string()), Inbound::Data, "{text}");
    }
}

/// The README's "Defaults, and why" names every setting of the table, so a new setting
/// is documented where readers look for defaults.
#[test]
fn the_readme_names_every_setting_with_its_default() {
    let readme = include_str!("../README.md");
    let table = readme
        .split_once("## Defaults, and why")
        .and_then(|(_, rest)| rest.split_once("\n\n").map(|(_, t)| t))
        .and_then(|t| t.split("\n\n").next())
        .expect("the README has its defaults table");
    for s in Setting::ALL {
        assert!(
            table.contains(&format!("`{}`", s.name())),
            "the README's defaults table lacks `{}`",
            s.name()
        );
    }
}

/// A client that pings every second (pong timeout 500 ms, first ping at the interval).
fn pinging() -> Config {
    Config::client()
        .ping_interval(Duration::from_millis(1_000))
        .pong_timeout(Duration::from_millis(500))
        .spread_pings(false)
        .build()
        .unwrap()
}

fn sends_ping(mut actions: keepalive::Actions) -> Option<PingId> {
    actions.find_map(|a| match a {
        Action::SendPing(id) => Some(id),
        _ => None,
    })
}

/// A late report that an older ping was written says nothing of the ping in flight:
/// one that still waits behind our data keeps its clock held while the path takes our
/// bytes.
#[test]
fn a_stale_ping_written_report_does_not_start_the_current_pings_clock() {
    let ms = Duration::from_millis;
    let mut m = HeartbeatMachine::new(pinging(), Instant::ZERO);
    let _ = m.handle(Instant::ZERO, Event::Connected);
    let first = sends_ping(m.handle(Instant::from_secs(1), Event::Tick)).expect("a ping");
    let _ = m.handle(Instant::from_secs(1), Event::PingWritten(first));
    let _ = m.handle(
        Instant::from_millis(1_010),
        Event::PongReceived(Some(first)),
    );
    let t = Instant::from_millis(2_010);
    let second = sends_ping(m.handle(t, Event::Tick)).expect("a second ping");
    assert_ne!(first, second);
    // The first ping's report again, late: the second is still unwritten.
    let _ = m.handle(t, Event::PingWritten(first));
    // The path keeps taking our bytes ahead of it for a second.
    for i in 1..=10u64 {
        let now = t + ms(100 * i);
        let closed = m
            .handle(now, Event::DataDelivered)
            .any(|a| matches!(a, Action::Close(_)));
        assert!(!closed, "closed at {now:?}: the ping never left");
    }
    assert_eq!(m.ping_in_flight(), Some(second));
}

/// While paused, a change of network neither probes an open connection nor cuts a
/// wait short: the caller asked for quiet.
#[test]
fn a_paused_machine_ignores_a_change_of_network() {
    let mut m = HeartbeatMachine::new(pinging(), Instant::ZERO);
    let _ = m.handle(Instant::ZERO, Event::Connected);
    let _ = m.handle(Instant::from_millis(100), Event::Pause);
    let probe = m.handle(Instant::from_millis(200), Event::NetworkChanged);
    assert_eq!(probe.len(), 0, "{probe:?}");
    assert_eq!(m.ping_in_flight(), None);

    // Waiting to reconnect.
    let mut m = HeartbeatMachine::new(pinging(), Instant::ZERO);
    let _ = m.handle(Instant::ZERO, Event::ConnectFailed);
    assert_eq!(m.state(), State::Backoff);
    let _ = m.handle(Instant::from_millis(1), Event::Pause);
    let cut = m.handle(Instant::from_millis(2), Event::NetworkChanged);
    assert_eq!(cut.len(), 0, "{cut:?}");
    assert_eq!(m.state(), State::Backoff);
}

/// A connection that is over cannot be paused: there is nothing left to hold.
#[test]
fn only_a_live_connection_is_paused() {
    let mut m = HeartbeatMachine::new(
        Config::client().max_attempts(0).build().unwrap(),
        Instant::ZERO,
    );
    let _ = m.handle(Instant::ZERO, Event::ConnectFailed);
    assert_eq!(m.state(), State::GaveUp);
    let _ = m.handle(Instant::from_millis(1), Event::Pause);
    assert!(!m.is_paused());

    let mut m = HeartbeatMachine::new(Config::server().build().unwrap(), Instant::ZERO);
    let _ = m.handle(Instant::ZERO, Event::Connected);
    let _ = m.handle(Instant::from_millis(1), Event::Disconnected);
    assert_eq!(m.state(), State::Closed);
    let _ = m.handle(Instant::from_millis(2), Event::Pause);
    assert!(!m.is_paused());
}

/// When the pong timeout and the idle timeout end at the same instant, the close says
/// pong timeout: the ping is the sharper evidence.
#[test]
fn a_tie_between_pong_and_idle_timeouts_is_a_pong_timeout() {
    let s = Duration::from_secs;
    let config = Config::client()
        .ping_interval(s(10))
        .pong_timeout(s(5))
        .idle_timeout(s(15))
        .spread_pings(false)
        .build()
        .unwrap();
    let mut m = HeartbeatMachine::new(config, Instant::ZERO);
    let _ = m.handle(Instant::ZERO, Event::Connected);
    assert!(sends_ping(m.handle(Instant::from_secs(10), Event::Tick)).is_some());
    assert_eq!(m.next_deadline(), Some(Instant::from_secs(15)));
    let closed: Vec<_> = m.handle(Instant::from_secs(15), Event::Tick).collect();
    assert!(
        closed.contains(&Action::Close(CloseReason::PongTimeout)),
        "{closed:?}"
    );
}

/// A caller that reads: the transport's record of the peer after our ping left is a sign
/// of life, not the pong (the pong may be behind it, unread yet); the ping stays in
/// flight and its pong timeout holds.
#[test]
fn the_peers_bytes_after_a_ping_do_not_answer_it_while_we_read() {
    let mut m = HeartbeatMachine::new(pinging(), Instant::ZERO);
    let _ = m.handle(Instant::ZERO, Event::Connected);
    let t = Instant::from_secs(1);
    let id = sends_ping(m.handle(t, Event::Tick)).expect("a ping");
    let _ = m.handle(t, Event::PingWritten(id));
    let _ = m.handle(
        Instant::from_millis(1_100),
        Event::PathHeard {
            ago: Duration::from_millis(50),
        },
    );
    assert_eq!(m.ping_in_flight(), Some(id));
    assert!(m
        .handle(Instant::from_millis(1_600), Event::Tick)
        .any(|a| a == Action::Close(CloseReason::PongTimeout)));
}

/// A flood of pings: the ones past the peer's budget are strikes, `max_ping_strikes` of
/// them, each told; the next one closes and is not one. At the default, the flood's
/// 104th ping closes (100 of credit, one to start with, two strikes).
#[test]
fn strikes_are_told_and_the_one_too_many_closes() {
    for strikes in [0u32, 2, 5] {
        let config = Config::server().max_ping_strikes(strikes).build().unwrap();
        let mut m = HeartbeatMachine::new(config, Instant::ZERO);
        let _ = m.handle(Instant::ZERO, Event::Connected);
        let mut struck = Vec::new();
        let mut closed = None;
        for i in 1..=200u32 {
            let actions = m.handle(Instant::from_micros(u64::from(i)), Event::PingReceived);
            if actions.struck() {
                assert!(actions.clone().any(|a| a == Action::SendPong));
                struck.push(i);
            }
            if actions
                .clone()
                .any(|a| a == Action::Close(CloseReason::TooManyPings))
            {
                assert!(!actions.struck());
                closed = Some(i);
                break;
            }
        }
        let closed = closed.expect("the flood is closed");
        assert_eq!(struck.len(), strikes as usize, "{struck:?}");
        assert_eq!(closed, 102 + strikes, "{struck:?}");
        assert!(struck.iter().all(|&s| s > 101), "{struck:?}");
    }
}

/// The last sign of the peer reads what the peer sent and when, and nothing of ours.
#[test]
fn last_heard_is_the_peers_last_sign() {
    let mut m = HeartbeatMachine::new(pinging(), Instant::ZERO);
    let _ = m.handle(Instant::from_millis(5), Event::Connected);
    assert_eq!(m.last_heard(), Instant::from_millis(5), "the open");
    let _ = m.handle(Instant::from_millis(40), Event::DataReceived);
    assert_eq!(m.last_heard(), Instant::from_millis(40));
    let _ = m.handle(Instant::from_millis(70), Event::DataSent);
    let _ = m.handle(Instant::from_millis(80), Event::DataDelivered);
    assert_eq!(
        m.last_heard(),
        Instant::from_millis(40),
        "ours is no sign of the peer"
    );
}

/// A change of network at the very instant the wait to reconnect ends cuts nothing
/// short: the attempt starts as the timer says, once (no abort of an attempt that has
/// not started, no second reconnect).
#[test]
fn a_change_of_network_as_the_wait_ends_starts_one_attempt() {
    let mut m = HeartbeatMachine::new(Config::client().seed(3).build().unwrap(), Instant::ZERO);
    let after = m
        .handle(Instant::ZERO, Event::ConnectFailed)
        .find_map(|a| match a {
            Action::Reconnect { after } => Some(after),
            _ => None,
        })
        .expect("a wait");
    let end = Instant::ZERO + after;
    // Just before the end, a change of network cuts the wait short...
    let mut early = m.clone();
    let cut: Vec<_> = early
        .handle(end - Duration::from_millis(1), Event::NetworkChanged)
        .collect();
    assert!(cut.contains(&Action::Connect), "{cut:?}");
    // ...at the end, the wait is over already: only the attempt the timer starts.
    let actions: Vec<_> = m.handle(end, Event::NetworkChanged).collect();
    assert_eq!(actions, vec![Action::Connect]);
}

/// A connection's first ping comes at a phase drawn from the seed and the open, spread
/// over an eighth to all of the interval: the draws of many connections cover that
/// range, and a seed replays its own.
#[test]
fn first_pings_spread_over_the_interval_and_replay_by_seed() {
    let first_ping = |seed: u64, opened_ms: u64| -> u64 {
        let config = Config::server()
            .ping_interval(Duration::from_secs(256))
            .pong_timeout(Duration::from_secs(10))
            .seed(seed)
            .build()
            .unwrap();
        let opened = Instant::from_millis(opened_ms);
        let mut m = HeartbeatMachine::new(config, opened);
        let _ = m.handle(opened, Event::Connected);
        let due = m.next_deadline().expect("a ping due");
        (due - opened).as_millis() as u64
    };
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..400u64 {
        let after = first_ping(seed, 1_000 + seed * 7);
        // From an eighth of the interval (32 s) to all of it.
        assert!((32_000..=256_000).contains(&after), "{after} ms");
        seen.insert(after / 8_000); // which eighth of an eighth of the interval
        assert_eq!(after, first_ping(seed, 1_000 + seed * 7), "replayed");
    }
    // 28 buckets of 8 s between 32 s and 256 s: the draws reach nearly all of them.
    assert!(seen.len() >= 26, "{seen:?}");
    // Reference draws (seed, open): a change to the draw shows here.
    let reference: Vec<u64> = [(1, 0), (2, 0), (1, 5_000), (u64::MAX, 123)]
        .iter()
        .map(|&(seed, at)| first_ping(seed, at))
        .collect();
    assert_eq!(reference, REFERENCE_FIRST_PINGS_MS);
}

const REFERENCE_FIRST_PINGS_MS: [u64; 4] = [248_000, 44_000, 232_000, 141_000];

/// A ceiling for smart keepalive at or under the interval it learns up from: the hint is
/// eight intervals (at most the longest setting), or, where none fits or nothing pings,
/// to remove it.
#[test]
fn a_keepalive_ceiling_hint_fits_above_the_interval_or_says_remove_it() {
    let h = |hours: u64| Duration::from_secs(hours * 3_600);
    let cases = [
        (
            Config::client()
                .ping_interval(Duration::from_secs(10))
                .keepalive_ceiling(Duration::from_secs(5)),
            Some(Duration::from_secs(80)),
        ),
        (
            Config::client().ping_interval(h(4)).keepalive_ceiling(h(1)),
            Some(h(24)),
        ),
        (
            Config::client()
                .ping_interval(h(24))
                .keepalive_ceiling(h(1)),
            None,
        ),
        (
            Config::server()
                .ping_policy(PingPolicy::Never)
                .idle_timeout(Duration::from_secs(70))
                .keepalive_ceiling(Duration::from_secs(60)),
            None,
        ),
    ];
    for (builder, fix) in cases {
        let e = builder.build().expect_err("a ceiling that cannot be");
        assert!(matches!(e, ConfigError::KeepaliveCeiling { .. }), "{e}");
        let text = e.to_string();
        match fix {
            Some(d) => {
                assert_eq!(
                    e.suggestion(),
                    Some((Setting::KeepaliveCeiling, d)),
                    "{text}"
                );
                assert!(text.ends_with(&format!("try {d:?}")), "{text}");
            }
            None => {
                assert_eq!(
                    e.suggestion(),
                    Some((Setting::KeepaliveCeiling, Duration::ZERO)),
                    "{text}"
                );
                assert!(text.contains("remove keepalive_ceiling"), "{text}");
                assert!(!text.contains("try "), "{text}");
            }
        }
    }
}

/// Limits under two seconds, which no sane heartbeat fits: the hint is the limit a
/// one-second heartbeat needs (two seconds), never one just past these settings' cycle.
#[test]
fn a_limit_no_sane_heartbeat_fits_is_raised_to_two_seconds() {
    let ms = Duration::from_millis;
    let path = Config::client()
        .ping_interval(ms(500))
        .pong_timeout(ms(600))
        .path_idle_limit(ms(1_000))
        .build()
        .expect_err("no room");
    assert_eq!(
        path.suggestion(),
        Some((Setting::PathIdleLimit, ms(2_000))),
        "{path}"
    );
    let h = |hours: u64| Duration::from_secs(hours * 3_600);
    let idle = Config::server()
        .ping_interval(h(20))
        .pong_timeout(h(20))
        .idle_timeout(ms(1_500))
        .build()
        .expect_err("no room");
    assert_eq!(
        idle.suggestion(),
        Some((Setting::IdleTimeout, ms(2_000))),
        "{idle}"
    );
}
