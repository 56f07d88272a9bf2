//! Shared by the fuzz targets: a compact byte format for `(config, trace)` inputs, its
//! encoder (for seeding the corpus from `tests/scenarios/`), and the one check every
//! trace goes through: the oracle of `tests/check`, the same one the property tests use.

#[path = "../../tests/check/mod.rs"]
mod check;

use check::oracle::Oracle;
pub use check::setcheck::SetOp;
use check::setcheck::SetCheck;
use keepalive::sim::Recorder;
use keepalive::{
    CloseReason, Config, Decision, Duration, Event, Instant, Jitter, PingId, PingPolicy, Role,
};

/// A fuzz input, decoded.
#[derive(Debug)]
pub struct Input {
    /// The configuration (already accepted by `build`).
    pub config: Config,
    /// When the machine is created.
    pub start: Instant,
    /// The calls: time and event.
    pub steps: Vec<(Instant, Event)>,
}

struct Reader<'a> {
    data: &'a [u8],
}

impl Reader<'_> {
    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }
}

/// The event kinds a step's first byte picks from; its parameter byte fills them in.
const EVENTS: [Event; 20] = [
    Event::Tick,
    Event::Connected,
    Event::ConnectFailed,
    Event::Disconnected,
    Event::PingReceived,
    Event::PongReceived(None),
    Event::DataReceived,
    Event::DataSent,
    Event::Pause,
    Event::Resume,
    Event::NetworkChanged,
    Event::Shutdown,
    Event::DataDelivered,
    Event::PingWritten(PingId::new(0)),
    Event::Closed(CloseReason::PeerClosed(0)),
    Event::Closed(CloseReason::Refused {
        status: 0,
        retry_after: None,
    }),
    Event::Closed(CloseReason::Transport),
    Event::PathRtt {
        srtt: Duration::ZERO,
        rttvar: Duration::ZERO,
    },
    Event::PingReceived,
    Event::PathHeard {
        ago: Duration::ZERO,
    },
];

/// The close codes and HTTP statuses a parameter picks from: every row of the reconnect
/// table, and a few it does not name.
const CODES: [u16; 16] = [
    1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
];
const STATUSES: [u16; 16] = [
    101, 301, 400, 401, 403, 404, 408, 410, 426, 429, 500, 502, 503, 504, 599, 999,
];
/// The reasons of `Closed` besides the peer's close and a refusal.
const REASONS: [CloseReason; 6] = [
    CloseReason::TooManyPings,
    CloseReason::Transport,
    CloseReason::ConnectTimeout,
    CloseReason::PongTimeout,
    CloseReason::IdleTimeout,
    CloseReason::Shutdown,
];

/// Decodes bytes into an input; `None` when the config is refused (a valid outcome).
///
/// Layout: the config (see `decode_config`), then 7-byte steps: event kind, parameter,
/// time-step kind, `u32` amount.
pub fn decode(data: &[u8]) -> Option<Input> {
    let mut r = Reader { data };
    let (config, start) = decode_config(&mut r)?;
    let mut steps = Vec::new();
    let mut t = start;
    while !r.data.is_empty() && steps.len() < 4096 {
        let (e, p) = (r.u8(), r.u8());
        let kind = r.u8();
        let amount = r.u32();
        t = step_time(t, kind, amount);
        steps.push((t, event(e, p)));
    }
    Some(Input {
        config,
        start,
        steps,
    })
}

/// An event from its kind byte and its parameter: a pong's echoed id plus one (0: none),
/// a written ping's id, a close code, a refused status (with a `Retry-After` of `p × 97`
/// s when `p` has its 16 bit), another reason, a path estimate, or how long ago the
/// path heard the peer (`p²` ms).
fn event(e: u8, p: u8) -> Event {
    let lo = usize::from(p % 16);
    match EVENTS[usize::from(e) % EVENTS.len()] {
        Event::PongReceived(_) if p != 0 => {
            Event::PongReceived(Some(PingId::new(u64::from(p) - 1)))
        }
        Event::PingWritten(_) => Event::PingWritten(PingId::new(u64::from(p))),
        Event::Closed(CloseReason::PeerClosed(_)) => Event::Closed(CloseReason::PeerClosed(CODES[lo])),
        Event::Closed(CloseReason::Refused { .. }) => Event::Closed(CloseReason::Refused {
            status: STATUSES[lo],
            retry_after: (p & 16 != 0).then(|| Duration::from_secs(u64::from(p) * 97)),
        }),
        Event::Closed(_) => Event::Closed(REASONS[usize::from(p) % REASONS.len()]),
        Event::PathRtt { .. } => Event::PathRtt {
            srtt: Duration::from_millis(u64::from(p) * u64::from(p)),
            rttvar: Duration::from_millis(u64::from(p % 32) * 11),
        },
        Event::PathHeard { .. } => Event::PathHeard {
            ago: Duration::from_millis(u64::from(p) * u64::from(p)),
        },
        ev => ev,
    }
}

