//! The scenario language's words: durations, times, events and actions, read and written
//! in one place so that parse errors, mismatch reports and recorded traces agree.

use crate::config::{
    settings_table, Attempts, Config, ConfigBuilder, Factor, Jitter, Kind, Millis, OrOff,
    PingPolicy, Plain, Role, UNLIMITED,
};
use crate::event::{Action, Event, PingId};
use crate::policy::Decision;
use crate::reason::CloseReason;
use crate::time::Instant;
use alloc::format;
use alloc::string::String;
use core::fmt;
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

/// Why `words` are not one of `usages` (a list such as [`EVENTS`]): missing, an unknown
/// word, or a known one written another way.
fn misread(what: &str, usages: &str, words: &[&str]) -> String {
    let text = words.join(" ");
    let Some(first) = words.first() else {
        return format!("the {what} is missing; use one of: {usages}");
    };
    match usages
        .split(", ")
        .find(|u| u.split(' ').next() == Some(*first))
    {
        Some(usage) => format!("'{text}': the {what} {first} is written `{usage}`"),
        None => format!("unknown {what} '{text}'; use one of: {usages}"),
    }
}

/// The reasons as scenarios write them, for error messages.
const REASONS: &str = "pong_timeout, idle_timeout, shutdown, too_many_pings, \
     transport, connect_timeout, peer_closed <code>, refused <status> [retry_after]";

/// The reasons without a number: their word is [`CloseReason::name`].
const PLAIN_REASONS: [CloseReason; 6] = [
    CloseReason::PongTimeout,
    CloseReason::IdleTimeout,
    CloseReason::Shutdown,
    CloseReason::TooManyPings,
    CloseReason::Transport,
    CloseReason::ConnectTimeout,
];

/// Reads a close reason from its words, as in `peer_closed 1012` or `refused 503 2s`.
pub(crate) fn parse_reason(words: &[&str]) -> Result<CloseReason, String> {
    let number = |s: &str, what: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("'{s}' is not {what} (a number)"))
    };
    Ok(match words {
        ["peer_closed", code] => CloseReason::PeerClosed(number(code, "a close code")?),
        ["refused", status, wait @ ..] if wait.len() <= 1 => CloseReason::Refused {
            status: number(status, "an HTTP status")?,
            retry_after: wait.first().map(|d| parse_duration(d)).transpose()?,
        },
        _ => match PLAIN_REASONS.iter().find(|r| words == [r.name()]) {
            Some(reason) => *reason,
            None => return Err(misread("close reason", REASONS, words)),
        },
    })
}

/// Writes a close reason as [`parse_reason`] reads it.
pub(crate) fn fmt_reason(r: CloseReason) -> String {
    match r {
        CloseReason::PeerClosed(code) => format!("peer_closed {code}"),
        CloseReason::Refused {
            status,
            retry_after,
        } => match retry_after {
            None => format!("refused {status}"),
            Some(d) => format!("refused {status} {}", fmt_duration(d)),
        },
        r => r.name().into(),
    }
}

/// The events as scenarios write them, for error messages.
const EVENTS: &str = "tick, connected, connect_failed, disconnected, \
     closed <reason>, ping_received, pong_received [id|none], ping_written <id>, \
     data_received, data_sent, data_delivered, path_rtt <srtt> <rttvar>, path_heard <ago>, path_moved <ago>, pause, resume, \
     network_changed, shutdown";

/// The events without arguments, by their word.
const PLAIN_EVENTS: [(&str, Event); 13] = [
    ("tick", Event::Tick),
    ("connected", Event::Connected),
    ("connect_failed", Event::ConnectFailed),
    ("disconnected", Event::Disconnected),
    ("ping_received", Event::PingReceived),
    ("pong_received", Event::PongReceived(None)),
    ("data_received", Event::DataReceived),
    ("data_sent", Event::DataSent),
    ("data_delivered", Event::DataDelivered),
    ("pause", Event::Pause),
    ("resume", Event::Resume),
    ("network_changed", Event::NetworkChanged),
    ("shutdown", Event::Shutdown),
];

/// Reads an event from its words, as in `pong_received 3`.
pub(crate) fn parse_event(words: &[&str]) -> Result<Event, String> {
    let d = |s: &str| parse_duration(s);
    Ok(match words {
        ["closed", reason @ ..] => Event::Closed(parse_reason(reason)?),
        ["pong_received", "none"] => Event::PongReceived(None),
        ["pong_received", id] => Event::PongReceived(Some(parse_id(id)?)),
        ["ping_written", id] => Event::PingWritten(parse_id(id)?),
        ["path_rtt", srtt, rttvar] => Event::PathRtt {
            srtt: d(srtt)?,
            rttvar: d(rttvar)?,
        },
        ["path_heard", ago] => Event::PathHeard { ago: d(ago)? },
        ["path_moved", ago] => Event::PathMoved { ago: d(ago)? },
        [name] => match lookup(&PLAIN_EVENTS, name) {
            Some(event) => event,
            None => return Err(misread("event", EVENTS, words)),
        },
        _ => return Err(misread("event", EVENTS, words)),
    })
}

