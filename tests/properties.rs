//! Property tests: the invariants of the contract (`keepalive::rules`) over random
//! configurations, traces and simulated links.
//!
//! A failing case prints the trace as scenario text (via `sim::Recorder`), ready to be
//! saved under `tests/scenarios/` as a regression.

use keepalive::sim::{Pair, Recorder, Scenario, Side};
use keepalive::{
    Action, CloseReason, Config, Decision, Duration, Event, HeartbeatMachine, Instant, PingPolicy,
    Setting, State,
};
use proptest::prelude::*;

mod check;
use check::oracle::Oracle;
use check::settings::{self, Form, Table};
use check::{watched_pair, Checked};

const MS: u64 = 1_000_000;

/// Any configuration the builder accepts, edges included.
fn config() -> impl Strategy<Value = Config> {
    config_with(any::<bool>(), 0u8..3)
}

/// A client configuration that pings.
fn pinging_client() -> impl Strategy<Value = Config> {
    config_with(Just(false), 0u8..2)
}

/// Any reconnect decision, extremes included.
fn decision() -> impl Strategy<Value = Decision> {
    prop_oneof![
        Just(Decision::Backoff),
        Just(Decision::Soon),
        Just(Decision::Later),
        Just(Decision::GiveUp),
        Just(Decision::NotBefore(Duration::ZERO)),
        Just(Decision::NotBefore(Duration::MAX)),
        (0u64..100_000).prop_map(|ms| Decision::NotBefore(Duration::from_millis(ms))),
    ]
}

/// Close codes and HTTP statuses of every row of the table, and some it does not name.
fn code() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(1000u16),
        Just(1001),
        Just(1005),
        Just(1008),
        Just(1009),
        Just(1012),
        Just(1013),
        Just(401),
        Just(403),
        Just(404),
        Just(408),
        Just(429),
        Just(502),
        Just(503),
        0u16..5000,
    ]
}