/// The inverse of [`event`]: the kind byte and the parameter.
fn event_bytes(e: Event) -> (u8, u8) {
    let kind = |e: Event| EVENTS.iter().position(|x| *x == e).unwrap_or(0) as u8;
    let pos = |list: &[u16], v: u16| list.iter().position(|c| *c == v).unwrap_or(0) as u8;
    match e {
        Event::PongReceived(Some(id)) => (5, (id.get() + 1).min(255) as u8),
        Event::PingWritten(id) => (13, id.get().min(255) as u8),
        Event::Closed(CloseReason::PeerClosed(code)) => (14, pos(&CODES, code)),
        Event::Closed(CloseReason::Refused { status, .. }) => (15, pos(&STATUSES, status)),
        Event::Closed(r) => (
            16,
            REASONS.iter().position(|x| *x == r).unwrap_or(0) as u8,
        ),
        Event::PathRtt { srtt, .. } => (17, (srtt.as_millis() as f64).sqrt().min(255.0) as u8),
        Event::PathHeard { ago } => (19, (ago.as_millis() as f64).sqrt().min(255.0) as u8),
        e => (kind(e), 0),
    }
}

fn step_time(t: Instant, kind: u8, amount: u32) -> Instant {
    let amount = u64::from(amount);
    match kind % 5 {
        0 => t + Duration::from_micros(amount),
        1 => t + Duration::from_millis(amount),
        2 => t - Duration::from_micros(amount),
        3 => Instant::MAX,
        _ => Instant::from_nanos(amount << 32),
    }
}

/// The set target's input: the same config, then 8-byte operations: an op/key byte, an
/// event kind and its parameter, a time-step kind (microseconds or milliseconds, forward
/// only: the set has one clock) and a `u32` amount.
pub fn decode_set(data: &[u8]) -> Option<(Config, Instant, Vec<(Instant, SetOp<u8>)>)> {
    let mut r = Reader { data };
    let (config, start) = decode_config(&mut r)?;
    let mut ops = Vec::new();
    let mut t = start;
    while !r.data.is_empty() && ops.len() < 2048 {
        let op = r.u8();
        let (e, p) = (r.u8(), r.u8());
        t = step_time(t, r.u8() % 2, r.u32());
        let key = op >> 2 & 7;
        let op = match op & 3 {
            0 => SetOp::Insert(key),
            1 => SetOp::Remove(key),
            2 => SetOp::Handle(key, event(e, p)),
            _ => SetOp::Poll,
        };
        ops.push((t, op));
    }
    Some((config, start, ops))
}

/// Runs set operations beside one machine per key; panics on any disagreement.
pub fn check_set(config: Config, ops: &[(Instant, SetOp<u8>)]) {
    let mut check = SetCheck::new(config);
    for (i, (t, op)) in ops.iter().enumerate() {
        if let Err(v) = check.apply(*t, op.clone()) {
            panic!("{v}\n--- operations up to the break ---\n{:#?}", &ops[..=i]);
        }
    }
}

/// The decisions an override's byte picks from.
fn decision(d: u8, wait_ms: u32) -> Decision {
    match d % 5 {
        0 => Decision::Backoff,
        1 => Decision::Soon,
        2 => Decision::Later,
        3 => Decision::GiveUp,
        _ => Decision::NotBefore(Duration::from_millis(u64::from(wait_ms))),
    }
}

fn decision_bytes(d: Decision) -> (u8, u32) {
    match d {
        Decision::Backoff => (0, 0),
        Decision::Soon => (1, 0),
        Decision::Later => (2, 0),
        Decision::GiveUp => (3, 0),
        Decision::NotBefore(w) => (4, u32::try_from(w.as_millis()).unwrap_or(u32::MAX)),
        _ => (0, 0),
    }
}

/// The config: a flags byte (server, ping policy, jitter, and which of idle timeout, max
/// attempts and path limit are set), ten `u32` millisecond durations, the minimum ping
/// interval (ms, 0: off), the keepalive ceiling's room above the ping interval (ms, 0:
/// off), the strikes, the multiplier in sixteenths, max attempts, the
/// number of overrides and each as 8 bytes (close or status, decision, `u16` code, `u32`
/// wait in ms), the seed and the start instant. Reconnect settings apply to a client only.
fn decode_config(r: &mut Reader<'_>) -> Option<(Config, Instant)> {
    let flags = r.u8();
    let ms = |v: u32| Duration::from_millis(u64::from(v));
    let mut d = [0u32; 10];
    for v in &mut d {
        *v = r.u32();
    }
    let min_ping = r.u32();
    let ceiling = r.u32();
    let strikes = r.u8();
    let mult = r.u8();
    let attempts = r.u8();
    let n = usize::from(r.u8() % 5);
    let overrides: Vec<(bool, u16, Decision)> = (0..n)
        .map(|_| {
            let (kind, dec) = (r.u8(), r.u8());
            let code = r.u16();
            (kind & 1 == 0, code, decision(dec, r.u32()))
        })
        .collect();
    let seed = r.u64();
    let start = Instant::from_nanos(r.u64());
    let server = flags & 1 != 0;
    let mut b = if server {
        Config::server()
    } else {
        Config::client()
    }
    .ping_policy(
        [
            PingPolicy::WhenIdle,
            PingPolicy::Fixed,
            PingPolicy::Never,
            PingPolicy::WhenIdle,
        ][usize::from(flags >> 1 & 3)],
    )
    .ping_interval(ms(d[0]))
    .pong_timeout(ms(d[1]))
    .close_timeout(ms(d[6]))
    .connect_timeout(ms(d[7]))
    .min_ping_interval(ms(min_ping))
    .max_ping_strikes(u32::from(strikes))
    .seed(seed);
    if !server {
        b = b
            .jitter([Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Equal][usize::from(flags >> 3 & 3)])
            .backoff_initial(ms(d[3]))
            .backoff_max(ms(d[4]))
            .stable_after(ms(d[5]))
            .backoff_multiplier(f32::from(mult) / 16.0)
            .retry_after_max(ms(d[9]));
        for (close, code, dec) in overrides {
            b = if close {
                b.on_close_code(code, dec)
            } else {
                b.on_http_status(code, dec)
            };
        }
        if flags & 64 != 0 {
            b = b.max_attempts(u32::from(attempts));
        }
    }
    if flags & 32 != 0 {
        b = b.idle_timeout(ms(d[2]));
    }
    if flags & 128 != 0 {
        b = b.path_idle_limit(ms(d[8]));
    }
    if ceiling != 0 {
        b = b.keepalive_ceiling(ms(d[0].saturating_add(ceiling)));
    }
    let config = b.build().ok()?;
    Some((config, start))
}

