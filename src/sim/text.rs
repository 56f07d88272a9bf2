//! The scenario language's words: durations, times, events and actions, read and written
//! in one place so that parse errors, mismatch reports and recorded traces agree.

use crate::config::{Attempts, Count, Factor, Jitter, Kind, Millis, OrOff, PingPolicy, Plain};
use crate::event::{Action, Event, PingId};
use crate::policy::Decision;
use crate::reason::CloseReason;
use crate::time::Instant;
use alloc::format;
use alloc::string::String;
use core::fmt::{self, Write};
use core::time::Duration;

/// Reads a duration such as `30s`, `1.5s`, `150ms`, `2m`, `1h`, `250us`, `10ns`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| {
            format!("'{s}' has no unit; write it as 30s, 150ms, 2m, 1h, 250us or 10ns")
        })?;
    let (num, unit) = s.split_at(split);
    let scale: u128 = match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => {
            return Err(format!(
                "unknown unit '{unit}' in '{s}'; use ns, us, ms, s, m or h"
            ))
        }
    };
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(format!("'{s}' has no number"));
    }
    let bad = || format!("'{s}' is not a number with a unit");
    let int: u128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let mut nanos = int
        .checked_mul(scale)
        .ok_or_else(|| format!("'{s}' is too large"))?;
    let mut place = scale;
    for c in frac.chars() {
        let d = c.to_digit(10).ok_or_else(bad)?;
        place /= 10;
        if place == 0 {
            return Err(format!("'{s}' is more precise than a nanosecond"));
        }
        nanos += u128::from(d) * place;
    }
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| format!("'{s}' is too large (at most 584 years)"))
}

/// Writes a duration in the largest unit that keeps it exact: `30s`, `1.5s`, `150ms`.
pub(crate) fn fmt_duration(d: Duration) -> String {
    let n = d.as_nanos();
    for (unit, scale) in [("s", 1_000_000_000u128), ("ms", 1_000_000), ("us", 1_000)] {
        if n >= scale {
            let (int, rem) = (n / scale, n % scale);
            if rem == 0 {
                return format!("{int}{unit}");
            }
            if unit == "s" && rem % 1_000_000 == 0 {
                let frac = format!("{:03}", rem / 1_000_000);
                return format!("{int}.{}s", frac.trim_end_matches('0'));
            }
        }
    }
    format!("{n}ns")
}

/// Reads an instant: a duration since the epoch, or `max` for [`Instant::MAX`].
pub(crate) fn parse_instant(s: &str) -> Result<Instant, String> {
    if s == "max" {
        return Ok(Instant::MAX);
    }
    parse_duration(s).map(|d| Instant::ZERO + d)
}

pub(crate) fn fmt_instant(t: Instant) -> String {
    if t == Instant::MAX {
        return "max".into();
    }
    fmt_duration(Duration::from_nanos(t.as_nanos()))
}

/// The reason words, for error messages.
pub(crate) const REASONS: &str = "pong_timeout, idle_timeout, shutdown, too_many_pings, \
     transport, connect_timeout, peer_closed <code>, refused <status> [retry_after]";

/// Reads a close reason from its words, as in `peer_closed 1012` or `refused 503 2s`.
pub(crate) fn parse_reason(words: &[&str]) -> Result<CloseReason, String> {
    let number = |s: &str, what: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("'{s}' is not {what} (a number)"))
    };
    let (name, args) = words
        .split_first()
        .ok_or_else(|| format!("a close reason is missing; use one of: {REASONS}"))?;
    let reason = match (*name, args) {
        ("pong_timeout", []) => CloseReason::PongTimeout,
        ("idle_timeout", []) => CloseReason::IdleTimeout,
        ("shutdown", []) => CloseReason::Shutdown,
        ("too_many_pings", []) => CloseReason::TooManyPings,
        ("transport", []) => CloseReason::Transport,
        ("connect_timeout", []) => CloseReason::ConnectTimeout,
        ("peer_closed", [code]) => CloseReason::PeerClosed(number(code, "a close code")?),
        ("refused", [status]) => CloseReason::Refused {
            status: number(status, "an HTTP status")?,
            retry_after: None,
        },
        ("refused", [status, d]) => CloseReason::Refused {
            status: number(status, "an HTTP status")?,
            retry_after: Some(parse_duration(d)?),
        },
        _ => {
            return Err(format!(
                "unknown close reason '{}'; use one of: {REASONS}",
                words.join(" ")
            ))
        }
    };
    Ok(reason)
}

