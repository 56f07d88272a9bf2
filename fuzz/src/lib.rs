//! Shared by the fuzz targets: a compact byte format for `(config, trace)` inputs, its
//! encoder (for seeding the corpus from `tests/scenarios/`), and the one check every
//! trace goes through: the oracle of `tests/check`, the same one the property tests use.

#[path = "../../tests/check/mod.rs"]
mod check;

use check::oracle::Oracle;
use check::setcheck::SetCheck;
pub use check::setcheck::SetOp;
pub use check::settings;
use check::settings::{Form, Table};
use keepalive::sim::Recorder;
use keepalive::{CloseReason, Config, Decision, Duration, Event, Instant, PingId, Role, Setting};
use std::sync::OnceLock;

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
    Event::PathMoved {
        ago: Duration::ZERO,
    },
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
        Event::Closed(CloseReason::PeerClosed(_)) => {
            Event::Closed(CloseReason::PeerClosed(CODES[lo]))
        }
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
        Event::PathMoved { .. } => Event::PathMoved {
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
        Event::Closed(r) => (16, REASONS.iter().position(|x| *x == r).unwrap_or(0) as u8),
        Event::PathRtt { srtt, .. } => (17, (srtt.as_millis() as f64).sqrt().min(255.0) as u8),
        Event::PathMoved { ago } => (18, (ago.as_millis() as f64).sqrt().min(255.0) as u8),
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
pub fn decision(d: u8, wait_ms: u32) -> Decision {
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

/// The settings table, read once.
pub fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(Table::read)
}

/// How many bytes a value of `form` takes.
fn width(form: &Form) -> usize {
    match form {
        Form::Factor | Form::Words(_) => 1,
        Form::Wide => 8,
        _ => 4,
    }
}

/// The config: a role byte (its low bit: a server), then every setting of the table
/// that is written `name=value`, in the table's order (a server skips a client's), each
/// in its form's exact terms (`settings::text`): a `u32` for a duration in ms (0: off)
/// or a count, a byte for a factor in sixteenths or a word's index, a `u64` for a
/// 64-bit number; then, for a client, the number of overrides and each as 8 bytes
/// (which override, decision, `u16` code, `u32` wait in ms); then the start instant.
fn decode_config(r: &mut Reader<'_>) -> Option<(Config, Instant)> {
    let server = r.u8() & 1 != 0;
    let table = table();
    let mut values = Vec::new();
    for row in table.plain(server) {
        let raw = match width(&row.form) {
            1 => u64::from(r.u8()),
            8 => r.u64(),
            _ => u64::from(r.u32()),
        };
        values.push((row.setting, settings::text(&row.form, raw)));
    }
    if !server {
        let keyed: Vec<_> = table.keyed().collect();
        let n = usize::from(r.u8() % 5);
        for _ in 0..n {
            let (which, dec) = (r.u8(), r.u8());
            let code = r.u16();
            let d = decision(dec, r.u32());
            let row = keyed[usize::from(which) % keyed.len()];
            values.push((row.setting, settings::override_text(code, d)));
        }
    }
    let start = Instant::from_nanos(r.u64());
    let config = Table::build(server, &values).ok()?;
    Some((config, start))
}

/// Encodes an input (the inverse of [`decode`], to the microsecond), for seed corpora.
pub fn encode(config: &Config, start: Instant, steps: &[(Instant, Event)]) -> Vec<u8> {
    let server = config.role() == Role::Server;
    let table = table();
    let values = Table::values(*config);
    let mut out = vec![u8::from(server)];
    for row in table.plain(server) {
        let text = values
            .iter()
            .find(|(k, _)| k == row.setting.name())
            .map_or(row.default.as_str(), |(_, v)| v.as_str());
        let raw = settings::raw(&row.form, text);
        match width(&row.form) {
            1 => out.push(raw as u8),
            8 => out.extend(raw.to_le_bytes()),
            _ => out.extend((raw.min(u64::from(u32::MAX)) as u32).to_le_bytes()),
        }
    }
    if !server {
        let keyed: Vec<_> = table.keyed().map(|r| r.setting).collect();
        let overrides: Vec<_> = config.overrides().collect();
        out.push(overrides.len() as u8);
        for (reason, d) in overrides {
            let (dec, wait) = decision_bytes(d);
            let (setting, code) = match reason {
                CloseReason::Refused { status, .. } => (Setting::OnHttpStatus, status),
                other => (Setting::OnCloseCode, other.code()),
            };
            out.push(keyed.iter().position(|s| *s == setting).unwrap_or(0) as u8);
            out.push(dec);
            out.extend(code.to_le_bytes());
            out.extend(wait.to_le_bytes());
        }
    }
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