/// Encodes an input (the inverse of [`decode`], to the microsecond), for seed corpora.
pub fn encode(config: &Config, start: Instant, steps: &[(Instant, Event)]) -> Vec<u8> {
    let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
    let policy = match config.ping_policy() {
        PingPolicy::Fixed => 1,
        PingPolicy::Never => 2,
        _ => 0,
    };
    let jitter = match config.jitter() {
        Jitter::None => 0,
        Jitter::Full => 1,
        _ => 2,
    };
    let mut flags = u8::from(config.role() == Role::Server) | policy << 1 | jitter << 3;
    if config.idle_timeout().is_some() {
        flags |= 32;
    }
    if config.max_attempts().is_some() {
        flags |= 64;
    }
    if config.path_idle_limit().is_some() {
        flags |= 128;
    }
    let mut out = vec![flags];
    let durations = [
        config.ping_interval(),
        config.pong_timeout(),
        config.idle_timeout().unwrap_or(Duration::ZERO),
        config.backoff_initial(),
        config.backoff_max(),
        config.stable_after(),
        config.close_timeout(),
        config.connect_timeout(),
        config.path_idle_limit().unwrap_or(Duration::ZERO),
        config.retry_after_max(),
    ];
    for d in durations {
        out.extend(ms(d).to_le_bytes());
    }
    out.extend(ms(config.min_ping_interval().unwrap_or(Duration::ZERO)).to_le_bytes());
    let room = config
        .keepalive_ceiling()
        .map_or(Duration::ZERO, |c| c.saturating_sub(config.ping_interval()));
    out.extend(ms(room).to_le_bytes());
    out.push(config.max_ping_strikes().min(255) as u8);
    out.push((config.backoff_multiplier() * 16.0) as u8);
    out.push(config.max_attempts().map_or(0, |n| n.min(255) as u8));
    let overrides: Vec<_> = config.overrides().collect();
    out.push(overrides.len() as u8);
    for (reason, d) in overrides {
        let (dec, wait) = decision_bytes(d);
        let (close, code) = match reason {
            CloseReason::Refused { status, .. } => (false, status),
            other => (true, other.code()),
        };
        out.push(u8::from(!close));
        out.push(dec);
        out.extend(code.to_le_bytes());
        out.extend(wait.to_le_bytes());
    }
    out.extend(config.seed().to_le_bytes());
    out.extend(start.as_nanos().to_le_bytes());
    let mut prev = start;
    for &(t, e) in steps {
        let (kind_byte, param) = event_bytes(e);
        let (kind, amount) = if t == Instant::MAX {
            (3u8, 0u64)
        } else if t < prev {
            (2, (prev - t).as_micros() as u64)
        } else if (t - prev).as_micros() < u128::from(u32::MAX) {
            (0, (t - prev).as_micros() as u64)
        } else {
            (1, (t - prev).as_millis() as u64)
        };
        out.push(kind_byte);
        out.push(param);
        out.push(kind);
        out.extend(u32::try_from(amount).unwrap_or(u32::MAX).to_le_bytes());
        prev = t;
    }
    out
}

/// Replays a trace under the oracle; panics (a fuzzer finding) on any broken rule, with
/// the trace as scenario text to save under `tests/scenarios/`.
pub fn check_trace(config: Config, start: Instant, steps: &[(Instant, Event)]) {
    let mut rec = Recorder::new(config, start);
    let mut oracle = Oracle::new(rec.machine());
    for &(t, e) in steps {
        let actions = rec.handle(t, e);
        if let Err(v) = oracle.check(t, e, &actions, rec.machine()) {
            panic!("{v}\n--- as a scenario ---\n{}", rec.scenario());
        }
    }
}