/// A configuration of every setting of the table, each from `settings::spread` (its
/// edges and common ranges), shaped by the rules that tie settings together so that
/// most are accepted and a healthy peer is not policed: the backoff's floor under its
/// cap, a keepalive ceiling (when one is drawn) above the ping interval, policing of at
/// most 5 s.
fn config_with(
    server: impl Strategy<Value = bool>,
    policy: impl Strategy<Value = u8>,
) -> impl Strategy<Value = Config> {
    let table = Table::read();
    let n = table.rows.len();
    let overrides = proptest::collection::vec((any::<bool>(), code(), decision()), 0..4);
    let ceiling = proptest::option::of(1u64..=120_000);
    (
        server,
        policy,
        proptest::collection::vec(any::<u64>(), n),
        ceiling,
        overrides,
    )
        .prop_filter_map(
            "refused config",
            move |(server, policy, raws, ceiling, overrides)| {
                let mut raw: Vec<(Setting, u64, &Form)> = table
                    .plain(server)
                    .zip(&raws)
                    .map(|(row, r)| (row.setting, settings::spread(&row.form, *r), &row.form))
                    .collect();
                fn get(raw: &[(Setting, u64, &Form)], s: Setting) -> Option<u64> {
                    raw.iter().find(|(x, ..)| *x == s).map(|(_, v, _)| *v)
                }
                fn set(raw: &mut [(Setting, u64, &Form)], s: Setting, v: u64) {
                    if let Some(entry) = raw.iter_mut().find(|(x, ..)| *x == s) {
                        entry.1 = v;
                    }
                }
                set(&mut raw, Setting::PingPolicy, u64::from(policy));
                if let (Some(a), Some(b)) = (
                    get(&raw, Setting::BackoffInitial),
                    get(&raw, Setting::BackoffMax),
                ) {
                    set(&mut raw, Setting::BackoffInitial, a.min(b));
                    set(&mut raw, Setting::BackoffMax, a.max(b));
                }
                // Policing of at most 5 s: a peer that pings every 20 s or more is never
                // told it pings too often (the healthy-link properties rely on it).
                if let Some(m) = get(&raw, Setting::MinPingInterval) {
                    set(&mut raw, Setting::MinPingInterval, m % 5_000);
                }
                let interval = get(&raw, Setting::PingInterval).unwrap_or(1);
                let ceiling = ceiling.filter(|_| policy != 2);
                set(
                    &mut raw,
                    Setting::KeepaliveCeiling,
                    ceiling.map_or(0, |c| interval.saturating_add(c).min(86_400_000)),
                );
                let mut values: Vec<(Setting, String)> = raw
                    .iter()
                    .map(|(s, v, form)| (*s, settings::text(form, *v)))
                    .collect();
                if !server {
                    for (close, code, d) in overrides {
                        let s = if close {
                            Setting::OnCloseCode
                        } else {
                            Setting::OnHttpStatus
                        };
                        values.push((s, settings::override_text(code, d)));
                    }
                }
                Table::build(server, &values).ok()
            },
        )
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Forward(u64),
    Back(u64),
    ToMax,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0u64..2_000 * MS).prop_map(Step::Forward),
        4 => (0u64..200_000 * MS).prop_map(Step::Forward),
        1 => (0u64..86_400_000 * MS).prop_map(Step::Forward),
        1 => (0u64..10_000 * MS).prop_map(Step::Back),
        1 => Just(Step::ToMax),
    ]
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => Just(Event::Tick),
        2 => Just(Event::Connected),
        1 => Just(Event::ConnectFailed),
        1 => (code(), proptest::option::of(0u64..100_000))
            .prop_map(|(status, secs)| Event::Closed(CloseReason::Refused { status, retry_after: secs.map(Duration::from_secs) })),
        1 => Just(Event::Disconnected),
        1 => code().prop_map(|c| Event::Closed(CloseReason::PeerClosed(c))),
        1 => prop_oneof![
                Just(CloseReason::TooManyPings), Just(CloseReason::Transport),
                Just(CloseReason::ConnectTimeout), Just(CloseReason::PongTimeout),
            ].prop_map(Event::Closed),
        1 => (0u64..2_000_000, 0u64..1_000_000).prop_map(|(s, v)| Event::PathRtt {
                srtt: Duration::from_micros(s), rttvar: Duration::from_micros(v) }),
        1 => proptest::option::of(0u64..6).prop_map(|id| Event::PingWritten(keepalive::PingId::new(id.unwrap_or(1)))),
        1 => Just(Event::DataDelivered),
        1 => (0u64..5_000_000).prop_map(|ago| Event::PathHeard { ago: Duration::from_micros(ago) }),
        1 => (0u64..5_000_000).prop_map(|ago| Event::PathMoved { ago: Duration::from_micros(ago) }),
        3 => Just(Event::PingReceived),
        2 => proptest::option::of(0u64..6).prop_map(|id| Event::PongReceived(id.map(keepalive::PingId::new))),
        2 => Just(Event::DataReceived),
        2 => Just(Event::DataSent),
        1 => Just(Event::Pause),
        1 => Just(Event::Resume),
        1 => Just(Event::NetworkChanged),
        1 => Just(Event::Shutdown),
    ]
}