/// Writes a close reason as [`parse_reason`] reads it.
pub(crate) fn fmt_reason(r: CloseReason) -> String {
    match r {
        CloseReason::PeerClosed(code) => format!("peer_closed {code}"),
        CloseReason::Refused {
            status,
            retry_after: None,
        } => format!("refused {status}"),
        CloseReason::Refused {
            status,
            retry_after: Some(d),
        } => format!("refused {status} {}", fmt_duration(d)),
        r => r.name().into(),
    }
}

/// The event names, for error messages.
pub(crate) const EVENTS: &str = "tick, connected, connect_failed, disconnected, \
     closed <reason>, ping_received, pong_received [id|none], ping_written <id>, \
     data_received, data_sent, data_delivered, path_rtt <srtt> <rttvar>, path_heard <ago>, pause, resume, \
     network_changed, shutdown";

/// Reads an event from its words, as in `pong_received 3`.
pub(crate) fn parse_event(words: &[&str]) -> Result<Event, String> {
    let (name, args) = words.split_first().ok_or("a step needs an event")?;
    let event = match *name {
        "tick" => Event::Tick,
        "connected" => Event::Connected,
        "connect_failed" => Event::ConnectFailed,
        "disconnected" => Event::Disconnected,
        "closed" => return parse_reason(args).map(Event::Closed),
        "ping_received" => Event::PingReceived,
        "pong_received" => {
            let id = match args {
                [] | ["none"] => None,
                [id] => Some(parse_id(id)?),
                _ => return Err("pong_received takes one id (or none)".into()),
            };
            return Ok(Event::PongReceived(id));
        }
        "ping_written" => {
            return match args {
                [id] => Ok(Event::PingWritten(parse_id(id)?)),
                _ => Err("ping_written takes the id of the ping that left".into()),
            }
        }
        "path_rtt" => {
            return match args {
                [srtt, rttvar] => Ok(Event::PathRtt {
                    srtt: parse_duration(srtt)?,
                    rttvar: parse_duration(rttvar)?,
                }),
                _ => Err(
                    "path_rtt takes the transport's smoothed round trip and its \
                          variance, like path_rtt 300ms 50ms"
                        .into(),
                ),
            }
        }
        "path_heard" => {
            return match args {
                [ago] => Ok(Event::PathHeard {
                    ago: parse_duration(ago)?,
                }),
                _ => Err(
                    "path_heard takes how long ago the transport last heard the peer, \
                          like path_heard 250ms"
                        .into(),
                ),
            }
        }
        "data_received" => Event::DataReceived,
        "data_sent" => Event::DataSent,
        "data_delivered" => Event::DataDelivered,
        "pause" => Event::Pause,
        "resume" => Event::Resume,
        "network_changed" => Event::NetworkChanged,
        "shutdown" => Event::Shutdown,
        other => {
            return Err(format!(
                "unknown event '{other}'; expected one of: {EVENTS}"
            ))
        }
    };
    match args {
        [] => Ok(event),
        [extra, ..] => Err(format!("event '{name}' takes no argument, found '{extra}'")),
    }
}

fn parse_id(s: &str) -> Result<PingId, String> {
    s.parse()
        .map(PingId::new)
        .map_err(|_| format!("'{s}' is not a ping id (a whole number)"))
}

pub(crate) fn fmt_event(e: Event) -> String {
    match e {
        Event::Tick => "tick".into(),
        Event::Connected => "connected".into(),
        Event::ConnectFailed => "connect_failed".into(),
        Event::Disconnected => "disconnected".into(),
        Event::Closed(r) => format!("closed {}", fmt_reason(r)),
        Event::PingReceived => "ping_received".into(),
        Event::PongReceived(None) => "pong_received".into(),
        Event::PongReceived(Some(id)) => format!("pong_received {id}"),
        Event::PingWritten(id) => format!("ping_written {id}"),
        Event::PathRtt { srtt, rttvar } => {
            format!("path_rtt {} {}", fmt_duration(srtt), fmt_duration(rttvar))
        }
        Event::PathHeard { ago } => format!("path_heard {}", fmt_duration(ago)),
        Event::DataReceived => "data_received".into(),
        Event::DataSent => "data_sent".into(),
        Event::DataDelivered => "data_delivered".into(),
        Event::Pause => "pause".into(),
        Event::Resume => "resume".into(),
        Event::NetworkChanged => "network_changed".into(),
        Event::Shutdown => "shutdown".into(),
    }
}