pub(crate) fn parse_id(s: &str) -> Result<PingId, String> {
    s.parse()
        .map(PingId::new)
        .map_err(|_| format!("'{s}' is not a ping id (a whole number)"))
}

pub(crate) fn fmt_event(e: Event) -> String {
    match e {
        Event::Closed(r) => format!("closed {}", fmt_reason(r)),
        Event::PongReceived(Some(id)) => format!("pong_received {id}"),
        Event::PingWritten(id) => format!("ping_written {id}"),
        Event::PathRtt { srtt, rttvar } => {
            format!("path_rtt {} {}", fmt_duration(srtt), fmt_duration(rttvar))
        }
        Event::PathHeard { ago } => format!("path_heard {}", fmt_duration(ago)),
        Event::PathMoved { ago } => format!("path_moved {}", fmt_duration(ago)),
        e => to_word(&PLAIN_EVENTS, e),
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

/// The actions as scenarios write them, for error messages.
const ACTIONS: &str = "send_ping [id], send_pong, close <reason>, force_close, \
     reconnect <delay|lo..hi>, connect, abort_connect, give_up <reason> [fatal]";

/// The actions without arguments, by their word.
const PLAIN_ACTIONS: [(&str, Action); 4] = [
    ("send_pong", Action::SendPong),
    ("force_close", Action::ForceClose),
    ("abort_connect", Action::AbortConnect),
    ("connect", Action::Connect),
];

/// Reads one expected action, as in `reconnect 1s..2s`.
pub(crate) fn parse_action(text: &str) -> Result<Pattern, String> {
    let words: alloc::vec::Vec<&str> = text.split_whitespace().collect();
    if let Some(action) = lookup(&PLAIN_ACTIONS, text) {
        return Ok(Pattern::Exact(action));
    }
    let action = match words.as_slice() {
        ["send_ping"] => return Ok(Pattern::AnyPing),
        ["send_ping", id] => Action::SendPing(parse_id(id)?),
        ["close", reason @ ..] => Action::Close(parse_reason(reason)?),
        ["give_up", reason @ .., "fatal"] => Action::GiveUp {
            reason: parse_reason(reason)?,
            fatal: true,
        },
        ["give_up", reason @ ..] => Action::GiveUp {
            reason: parse_reason(reason)?,
            fatal: false,
        },
        ["reconnect", d] => match d.split_once("..") {
            Some((lo, hi)) => {
                let (lo, hi) = (parse_duration(lo)?, parse_duration(hi)?);
                if lo > hi {
                    return Err(format!("reconnect range {d} is empty"));
                }
                return Ok(Pattern::ReconnectWithin(lo, hi));
            }
            None => Action::Reconnect {
                after: parse_duration(d)?,
            },
        },
        _ => return Err(misread("action", ACTIONS, &words)),
    };
    Ok(Pattern::Exact(action))
}

pub(crate) fn fmt_action(a: Action) -> String {
    match a {
        Action::SendPing(id) => format!("send_ping {id}"),
        Action::Close(r) => format!("close {}", fmt_reason(r)),
        Action::Reconnect { after } => format!("reconnect {}", fmt_duration(after)),
        Action::GiveUp { reason, fatal } => format!(
            "give_up {}{}",
            fmt_reason(reason),
            if fatal { " fatal" } else { "" }
        ),
        a => to_word(&PLAIN_ACTIONS, a),
    }
}

/// Writes actions as a scenario writes them: `send_pong, send_ping 3`, or `nothing`.
pub(crate) fn fmt_actions(actions: &[Action]) -> String {
    if actions.is_empty() {
        return "nothing".into();
    }
    let words: alloc::vec::Vec<String> = actions.iter().map(|a| fmt_action(*a)).collect();
    words.join(", ")
}

/// The reconnect decisions without a wait, by their word.
const DECISIONS: [(&str, Decision); 4] = [
    ("backoff", Decision::Backoff),
    ("soon", Decision::Soon),
    ("later", Decision::Later),
    ("give_up", Decision::GiveUp),
];

/// Reads a reconnect decision: `backoff`, `soon`, `later`, `give_up`, `not_before:30s`.
pub(crate) fn parse_decision(s: &str) -> Result<Decision, String> {
    match s.strip_prefix("not_before:") {
        Some(d) => Ok(Decision::NotBefore(parse_duration(d)?)),
        None => from_word(&DECISIONS, "decision", s).map_err(|e| e + " (or not_before:<duration>)"),
    }
}

pub(crate) fn fmt_decision(d: Decision) -> String {
    match d {
        Decision::NotBefore(d) => format!("not_before:{}", fmt_duration(d)),
        d => to_word(&DECISIONS, d),
    }
}

/// A setting's value as scenario text: read with [`Text::parse`], written with
/// [`Text::write`] as `parse` takes it back ("off" and "unlimited" included).
pub(crate) trait Text: Kind {
    fn parse(s: &str) -> Result<Self::Input, String>;
    fn write(stored: Self::Stored) -> String;
}

impl Text for Millis {
    fn parse(s: &str) -> Result<Duration, String> {
        parse_duration(s)
    }
    fn write(ms: u32) -> String {
        fmt_duration(Millis::output(ms))
    }
}

impl Text for OrOff {
    fn parse(s: &str) -> Result<Duration, String> {
        if s == "off" {
            return Ok(Duration::ZERO);
        }
        parse_duration(s)
    }
    fn write(ms: u32) -> String {
        OrOff::output(ms).map_or_else(|| "off".into(), fmt_duration)
    }
}

impl Text for Attempts {
    fn parse(s: &str) -> Result<u32, String> {
        if s == "unlimited" {
            return Ok(UNLIMITED);
        }
        s.parse()
            .map_err(|_| format!("'{s}' is not a count (or unlimited)"))
    }
    fn write(n: u32) -> String {
        Attempts::output(n).map_or_else(|| "unlimited".into(), |n| format!("{n}"))
    }
}

impl Text for Plain<u32> {
    fn parse(s: &str) -> Result<u32, String> {
        s.parse().map_err(|_| format!("'{s}' is not a count"))
    }
    fn write(n: u32) -> String {
        format!("{n}")
    }
}

impl Text for Plain<bool> {
    fn parse(s: &str) -> Result<bool, String> {
        from_word(&SWITCH, "switch", s)
    }
    fn write(on: bool) -> String {
        to_word(&SWITCH, on)
    }
}

const SWITCH: [(&str, bool); 2] = [("on", true), ("off", false)];

impl Text for Factor {
    fn parse(s: &str) -> Result<f32, String> {
        s.parse().map_err(|_| format!("'{s}' is not a number"))
    }
    fn write(sixteenths: u8) -> String {
        format!("{}", Factor::output(sixteenths))
    }
}

impl Text for Plain<u64> {
    fn parse(s: &str) -> Result<u64, String> {
        s.parse()
            .map_err(|_| format!("'{s}' is not a 64-bit number"))
    }
    fn write(n: u64) -> String {
        format!("{n}")
    }
}

/// The value `table` has for the word `s`.
pub(crate) fn lookup<T: Copy>(table: &[(&str, T)], s: &str) -> Option<T> {
    table.iter().find(|(n, _)| *n == s).map(|(_, v)| *v)
}

/// The value a word of `table` names; an unknown word is refused with the words there
/// are (`what`: the setting).
pub(crate) fn from_word<T: Copy>(table: &[(&str, T)], what: &str, s: &str) -> Result<T, String> {
    lookup(table, s).ok_or_else(|| {
        let words: alloc::vec::Vec<&str> = table.iter().map(|(n, _)| *n).collect();
        let (last, rest) = words.split_last().unwrap_or((&"", &[]));
        format!("unknown {what} '{s}'; use {}, or {last}", rest.join(", "))
    })
}

/// The word `table` has for `v` (every value the tables are asked for is in them).
pub(crate) fn to_word<T: PartialEq>(table: &[(&str, T)], v: T) -> String {
    table
        .iter()
        .find(|(_, w)| *w == v)
        .map_or_else(String::new, |(n, _)| (*n).into())
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
    fn write(p: PingPolicy) -> String {
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
    fn write(j: Jitter) -> String {
        to_word(&JITTERS, j)
    }
}

/// Reads and writes the settings table's first two groups as `name=value`.
macro_rules! settings_text {
    (
        heartbeat { $( $(#[doc = $hdoc:literal])* $h:ident, $HV:ident : $hk:ty, $hin:ty => $hout:ty = $hd:expr; )* }
        reconnect { $( $(#[doc = $rdoc:literal])* $r:ident, $RV:ident : $rk:ty, $rin:ty => $rout:ty = $rd:expr; )* }
        overrides { $( $o:ident, $OV:ident; )* }
    ) => {
        /// Sets the setting `name` from its text; `None` for a name that is not in the
        /// table's first two groups.
        pub(crate) fn set_text(b: ConfigBuilder, name: &str, value: &str) -> Option<Result<ConfigBuilder, String>> {
            match name {
                $( stringify!($h) => Some(<$hk as Text>::parse(value).map(|v| b.$h(v))), )*
                $( stringify!($r) => Some(<$rk as Text>::parse(value).map(|v| b.$r(v))), )*
                _ => None,
            }
        }

        /// Every setting of the table's first two groups (only the heartbeat's for a
        /// server) as `name=value`, in the table's order. Settings that are off are
        /// written too: an omitted one means its default, which is not always off (a
        /// server's `min_ping_interval`).
        pub(crate) fn settings_text(c: &Config) -> alloc::vec::Vec<String> {
            let mut out = alloc::vec::Vec::new();
            $( out.push(format!("{}={}", stringify!($h), <$hk as Text>::write(c.timing.$h))); )*
            if c.role() == Role::Client {
                $( out.push(format!("{}={}", stringify!($r), <$rk as Text>::write(c.reconnect.$r))); )*
            }
            out
        }
    };
}

settings_table!(settings_text);