/// Runs a trace under the oracle; on a violation, fails with the trace as a scenario.
fn run_trace(
    config: Config,
    start: u64,
    trace: &[(Step, Event)],
    tick_at_deadline: bool,
) -> Result<(), TestCaseError> {
    let mut t = Instant::from_nanos(start);
    let mut rec = Recorder::new(config, t);
    let mut oracle = Oracle::new(rec.machine());
    for &(s, e) in trace {
        t = match s {
            Step::Forward(d) => t + Duration::from_nanos(d),
            Step::Back(d) => t - Duration::from_nanos(d),
            Step::ToMax => Instant::MAX,
        };
        // Half the time, behave like a punctual adapter: never sleep past the deadline.
        if tick_at_deadline {
            if let Some(d) = rec.machine().next_deadline() {
                t = t.min(d);
            }
        }
        let actions = rec.handle(t, e);
        if let Err(v) = oracle.check(t, e, &actions, rec.machine()) {
            return Err(TestCaseError::fail(format!(
                "{v}\n--- trace as a scenario ---\n{}",
                rec.scenario()
            )));
        }
    }
    // The trace as scenario text names every event and action it holds, and replays to
    // the same actions.
    if let Err(e) = Scenario::replay(&rec.scenario()) {
        return Err(TestCaseError::fail(format!(
            "the recorded trace does not replay: {e}\n--- as recorded ---\n{}",
            rec.scenario()
        )));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Every rule the oracle knows holds on any trace: time backwards, huge jumps,
    /// `u64::MAX` instants, events in any state.
    #[test]
    fn random_traces_keep_every_invariant(
        config in config(),
        start in prop_oneof![Just(0u64), any::<u64>(), Just(u64::MAX - 5_000 * MS)],
        trace in proptest::collection::vec((step(), event()), 1..80),
        punctual in any::<bool>(),
    ) {
        run_trace(config, start, &trace, punctual)?;
    }
}

/// A peer that answers pings after `delay` and sends data at `data` times until `dies`,
/// then falls silent without a FIN. Returns the close (time, reason, and the dead-peer
/// bound in force then) and the last time anything arrived.
fn silent_peer(
    config: Config,
    delays: &[u64],
    data: &[u64],
    dies: Instant,
) -> (Option<(Instant, CloseReason, Duration)>, Instant) {
    let mut m = HeartbeatMachine::new(config, Instant::ZERO);
    let mut oracle = Oracle::new(&m);
    let mut inbox: Vec<(Instant, Event)> = data
        .iter()
        .map(|&t| (Instant::from_nanos(t), Event::DataReceived))
        .collect();
    let mut feed = |m: &mut HeartbeatMachine,
                    t: Instant,
                    e: Event,
                    inbox: &mut Vec<(Instant, Event)>,
                    last_in: &mut Instant| {
        if matches!(e, Event::DataReceived | Event::PongReceived(_)) {
            *last_in = t;
        }
        let actions: Vec<Action> = m.handle(t, e).collect();
        oracle.check(t, e, &actions, m).unwrap();
        let mut closed = None;
        for a in actions {
            match a {
                Action::SendPing(id) => {
                    let d = delays[id.get() as usize % delays.len()];
                    inbox.push((t + Duration::from_nanos(d), Event::PongReceived(Some(id))));
                }
                Action::Close(r) => closed = Some((t, r, m.stats().dead_peer_bound)),
                _ => {}
            }
        }
        closed
    };
    let mut last_in = Instant::ZERO;
    feed(
        &mut m,
        Instant::ZERO,
        Event::Connected,
        &mut inbox,
        &mut last_in,
    );
    for _ in 0..100_000 {
        inbox.retain(|(t, _)| *t < dies); // dead peers send nothing
        inbox.sort_by_key(|(t, _)| *t);
        let deadline = m.next_deadline();
        let next_in = inbox.first().map(|(t, _)| *t);
        let (t, e) = match (deadline, next_in) {
            (Some(d), Some(i)) if i <= d => inbox.remove(0),
            (Some(d), _) => (d, Event::Tick),
            (None, Some(_)) => inbox.remove(0),
            (None, None) => return (None, last_in),
        };
        if let Some(c) = feed(&mut m, t, e, &mut inbox, &mut last_in) {
            return (Some(c), last_in);
        }
    }
    (None, last_in)
}

/// `thousandths` of `cycle`, without overflow.
fn scale(thousandths: u64, cycle: u64) -> u64 {
    u64::try_from(u128::from(thousandths) * u128::from(cycle) / 1_000).unwrap_or(u64::MAX)
}

fn pinging_config() -> impl Strategy<Value = Config> {
    config_with(any::<bool>(), 0u8..2)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// A peer that goes silent without closing is closed within
    /// last_inbound + ping_interval + pong_timeout (or idle_timeout), by an adapter that
    /// wakes at each deadline.
    #[test]
    fn a_silent_peer_is_closed_within_the_bound(
        config in config(),
        delays in proptest::collection::vec(0u64..1_000, 1..8),
        data in proptest::collection::vec(0u64..50_000, 0..20),
        dies in 0u64..50_000,
    ) {
        let pt = config.pong_timeout().as_nanos() as u64;
        // Data and death within the first 50 heartbeat cycles.
        let cycle = (config.ping_interval() + config.pong_timeout()).as_nanos() as u64;
        let data: Vec<u64> = data.iter().map(|&d| scale(d, cycle)).collect();
        // (At most 40,000 ping intervals: the run is bounded in steps.)
        let interval = config.ping_interval().as_nanos() as u64;
        let dies = scale(dies, cycle).min(interval.saturating_mul(40_000));
        // Answers arrive well within pong_timeout while the peer lives.
        let delays: Vec<u64> = delays.iter().map(|&d| scale(d, pt) / 2).collect();
        let (close, last_in) = silent_peer(config, &delays, &data, Instant::from_nanos(dies));
        let (at, _, bound) = close.expect("a silent peer must be closed");
        // The bound in force: the configured one, or stretched by the round trips the
        // peer's pongs showed (three retransmission timeouts, at most 60 s).
        prop_assert!(bound >= config.dead_peer_bound());
        prop_assert!(at <= last_in + bound,
            "closed at {at:?}, last inbound {last_in:?}, bound in force {bound:?}");
    }

    /// A peer that answers every ping within pong_timeout is never closed, whatever the
    /// traffic, over hundreds of ping cycles.
    #[test]
    fn a_peer_that_answers_in_time_is_never_closed(
        config in pinging_config(),
        delays in proptest::collection::vec(0u64..1_000, 1..8),
        data in proptest::collection::vec(0u64..300_000, 0..20),
    ) {
        let pt = config.pong_timeout().as_nanos() as u64;
        let cycle = (config.ping_interval() + config.pong_timeout()).as_nanos() as u64;
        let data: Vec<u64> = data.iter().map(|&d| scale(d, cycle)).collect();
        // Up to 99.9% of pong_timeout: late, but in time.
        let delays: Vec<u64> = delays.iter().map(|&d| scale(d, pt)).collect();
        let horizon = Instant::from_nanos(cycle.saturating_mul(300));
        let (close, _) = silent_peer(config, &delays, &data, horizon);
        if let Some((at, r, _)) = close {
            prop_assert!(at >= horizon, "closed a live peer at {at:?} for {r:?}");
        }
    }

    /// After a stall of any length, at most one ping goes out, and another call at the
    /// same instant sends none.
    #[test]
    fn no_ping_burst_after_a_stall(config in pinging_config(), stall in 1u64..1_000_000) {
        let mut m = HeartbeatMachine::new(config, Instant::ZERO);
        let _ = m.handle(Instant::ZERO, Event::Connected);
        let t = Instant::ZERO + config.ping_interval() * 1 + Duration::from_secs(stall);
        let first: Vec<Action> = m.handle(t, Event::Tick).collect();
        let pings = first.iter().filter(|a| matches!(a, Action::SendPing(_))).count();
        prop_assert!(pings <= 1, "{first:?}");
        let again: Vec<Action> = m.handle(t, Event::Tick).collect();
        prop_assert!(!again.iter().any(|a| matches!(a, Action::SendPing(_))), "{again:?}");
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// On a simulated link with latency below pong_timeout / 2 and steady traffic, both
    /// ends run a simulated day without a close; the oracle checks every call.
    #[test]
    fn a_healthy_link_never_closes(
        client in pinging_client(),
        latency_frac in 0u64..500,
        traffic_ms in proptest::option::of(10_000u64..120_000),
    ) {
        // The server polices pings at exactly the closest a well-behaved client sends
        // them (no burst: at least min(ping_interval, pong_timeout) apart): never a strike.
        let gap = client.ping_interval().min(client.pong_timeout());
        let server = Config::server()
            .ping_interval(Duration::from_secs(25))
            .pong_timeout(Duration::from_secs(20))
            .min_ping_interval(gap)
            .build()
            .unwrap();
        let pt = client.pong_timeout().min(server.pong_timeout());
        let latency = pt * latency_frac as u32 / 1_000;
        let mut pair = watched_pair(client, server).latency(latency);
        pair.set_traffic(Side::Server, traffic_ms.map(Duration::from_millis));
        // Enough virtual time for many cycles, bounded in steps for tiny intervals.
        let horizon = (client.ping_interval() + client.pong_timeout()) * 200;
        pair.run_for(horizon.min(Duration::from_secs(6 * 3600))).map_err(|v| TestCaseError::fail(v.to_string()))?;
        prop_assert!(pair.closes().is_empty(), "{:?}", pair.closes());
    }
}

/// The link's segment (`sim::Pair` moves bytes 1460 at a time).
const SEGMENT: u64 = 1460;

/// A slow link and transfers on it, scaled to the configurations: the bandwidth carries
/// one segment in at most a quarter of either pong timeout, the latency is at most a
/// quarter of it, and the messages (from either side, at any time in the first few
/// cycles) take from a moment to hundreds of pong timeouts to cross.
#[derive(Clone, Debug)]
struct SlowLink {
    client: Config,
    server: Config,
    /// Segments per pong timeout: 4 or more.
    speed: u64,
    latency_frac: u64,
    /// (from the server?, when in thousandths of a cycle, size in segments)
    messages: Vec<(bool, u64, u64)>,
}

impl SlowLink {
    fn pong_timeout(&self) -> Duration {
        self.client.pong_timeout().min(self.server.pong_timeout())
    }
    fn bandwidth(&self) -> u64 {
        let pt = self.pong_timeout().as_nanos() as u64;
        // speed segments per pong timeout, in bytes per second, rounded up.
        u64::try_from((u128::from(self.speed * SEGMENT) * 1_000_000_000).div_ceil(u128::from(pt)))
            .unwrap_or(u64::MAX)
            .max(1)
    }
    fn cycle(&self) -> u64 {
        let c = self.client.ping_interval() + self.client.pong_timeout();
        let s = self.server.ping_interval() + self.server.pong_timeout();
        c.max(s).as_nanos() as u64
    }
    /// The pair, with every message scheduled; returns it and the time the last one is
    /// handed over.
    fn pair(&self) -> Pair {
        let latency = self.pong_timeout() * self.latency_frac as u32 / 4_000;
        watched_pair(self.client, self.server)
            .latency(latency)
            .bandwidth(self.bandwidth())
    }
    /// Runs the pair, sending each message at its time, until `until` (or a cut at
    /// `cut_at`, then until `until`).
    fn run(
        &self,
        pair: &mut Pair,
        cut_at: Option<Instant>,
        until: Instant,
    ) -> Result<(), TestCaseError> {
        let mut msgs: Vec<(Instant, Side, u64)> = self
            .messages
            .iter()
            .map(|&(server, at, segs)| {
                let side = if server { Side::Server } else { Side::Client };
                (
                    Instant::from_nanos(scale(at, self.cycle())),
                    side,
                    segs * SEGMENT,
                )
            })
            .collect();
        msgs.sort_by_key(|m| m.0);
        let fail = |v: keepalive::sim::Violation| TestCaseError::fail(v.to_string());
        let mut cut = cut_at;
        for (at, side, bytes) in msgs {
            if let Some(c) = cut.filter(|c| *c <= at) {
                pair.run_until(c).map_err(fail)?;
                pair.cut();
                cut = None;
            }
            pair.run_until(at).map_err(fail)?;
            pair.send_message(side, bytes).map_err(fail)?;
        }
        if let Some(c) = cut {
            pair.run_until(c).map_err(fail)?;
            pair.cut();
        }
        pair.run_until(until).map_err(fail)
    }
}

fn slow_link() -> impl Strategy<Value = SlowLink> {
    let timing = || {
        prop_oneof![
            (1u64..=2_000, 1u64..=2_000),
            (1_000u64..=60_000, 1_000u64..=30_000),
        ]
    };
    (
        timing(),
        timing(),
        0u8..2,
        4u64..=400,
        0u64..1_000,
        proptest::collection::vec((any::<bool>(), 0u64..3_000, 1u64..=3_000), 1..4),
        any::<u64>(),
    )
        .prop_map(
            |((ci, cp), (si, sp), policy, speed, latency_frac, messages, seed)| {
                let ms = Duration::from_millis;
                let policy = [PingPolicy::WhenIdle, PingPolicy::Fixed][usize::from(policy)];
                let client = Config::client()
                    .ping_interval(ms(ci))
                    .pong_timeout(ms(cp))
                    .ping_policy(policy)
                    .seed(seed)
                    .build()
                    .unwrap();
                // Queueing behind large messages can bunch a live client's pings: ping
                // policing has its own property, so it is off here.
                let server = Config::server()
                    .ping_interval(ms(si))
                    .pong_timeout(ms(sp))
                    .ping_policy(policy)
                    .min_ping_interval(Duration::ZERO)
                    .build()
                    .unwrap();
                SlowLink {
                    client,
                    server,
                    speed,
                    latency_frac,
                    messages,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// For any bandwidth and message size, in either direction: a peer that answers
    /// within pong_timeout of the bytes reaching it is never closed. Its pongs wait
    /// behind its own large messages, and ours behind ours; the bytes arriving, the bytes
    /// it takes, and a pong clock that starts when the ping leaves keep both ends open.
    #[test]
    fn a_slow_link_never_closes_a_live_peer(link in slow_link()) {
        let mut pair = link.pair();
        let bytes: u64 = link.messages.iter().map(|m| m.2 * SEGMENT).sum();
        let transfer = Duration::from_nanos(
            u64::try_from(u128::from(bytes) * 1_000_000_000 / u128::from(link.bandwidth())).unwrap_or(u64::MAX),
        );
        let until = Instant::from_nanos(link.cycle().saturating_mul(4)) + transfer * 2;
        link.run(&mut pair, None, until)?;
        prop_assert!(pair.closes().is_empty(), "closed a live peer: {:?}", pair.closes());
        prop_assert_eq!(pair.client().state(), State::Open);
    }

    /// A transfer that stalls (no byte either way: the path died mid-message) is closed
    /// by each end within ping_interval + pong_timeout of the last byte either way: the
    /// peer's last byte it saw, or the last of its own the path took before the cut
    /// (which held a ping waiting behind them).
    #[test]
    fn a_stalled_transfer_is_closed_within_the_bound_of_its_last_byte(
        link in slow_link(),
        cut_frac in 0u64..3_000,
    ) {
        let mut pair = link.pair();
        let cut_at = Instant::from_nanos(scale(cut_frac, link.cycle()));
        let until = cut_at + Duration::from_nanos(link.cycle().saturating_mul(4));
        link.run(&mut pair, Some(cut_at), until)?;
        // A ping leaves after the last segment of ours the peer took: one tiny frame later.
        let slack = Duration::from_nanos(14 * 1_000_000_000 / link.bandwidth() + 1);
        for side in [Side::Client, Side::Server] {
            let machine = match side {
                Side::Client => pair.client(),
                Side::Server => pair.server().expect("no restart: the server machine stays"),
            };
            let latency = link.pong_timeout() * link.latency_frac as u32 / 4_000;
            let path_last = cut_at + latency;
            let (last, bound) = (machine.last_heard().max(path_last), machine.stats().dead_peer_bound);
            let close = pair
                .closes()
                .into_iter()
                .find(|(at, s, _)| *s == side && *at >= cut_at.min(last));
            let Some((at, _, _)) = close else {
                return Err(TestCaseError::fail(format!("{side:?} never closed the stalled link")));
            };
            prop_assert!(
                at <= last + bound + slack,
                "{side:?} closed at {at:?}, its last byte at {last:?}, bound in force {bound:?}"
            );
        }
    }
}

/// A server that polices pings, fed pings at the given times (nothing else from us, so
/// nothing forgives strikes). Returns the index of the ping that closed the connection,
/// if one did.
fn ping_train(config: Config, times: &[Instant]) -> Option<usize> {
    let mut m = Checked::new(config, Instant::ZERO);
    let _ = m.feed(Instant::ZERO, Event::Connected);
    for (i, &t) in times.iter().enumerate() {
        let actions = m.feed(t, Event::PingReceived);
        if actions.contains(&Action::Close(CloseReason::TooManyPings)) {
            return Some(i);
        }
        if m.machine.state() != State::Open {
            return None;
        }
    }
    None
}

/// The times of pings sent `gaps` apart from the open.
fn sent_at(gaps: &[Duration]) -> Vec<Instant> {
    let mut t = Instant::ZERO;
    gaps.iter()
        .map(|g| {
            t = t + *g;
            t
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Ping policing measures the peer's rate: a peer that pings at most once per
    /// `min_ping_interval` is never closed for it, even when our reads bunch its pings
    /// (they waited in our buffer while we were busy, up to the credit: a minute, and
    /// 100 pings at most); a burst right after the open is a token bucket that starts
    /// full: the credit passes, and a flood is closed with 1008 once it is spent; and a
    /// flood after any steady train is closed once the credit of that quiet time is
    /// spent.
    #[test]
    fn a_ping_flood_is_closed_past_the_strikes_and_a_steady_peer_never(
        min_ms in 1u64..5_000,
        strikes in 0u32..6,
        steady in proptest::collection::vec(0u64..1_000, 1..200),
        reads in proptest::collection::vec(0u64..60_000, 1..20),
    ) {
        let min = Duration::from_millis(min_ms);
        // A server that never pings itself (its clients do) keeps deadlines out of the way.
        let config = Config::server()
            .ping_policy(PingPolicy::Never)
            .idle_timeout(Duration::from_secs(86_400))
            .min_ping_interval(min)
            .max_ping_strikes(strikes)
            .build()
            .unwrap();
        let on_time: Vec<Duration> = steady.iter().map(|&x| min + Duration::from_micros(x)).collect();
        let sent = sent_at(&on_time);
        prop_assert_eq!(ping_train(config, &sent), None);
        // The same pings, read in bunches: each at the first read at or after it was sent,
        // with reads at most the credit apart.
        let credit_ms = (min_ms * 100).min(60_000);
        let mut read_at = Vec::new();
        let mut t = Instant::ZERO;
        for gap in reads.iter().cycle() {
            t = t + Duration::from_millis(*gap % (credit_ms + 1));
            read_at.push(t);
            if t >= *sent.last().expect("a ping") {
                break;
            }
        }
        let bunched: Vec<Instant> = sent
            .iter()
            .map(|s| *read_at.iter().find(|r| *r >= s).expect("a read after it"))
            .collect();
        prop_assert_eq!(ping_train(config, &bunched), None, "bunched by our reads");
        // Each flood ping (gaps of a tenth of the minimum) spends nine tenths of an
        // interval of the credit, which is a minute at most, and all of it at the open.
        let credit = (Duration::from_secs(60).as_nanos() / min.as_nanos()).min(100) as usize;
        let most = (credit + strikes as usize + 3) * 10 / 9 + 1;
        // A burst right after the open, of what any conformance suite sends at once (ten
        // pings) and more: never closed while within the credit.
        let burst = sent_at(&vec![min / 10; credit.min(64)]);
        prop_assert_eq!(ping_train(config, &burst), None, "a burst at the open");
        // A flood right after the open: closed once the credit is spent.
        let flood = ping_train(config, &sent_at(&vec![min / 10; most + 1]));
        let closed = flood.expect("a flood is closed");
        prop_assert!(
            closed >= credit + strikes as usize && closed <= most,
            "a flood from the open closed at ping {closed}"
        );
        // After the steady train, likewise.
        let mut gaps = on_time.clone();
        gaps.extend(std::iter::repeat(min / 10).take(most + 1));
        let closed = ping_train(config, &sent_at(&gaps)).expect("a flood is closed");
        prop_assert!(
            closed > on_time.len() + strikes as usize && closed <= on_time.len() + most,
            "closed at ping {closed}, the flood from {}", on_time.len()
        );
        prop_assert_eq!(CloseReason::TooManyPings.code(), 1008);
    }

    /// The path sets a floor: with the path's round-trip estimate reported at each
    /// deadline (as the driver reads it from the kernel), a peer whose pongs take up to
    /// twice the path's smoothed round trip is never closed, however short the configured
    /// pong timeout; and the pong timeout in force stays within [configured, 60 s].
    #[test]
    fn the_path_sets_a_floor_under_the_pong_timeout(
        pong_ms in 1u64..2_000,
        interval_ms in 1u64..5_000,
        srtt_ms in 1u64..9_000,
        var_frac in 0u64..1_000,
        rtts in proptest::collection::vec(0u64..1_000, 1..16),
    ) {
        let ms = Duration::from_millis;
        let config = Config::client()
            .ping_interval(ms(interval_ms))
            .pong_timeout(ms(pong_ms))
            .seed(3)
            .build()
            .unwrap();
        let srtt = ms(srtt_ms);
        let rttvar = srtt * var_frac as u32 / 1_000;
        let mut m = Checked::new(config, Instant::ZERO);
        let _ = m.feed(Instant::ZERO, Event::Connected);
        let mut pong: Option<(Instant, keepalive::PingId)> = None;
        let mut pings = 0;
        while pings < 40 {
            let deadline = m.machine.next_deadline().expect("an open client has a deadline");
            let calls = match pong {
                Some((at, id)) if at <= deadline => {
                    pong = None;
                    vec![(at, Event::PongReceived(Some(id)))]
                }
                // At each deadline the driver reads the path's estimate first.
                _ => vec![(deadline, Event::PathRtt { srtt, rttvar }), (deadline, Event::Tick)],
            };
            for (t, event) in calls {
                for a in m.feed(t, event) {
                    match a {
                        Action::SendPing(id) => {
                            let rtt = srtt * 2 * rtts[pings % rtts.len()] as u32 / 1_000;
                            pong = Some((t + rtt, id));
                            pings += 1;
                        }
                        other => prop_assert!(false, "{other:?} at {t:?}: a live peer was closed"),
                    }
                }
            }
            let pt = m.machine.stats().pong_timeout;
            prop_assert!(pt >= config.pong_timeout() && pt <= config.pong_timeout().max(Duration::from_secs(60)));
        }
    }
}