/// An expected action: exact, or with a wildcard id or a range of delays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Pattern {
    Exact(Action),
    AnyPing,
    ReconnectWithin(Duration, Duration),
}

impl Pattern {
    pub(crate) fn matches(&self, a: &Action) -> bool {
        match (self, a) {
            (Pattern::Exact(e), a) => e == a,
            (Pattern::AnyPing, Action::SendPing(_)) => true,
            (Pattern::ReconnectWithin(lo, hi), Action::Reconnect { after }) => {
                lo <= after && after <= hi
            }
            _ => false,
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Exact(a) => f.write_str(&fmt_action(*a)),
            Pattern::AnyPing => f.write_str("send_ping"),
            Pattern::ReconnectWithin(lo, hi) => {
                write!(f, "reconnect {}..{}", fmt_duration(*lo), fmt_duration(*hi))
            }
        }
    }
}

pub(crate) const ACTIONS: &str = "send_ping [id], send_pong, close <reason>, force_close, \
     reconnect <delay|lo..hi>, connect, abort_connect, give_up <reason> [fatal]";

/// Reads one expected action, as in `reconnect 1s..2s`.
pub(crate) fn parse_action(text: &str) -> Result<Pattern, String> {
    let words: alloc::vec::Vec<&str> = text.split_whitespace().collect();
    let exact = |a| Ok(Pattern::Exact(a));
    match words.as_slice() {
        ["send_ping"] => Ok(Pattern::AnyPing),
        ["send_ping", id] => exact(Action::SendPing(parse_id(id)?)),
        ["send_pong"] => exact(Action::SendPong),
        ["close", reason @ ..] => exact(Action::Close(parse_reason(reason)?)),
        ["force_close"] => exact(Action::ForceClose),
        ["abort_connect"] => exact(Action::AbortConnect),
        ["connect"] => exact(Action::Connect),
        ["give_up", rest @ ..] => {
            let (reason, fatal) = match rest {
                [reason @ .., "fatal"] => (reason, true),
                reason => (reason, false),
            };
            exact(Action::GiveUp {
                reason: parse_reason(reason)?,
                fatal,
            })
        }
        ["reconnect", d] => match d.split_once("..") {
            Some((lo, hi)) => {
                let (lo, hi) = (parse_duration(lo)?, parse_duration(hi)?);
                if lo > hi {
                    return Err(format!("reconnect range {d} is empty"));
                }
                Ok(Pattern::ReconnectWithin(lo, hi))
            }
            None => exact(Action::Reconnect {
                after: parse_duration(d)?,
            }),
        },
        [] => Err("an empty action between commas".into()),
        _ => Err(format!(
            "unknown action '{text}'; expected one of: {ACTIONS}"
        )),
    }
}

pub(crate) fn fmt_action(a: Action) -> String {
    match a {
        Action::SendPing(id) => format!("send_ping {id}"),
        Action::SendPong => "send_pong".into(),
        Action::Close(r) => format!("close {}", fmt_reason(r)),
        Action::ForceClose => "force_close".into(),
        Action::Reconnect { after } => format!("reconnect {}", fmt_duration(after)),
        Action::AbortConnect => "abort_connect".into(),
        Action::Connect => "connect".into(),
        Action::GiveUp { reason, fatal } => format!(
            "give_up {}{}",
            fmt_reason(reason),
            if fatal { " fatal" } else { "" }
        ),
    }
}

/// Writes actions as a scenario writes them: `send_pong, send_ping 3`, or `nothing`.
pub(crate) fn fmt_actions(actions: &[Action]) -> String {
    if actions.is_empty() {
        return "nothing".into();
    }
    let mut s = String::new();
    for (i, a) in actions.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{}", fmt_action(*a));
    }
    s
}

/// Reads a reconnect decision: `backoff`, `soon`, `later`, `give_up`, `not_before:30s`.
pub(crate) fn parse_decision(s: &str) -> Result<Decision, String> {
    Ok(match s {
        "backoff" => Decision::Backoff,
        "soon" => Decision::Soon,
        "later" => Decision::Later,
        "give_up" => Decision::GiveUp,
        _ => match s.strip_prefix("not_before:") {
            Some(d) => Decision::NotBefore(parse_duration(d)?),
            None => {
                return Err(format!(
                    "unknown decision '{s}'; use backoff, soon, later, give_up or \
                     not_before:<duration>"
                ))
            }
        },
    })
}

