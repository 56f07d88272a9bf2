//! The scenario language's words: durations, times, events and actions, read and written
//! in one place so that parse errors, mismatch reports and recorded traces agree.

use crate::config::{Jitter, PingPolicy};
use crate::event::{Action, CloseReason, Event, PingId};
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

/// The event names, for error messages.
pub(crate) const EVENTS: &str = "tick, connected, connect_failed, refused <status> [retry_after], \
     disconnected, close_received <code>, ping_received, \
     pong_received [id|none], ping_written <id>, data_received, data_sent, data_delivered, \
     pause, resume, network_changed, shutdown";

/// Reads an event from its words, as in `pong_received 3`.
pub(crate) fn parse_event(words: &[&str]) -> Result<Event, String> {
    let (name, args) = words.split_first().ok_or("a step needs an event")?;
    let event = match *name {
        "tick" => Event::Tick,
        "connected" => Event::Connected,
        "connect_failed" => Event::ConnectFailed,
        "disconnected" => Event::Disconnected,
        "close_received" => {
            return match args {
                [code] => {
                    Ok(Event::CloseReceived(code.parse().map_err(|_| {
                        format!("'{code}' is not a close code (a number)")
                    })?))
                }
                _ => Err(
                    "close_received takes the peer's close code, like close_received 1012".into(),
                ),
            }
        }
        "refused" => {
            let status = |s: &str| {
                s.parse::<u16>()
                    .map_err(|_| format!("'{s}' is not an HTTP status (a number)"))
            };
            return match args {
                [s] => Ok(Event::Refused {
                    status: status(s)?,
                    retry_after: None,
                }),
                [s, d] => Ok(Event::Refused {
                    status: status(s)?,
                    retry_after: Some(parse_duration(d)?),
                }),
                _ => Err("refused takes an HTTP status and, if it sent one, its Retry-After: refused 503 2s".into()),
            };
        }
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
        Event::CloseReceived(code) => format!("close_received {code}"),
        Event::Refused {
            status,
            retry_after: None,
        } => format!("refused {status}"),
        Event::Refused {
            status,
            retry_after: Some(d),
        } => format!("refused {status} {}", fmt_duration(d)),
        Event::PingReceived => "ping_received".into(),
        Event::PongReceived(None) => "pong_received".into(),
        Event::PongReceived(Some(id)) => format!("pong_received {id}"),
        Event::PingWritten(id) => format!("ping_written {id}"),
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

pub(crate) const ACTIONS: &str =
    "send_ping [id], send_pong, close <pong_timeout|idle_timeout|shutdown>, \
     force_close, reconnect <delay|lo..hi>, connect, abort_connect, give_up";

/// Reads one expected action, as in `reconnect 1s..2s`.
pub(crate) fn parse_action(text: &str) -> Result<Pattern, String> {
    let words: alloc::vec::Vec<&str> = text.split_whitespace().collect();
    let exact = |a| Ok(Pattern::Exact(a));
    match words.as_slice() {
        ["send_ping"] => Ok(Pattern::AnyPing),
        ["send_ping", id] => exact(Action::SendPing(parse_id(id)?)),
        ["send_pong"] => exact(Action::SendPong),
        ["close", reason] => exact(Action::Close(parse_reason(reason)?)),
        ["force_close"] => exact(Action::ForceClose),
        ["abort_connect"] => exact(Action::AbortConnect),
        ["connect"] => exact(Action::Connect),
        ["give_up"] => exact(Action::GiveUp),
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

fn parse_reason(s: &str) -> Result<CloseReason, String> {
    Ok(match s {
        "pong_timeout" => CloseReason::PongTimeout,
        "idle_timeout" => CloseReason::IdleTimeout,
        "shutdown" => CloseReason::Shutdown,
        _ => {
            return Err(format!(
                "unknown close reason '{s}'; use pong_timeout, idle_timeout or shutdown"
            ))
        }
    })
}

pub(crate) fn reason_name(r: CloseReason) -> &'static str {
    match r {
        CloseReason::PongTimeout => "pong_timeout",
        CloseReason::IdleTimeout => "idle_timeout",
        CloseReason::Shutdown => "shutdown",
    }
}

pub(crate) fn fmt_action(a: Action) -> String {
    match a {
        Action::SendPing(id) => format!("send_ping {id}"),
        Action::SendPong => "send_pong".into(),
        Action::Close(r) => format!("close {}", reason_name(r)),
        Action::ForceClose => "force_close".into(),
        Action::Reconnect { after } => format!("reconnect {}", fmt_duration(after)),
        Action::AbortConnect => "abort_connect".into(),
        Action::Connect => "connect".into(),
        Action::GiveUp => "give_up".into(),
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

pub(crate) fn parse_policy(s: &str) -> Result<PingPolicy, String> {
    Ok(match s {
        "when_idle" => PingPolicy::WhenIdle,
        "fixed" => PingPolicy::Fixed,
        "never" => PingPolicy::Never,
        _ => {
            return Err(format!(
                "unknown ping_policy '{s}'; use when_idle, fixed or never"
            ))
        }
    })
}

pub(crate) fn parse_jitter(s: &str) -> Result<Jitter, String> {
    Ok(match s {
        "none" => Jitter::None,
        "full" => Jitter::Full,
        "equal" => Jitter::Equal,
        _ => return Err(format!("unknown jitter '{s}'; use none, full or equal")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip() {
        for s in ["30s", "1.5s", "150ms", "250us", "10ns", "0ns", "20.05s"] {
            let d = parse_duration(s).unwrap();
            assert_eq!(parse_duration(&fmt_duration(d)).unwrap(), d, "{s}");
        }
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration(".5s").unwrap(), Duration::from_millis(500));
        for bad in [
            "",
            "s",
            "30",
            "3x",
            "1.2.3s",
            "99999999999999999999999h",
            "0.0000000001s",
            ".",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
