//! Shared by the fuzz targets: a compact byte format for `(config, trace)` inputs, its
//! encoder (for seeding the corpus from `tests/scenarios/`), and the one check every
//! trace goes through: `keepalive::sim::Oracle`, the same oracle the property tests use.

use keepalive::policy::{end_on_normal_close, Policy};
use keepalive::sim::{any_decision, Oracle, Recorder, SetCheck, SetOp};
use keepalive::{Config, Duration, Event, Instant, Jitter, PingId, PingPolicy, Role};

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
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }
}

const EVENTS: [Event; 16] = [
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
    Event::CloseReceived(0),
    Event::Refused {
        status: 0,
        retry_after: None,
    },
];

/// The close codes and HTTP statuses the high nibble picks from: every row of the
/// reconnect policy's table, and a few it does not name.
const CODES: [u16; 16] = [
    1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999,
];
const STATUSES: [u16; 16] = [
    101, 301, 400, 401, 403, 404, 408, 410, 426, 429, 500, 502, 503, 504, 599, 999,
];

/// Decodes bytes into an input; `None` when the config is refused (a valid outcome).
///
/// Layout: a flags byte, ten little-endian `u32` millisecond durations, the multiplier
/// in sixteenths, `max_attempts`, the reconnect policy (none, end on a normal close, or
/// one that says anything), the seed and the start instant, then 6-byte steps: event,
/// time-step kind, `u32` amount.
pub fn decode(data: &[u8]) -> Option<Input> {
    let mut r = Reader { data };
    let (config, start) = decode_config(&mut r)?;
    let mut steps = Vec::new();
    let mut t = start;
    while !r.data.is_empty() && steps.len() < 4096 {
        let e = r.u8();
        let kind = r.u8();
        let amount = r.u32();
        t = step_time(t, kind, amount);
        steps.push((t, event(e)));
    }
    Some(Input {
        config,
        start,
        steps,
    })
}

/// An event from its byte: the low nibble picks the kind; for a pong the high nibble is
/// the echoed id plus one (0: none), for a written ping the id itself, for a close its
/// code, for a refusal its status (odd ones with a `Retry-After` of `hi × 97` s).
fn event(e: u8) -> Event {
    let hi = usize::from(e >> 4);
    match EVENTS[usize::from(e & 15) % EVENTS.len()] {
        Event::PongReceived(_) if hi != 0 => Event::PongReceived(Some(PingId::new(hi as u64 - 1))),
        Event::PingWritten(_) => Event::PingWritten(PingId::new(hi as u64)),
        Event::CloseReceived(_) => Event::CloseReceived(CODES[hi]),
        Event::Refused { .. } => Event::Refused {
            status: STATUSES[hi],
            retry_after: (hi % 2 == 1).then(|| Duration::from_secs(hi as u64 * 97)),
        },
        ev => ev,
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

/// The set target's input: the same config prefix, then 7-byte operations: an op/key
/// byte, an event byte, a time-step kind byte (microseconds or milliseconds, forward
/// only: the set has one clock) and a `u32` amount.
pub fn decode_set(data: &[u8]) -> Option<(Config, Instant, Vec<(Instant, SetOp<u8>)>)> {
    let mut r = Reader { data };
    let (config, start) = decode_config(&mut r)?;
    let mut ops = Vec::new();
    let mut t = start;
    while !r.data.is_empty() && ops.len() < 2048 {
        let op = r.u8();
        let e = r.u8();
        t = step_time(t, r.u8() % 2, r.u32());
        let key = op >> 2 & 7;
        let op = match op & 3 {
            0 => SetOp::Insert(key),
            1 => SetOp::Remove(key),
            2 => SetOp::Handle(key, event(e)),
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

fn decode_config(r: &mut Reader<'_>) -> Option<(Config, Instant)> {
    let flags = r.u8();
    let ms = |v: u32| Duration::from_millis(u64::from(v));
    let mut d = [0u32; 10];
    for v in &mut d {
        *v = r.u32();
    }
    let mult = r.u8();
    let attempts = r.u8();
    let reconnect = r.u8();
    let seed = r.u64();
    let start = Instant::from_nanos(r.u64());
    let mut b = if flags & 1 == 0 {
        Config::client()
    } else {
        Config::server()
    }
    .ping_policy(
        [
            PingPolicy::WhenIdle,
            PingPolicy::Fixed,
            PingPolicy::Never,
            PingPolicy::WhenIdle,
        ][usize::from(flags >> 1 & 3)],
    )
    .jitter([Jitter::None, Jitter::Full, Jitter::Equal, Jitter::Equal][usize::from(flags >> 3 & 3)])
    .ping_interval(ms(d[0]))
    .pong_timeout(ms(d[1]))
    .backoff_initial(ms(d[3]))
    .backoff_max(ms(d[4]))
    .stable_after(ms(d[5]))
    .close_timeout(ms(d[6]))
    .connect_timeout(ms(d[7]))
    .backoff_multiplier(f32::from(mult) / 16.0)
    .retry_after_max(ms(d[9]))
    .seed(seed);
    b = match reconnect % 3 {
        0 => b,
        1 => b.reconnect_policy(end_on_normal_close),
        _ => b.reconnect_policy(any_decision),
    };
    if flags & 32 != 0 {
        b = b.idle_timeout(ms(d[2]));
    }
    if flags & 64 != 0 {
        b = b.max_attempts(u32::from(attempts));
    }
    if flags & 128 != 0 {
        b = b.path_idle_limit(ms(d[8]));
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
        Duration::ZERO,
        config.retry_after_max(),
    ];
    for d in durations {
        out.extend(ms(d).to_le_bytes());
    }
    out.push((config.backoff_multiplier() * 16.0) as u8);
    out.push(config.max_attempts().map_or(0, |n| n.min(255) as u8));
    let end_on_normal = end_on_normal_close as Policy as usize;
    out.push(match config.reconnect_policy().map(|p| p as usize) {
        None => 0,
        Some(p) if p == end_on_normal => 1,
        Some(_) => 2,
    });
    out.extend(config.seed().to_le_bytes());
    out.extend(start.as_nanos().to_le_bytes());
    let mut prev = start;
    for &(t, e) in steps {
        let code = match e {
            Event::PongReceived(Some(id)) => 5 | (((id.get() + 1).min(15) as u8) << 4),
            Event::PingWritten(id) => 13 | ((id.get().min(15) as u8) << 4),
            Event::CloseReceived(code) => {
                14 | (CODES.iter().position(|c| *c == code).unwrap_or(0) as u8) << 4
            }
            Event::Refused { status, .. } => {
                15 | (STATUSES.iter().position(|c| *c == status).unwrap_or(0) as u8) << 4
            }
            e => EVENTS.iter().position(|x| *x == e).unwrap_or(0) as u8,
        };
        let (kind, amount) = if t == Instant::MAX {
            (3u8, 0u64)
        } else if t < prev {
            (2, (prev - t).as_micros() as u64)
        } else if (t - prev).as_micros() < u128::from(u32::MAX) {
            (0, (t - prev).as_micros() as u64)
        } else {
            (1, (t - prev).as_millis() as u64)
        };
        out.push(code);
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