pub(crate) fn fmt_decision(d: Decision) -> String {
    match d {
        Decision::Backoff => "backoff".into(),
        Decision::Soon => "soon".into(),
        Decision::Later => "later".into(),
        Decision::GiveUp => "give_up".into(),
        Decision::NotBefore(d) => format!("not_before:{}", fmt_duration(d)),
    }
}

/// A setting's value as scenario text: read with [`Text::parse`], written with
/// [`Text::write`] (`None`: the setting is off, and left out).
pub(crate) trait Text: Kind {
    fn parse(s: &str) -> Result<Self::Input, String>;
    fn write(stored: Self::Stored) -> Option<String>;
}

impl Text for Millis {
    fn parse(s: &str) -> Result<Duration, String> {
        parse_duration(s)
    }
    fn write(ms: u32) -> Option<String> {
        Some(fmt_duration(Millis::output(ms)))
    }
}

impl Text for OrOff {
    fn parse(s: &str) -> Result<Duration, String> {
        if s == "off" {
            return Ok(Duration::ZERO);
        }
        parse_duration(s)
    }
    fn write(ms: u32) -> Option<String> {
        OrOff::output(ms).map(fmt_duration)
    }
}

impl Text for Attempts {
    fn parse(s: &str) -> Result<u32, String> {
        s.parse().map_err(|_| format!("'{s}' is not a count"))
    }
    fn write(n: u32) -> Option<String> {
        Attempts::output(n).map(|n| format!("{n}"))
    }
}

impl Text for Count {
    fn parse(s: &str) -> Result<u32, String> {
        s.parse().map_err(|_| format!("'{s}' is not a count"))
    }
    fn write(n: u32) -> Option<String> {
        Some(format!("{n}"))
    }
}

impl Text for Factor {
    fn parse(s: &str) -> Result<f32, String> {
        s.parse().map_err(|_| format!("'{s}' is not a number"))
    }
    fn write(sixteenths: u8) -> Option<String> {
        Some(format!("{}", Factor::output(sixteenths)))
    }
}

impl Text for Plain<u64> {
    fn parse(s: &str) -> Result<u64, String> {
        s.parse()
            .map_err(|_| format!("'{s}' is not a 64-bit number"))
    }
    fn write(n: u64) -> Option<String> {
        Some(format!("{n}"))
    }
}

/// The value a word of `table` names; an unknown word is refused with the words there
/// are (`what`: the setting).
fn from_word<T: Copy>(table: &[(&str, T)], what: &str, s: &str) -> Result<T, String> {
    if let Some((_, v)) = table.iter().find(|(n, _)| *n == s) {
        return Ok(*v);
    }
    let mut words = String::new();
    for (i, (n, _)) in table.iter().enumerate() {
        let sep = match i {
            0 => "",
            i if i + 1 == table.len() => " or ",
            _ => ", ",
        };
        words.push_str(sep);
        words.push_str(n);
    }
    Err(format!("unknown {what} '{s}'; use {words}"))
}

/// The word `table` has for `v`.
fn to_word<T: PartialEq>(table: &[(&str, T)], v: T) -> Option<String> {
    table
        .iter()
        .find(|(_, w)| *w == v)
        .map(|(n, _)| (*n).into())
}

const POLICIES: [(&str, PingPolicy); 3] = [
    ("when_idle", PingPolicy::WhenIdle),
    ("fixed", PingPolicy::Fixed),
    ("never", PingPolicy::Never),
];

impl Text for Plain<PingPolicy> {
    fn parse(s: &str) -> Result<PingPolicy, String> {
        from_word(&POLICIES, "ping_policy", s)
    }
    fn write(p: PingPolicy) -> Option<String> {
        to_word(&POLICIES, p)
    }
}

const JITTERS: [(&str, Jitter); 3] = [
    ("none", Jitter::None),
    ("full", Jitter::Full),
    ("equal", Jitter::Equal),
];

impl Text for Plain<Jitter> {
    fn parse(s: &str) -> Result<Jitter, String> {
        from_word(&JITTERS, "jitter", s)
    }
    fn write(j: Jitter) -> Option<String> {
        to_word(&JITTERS, j)
    }
}
