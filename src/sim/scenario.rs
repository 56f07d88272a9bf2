//! Scenario files: a configuration, then one `(time, event) -> expected actions` step per
//! line, replayed against a [`HeartbeatMachine`] under the [`Oracle`].

use super::oracle::Oracle;
use super::text::{
    self, fmt_actions, fmt_duration, fmt_event, fmt_instant, parse_duration, parse_instant, Pattern,
};
use crate::config::{Config, ConfigBuilder, ConfigError, Jitter, PingPolicy, Role, Setting};
use crate::event::{Action, Event, PingId};
use crate::machine::HeartbeatMachine;
use crate::policy::{end_on_normal_close, Policy};
use crate::state::State;
use crate::stats::Stats;
use crate::time::Instant;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::{self, Write};
use core::time::Duration;

/// What went wrong with a scenario, and on which line (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioError {
    /// The line of the scenario text.
    pub line: usize,
    /// What kind of failure.
    pub kind: ErrorKind,
    /// What was expected and what happened, or what is malformed.
    pub message: String,
}

/// The kinds of [`ScenarioError`].
#[non_exhaustive]
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum ErrorKind {
    /// The text is malformed.
    Parse,
    /// The configuration was refused, or refused with another error than expected.
    Config,
    /// The machine did something other than the scenario expects.
    Mismatch,
    /// The machine broke a rule of the contract (see [`crate::rules`]).
    Invariant,
}

impl fmt::Display for ScenarioError {
    /// `line 3: at 20s `tick`: expected send_pong, got send_ping 1`: the line, then the
    /// message (a broken rule says so first).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ErrorKind::Invariant => write!(
                f,
                "line {}: the machine broke a rule of the contract: {}",
                self.line, self.message
            ),
            _ => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Parse => "the text is malformed",
            ErrorKind::Config => "the configuration was refused",
            ErrorKind::Mismatch => "the machine did something else",
            ErrorKind::Invariant => "the machine broke a rule of the contract",
        })
    }
}

impl core::error::Error for ScenarioError {}

#[derive(Clone, Debug)]
enum Check {
    Deadline(Option<Instant>),
    State(State),
    Rtt(Option<Duration>),
    InFlight(Option<PingId>),
    /// A counter from [`STATS`], by its index there, and the expected count.
    Stat(usize, u32),
}

#[derive(Clone, Debug)]
enum Line {
    Step {
        at: Instant,
        event: Event,
        expect: Vec<Pattern>,
    },
    Expect(Check),
}

/// A parsed scenario, ready to replay. The format:
///
/// ```text
/// # A client pings every 30 s; the peer stops answering (NAT expiry) after the first pong.
/// config client ping_interval=30s pong_timeout=10s seed=1
///
/// 0s      connected
/// 30s     tick                -> send_ping 1
/// 30.04s  pong_received 1
/// expect rtt 40ms
/// 60.04s  tick                -> send_ping 2
/// expect deadline 70.04s
/// 70.04s  tick                -> close pong_timeout
/// 70.1s   disconnected        -> reconnect 1s..2s
/// ```
///
/// - `#` starts a comment; blank lines are skipped.
/// - `config client|server key=value …` comes first. Keys are the builder's setters:
///   `ping_interval`, `pong_timeout`, `idle_timeout`, `ping_policy`
///   (`when_idle`|`fixed`|`never`), `backoff_initial`, `backoff_max`,
///   `backoff_multiplier`, `jitter` (`none`|`full`|`equal`), `max_attempts`,
///   `stable_after`, `close_timeout`, `connect_timeout`, `seed` (0 unless given, so
///   replays are exact), `path_idle_limit`, `retry_after_max`, `reconnect_policy`
///   (`end_on_normal_close`; the default table when left out).
/// - `expect config_error <setting>`, right after `config`: the builder must refuse
///   the configuration, naming that setting. Such a scenario has no steps.
/// - A step is `<time> <event> [-> action, action, …]`. The time is absolute (`30s`,
///   `1.5s`, `150ms`, `max` for the last instant) or relative to the previous step
///   (`+5s`); the machine is created at the first step's time, or at the time of a
///   `start <time>` line before the first step. A step without `->`
///   expects no action at all. Events: `tick`, `connected`, `connect_failed`,
///   `refused <status> [retry_after]`, `disconnected`, `close_received <code>`,
///   `ping_received`, `pong_received [id]`, `ping_written <id>`, `data_received`,
///   `data_sent`, `data_delivered`, `pause`, `resume`, `network_changed`, `shutdown`.
///   Actions: `send_ping [id]`, `send_pong`, `close <pong_timeout|idle_timeout|shutdown>`,
///   `force_close`, `reconnect <delay|lo..hi>`, `connect`, `abort_connect`, `give_up`.
/// - `expect deadline <time|none>`, `expect state <backoff|connecting|open|closing|
///   closed|stopped|gave_up>`, `expect rtt <duration|none>`, `expect in_flight <id|none>`,
///   `expect <pings_sent|pongs_received|timeouts|reconnects|attempt> <n>` check the
///   machine after the step above. `deadline` is the deadline the rules give;
///   `next_deadline()` hands out that or, after traffic on the fast path, an earlier
///   wake-up (the oracle checks it is never later).
///
/// Every step is also checked against the [rules](crate::rules#invariants-checked-on-every-call),
/// so a scenario fails on a broken invariant even where it expects nothing in particular.
#[derive(Clone, Debug)]
pub struct Scenario {
    config: Result<Config, ConfigError>,
    start: Option<Instant>,
    config_line: usize,
    expect_error: Option<Setting>,
    lines: Vec<(usize, Line)>,
}

impl Scenario {
    /// Parses scenario text. A malformed line is an error naming it; never a panic.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let mut config = None;
        let mut expect_error = None;
        let mut lines = Vec::new();
        let mut last = None::<Instant>;
        let mut start = None::<Instant>;
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            let err = |message: String| ScenarioError {
                line: n,
                kind: ErrorKind::Parse,
                message,
            };
            let content = raw.split('#').next().unwrap_or("").trim();
            if content.is_empty() {
                continue;
            }
            let words: Vec<&str> = content.split_whitespace().collect();
            match words.as_slice() {
                ["config", rest @ ..] => {
                    if config.is_some() {
                        return Err(err("a second config line; a scenario has one".into()));
                    }
                    config = Some((n, parse_config(rest).map_err(err)?));
                }
                _ if config.is_none() => {
                    return Err(err(format!(
                        "expected `config client|server key=value …` first, found '{content}'"
                    )));
                }
                ["expect", "config_error", setting] => {
                    if !lines.is_empty() {
                        return Err(err(
                            "expect config_error belongs right after the config line".into(),
                        ));
                    }
                    expect_error = Some(parse_setting(setting).map_err(err)?);
                }
                ["expect", rest @ ..] => {
                    lines.push((n, Line::Expect(parse_check(rest).map_err(err)?)))
                }
                ["start", t] => {
                    if start.is_some() || !lines.is_empty() {
                        return Err(err(
                            "`start <time>` comes once, before the first step".into()
                        ));
                    }
                    start = Some(parse_instant(t).map_err(err)?);
                }
                [time, ..] => {
                    if expect_error.is_some() {
                        return Err(err(
                            "a scenario that expects a config error has no steps".into()
                        ));
                    }
                    let (head, tail) = content.split_once("->").unwrap_or((content, ""));
                    let words: Vec<&str> = head.split_whitespace().collect();
                    let at = match time.strip_prefix('+') {
                        Some(rel) => {
                            let d = parse_duration(rel).map_err(err)?;
                            last.unwrap_or(Instant::ZERO) + d
                        }
                        None => parse_instant(time).map_err(err)?,
                    };
                    last = Some(at);
                    let event = text::parse_event(words.get(1..).unwrap_or(&[])).map_err(err)?;
                    let expect = if content.contains("->") {
                        tail.split(',')
                            .map(|a| text::parse_action(a.trim()))
                            .collect::<Result<_, _>>()
                            .map_err(err)?
                    } else {
                        Vec::new()
                    };
                    lines.push((n, Line::Step { at, event, expect }));
                }
                [] => {}
            }
        }
        let (config_line, config) = config.ok_or(ScenarioError {
            line: text.lines().count().max(1),
            kind: ErrorKind::Parse,
            message: "no `config client|server …` line".into(),
        })?;
        if expect_error.is_none() && !lines.iter().any(|(_, l)| matches!(l, Line::Step { .. })) {
            return Err(ScenarioError {
                line: config_line,
                kind: ErrorKind::Parse,
                message: "no steps: add `<time> <event> [-> actions]` lines".into(),
            });
        }
        Ok(Scenario {
            config: config.build(),
            start,
            config_line,
            expect_error,
            lines,
        })
    }

    /// The configuration the scenario names, as built (or refused).
    pub fn config(&self) -> Result<Config, ConfigError> {
        self.config
    }

    /// When the machine is created: the `start` line, else the first step's time.
    pub fn start(&self) -> Instant {
        let first_step = self.lines.iter().find_map(|(_, l)| match l {
            Line::Step { at, .. } => Some(*at),
            Line::Expect(_) => None,
        });
        self.start.or(first_step).unwrap_or(Instant::ZERO)
    }

    /// The `(time, event)` of every step, in order (for tools that convert scenarios,
    /// such as the fuzzer's seed corpus).
    pub fn steps(&self) -> Vec<(Instant, Event)> {
        self.lines
            .iter()
            .filter_map(|(_, l)| match l {
                Line::Step { at, event, .. } => Some((*at, *event)),
                Line::Expect(_) => None,
            })
            .collect()
    }

    /// Replays the scenario with its own configuration; returns the machine at the end,
    /// or `None` for a scenario whose point is that the configuration is refused.
    pub fn run(&self) -> Result<Option<HeartbeatMachine>, ScenarioError> {
        let fail = |kind, message| ScenarioError {
            line: self.config_line,
            kind,
            message,
        };
        match (self.config, self.expect_error) {
            (Ok(config), None) => self.run_with(config).map(Some),
            (Err(e), Some(s)) if e.setting() == s => Ok(None),
            (Err(e), Some(s)) => Err(fail(
                ErrorKind::Config,
                format!("expected a config error about {s}, got: {e}"),
            )),
            (Err(e), None) => Err(fail(ErrorKind::Config, format!("config refused: {e}"))),
            (Ok(_), Some(s)) => Err(fail(
                ErrorKind::Config,
                format!("expected the config to be refused for {s}, but it was accepted"),
            )),
        }
    }

    /// Replays the steps with another configuration (the scenario's expectations still
    /// apply): for checking your own settings against a recorded situation.
    pub fn run_with(&self, config: Config) -> Result<HeartbeatMachine, ScenarioError> {
        let mut m = HeartbeatMachine::new(config, self.start());
        let mut oracle = Oracle::new(&m);
        for (n, line) in &self.lines {
            let fail = |kind, message| ScenarioError {
                line: *n,
                kind,
                message,
            };
            match line {
                Line::Step { at, event, expect } => {
                    let got: Vec<Action> = m.handle(*at, *event).collect();
                    oracle
                        .check(*at, *event, &got, &m)
                        .map_err(|v| fail(ErrorKind::Invariant, v.to_string()))?;
                    let ok = got.len() == expect.len()
                        && expect.iter().zip(&got).all(|(p, a)| p.matches(a));
                    if !ok {
                        let want = if expect.is_empty() {
                            "nothing".to_string()
                        } else {
                            expect
                                .iter()
                                .map(|p| p.to_string())
                                .collect::<Vec<_>>()
                                .join(", ")
                        };
                        return Err(fail(
                            ErrorKind::Mismatch,
                            format!(
                                "at {} `{}`: expected {want}, got {}",
                                fmt_instant(*at),
                                fmt_event(*event),
                                fmt_actions(&got)
                            ),
                        ));
                    }
                }
                Line::Expect(check) => {
                    check_machine(&m, check).map_err(|msg| fail(ErrorKind::Mismatch, msg))?
                }
            }
        }
        Ok(m)
    }
}

/// Parses and replays scenario text: the one call a test needs.
///
/// ```
/// keepalive::sim::replay("
///     config client ping_interval=20s pong_timeout=10s
///     0s   connected
///     20s  tick   -> send_ping 1
///     30s  tick   -> close pong_timeout
/// ")?;
/// # Ok::<(), keepalive::sim::ScenarioError>(())
/// ```
pub fn replay(text: &str) -> Result<Option<HeartbeatMachine>, ScenarioError> {
    Scenario::parse(text)?.run()
}

fn check_machine(m: &HeartbeatMachine, check: &Check) -> Result<(), String> {
    let stats = m.stats();
    let (what, want, got) = match *check {
        Check::Deadline(d) => (
            "deadline",
            d.map(fmt_instant),
            m.rule_deadline().map(fmt_instant),
        ),
        Check::State(s) => (
            "state",
            Some(state_name(s).into()),
            Some(state_name(m.state()).into()),
        ),
        Check::Rtt(r) => ("rtt", r.map(fmt_duration), m.rtt().map(fmt_duration)),
        Check::InFlight(p) => (
            "in_flight",
            p.map(|p| p.to_string()),
            m.ping_in_flight().map(|p| p.to_string()),
        ),
        Check::Stat(i, n) => {
            let (name, read) = STATS[i];
            (name, Some(n.to_string()), Some(read(&stats).to_string()))
        }
    };
    if want == got {
        Ok(())
    } else {
        let show = |v: Option<String>| v.unwrap_or_else(|| "none".into());
        Err(format!("expected {what} {}, got {}", show(want), show(got)))
    }
}

/// Reads one counter from the machine's statistics.
type Counter = fn(&Stats) -> u32;

/// The counters a scenario can expect, by name.
const STATS: [(&str, Counter); 5] = [
    ("pings_sent", |s| s.pings_sent),
    ("pongs_received", |s| s.pongs_received),
    ("timeouts", |s| s.timeouts),
    ("reconnects", |s| s.reconnects),
    ("attempt", |s| s.attempt),
];

const STATES: [(&str, State); 7] = [
    ("backoff", State::Backoff),
    ("connecting", State::Connecting),
    ("open", State::Open),
    ("closing", State::Closing),
    ("closed", State::Closed),
    ("stopped", State::Stopped),
    ("gave_up", State::GaveUp),
];

fn state_name(s: State) -> &'static str {
    STATES
        .iter()
        .find(|(_, st)| *st == s)
        .map_or("?", |(n, _)| n)
}

fn parse_check(words: &[&str]) -> Result<Check, String> {
    let unknown = || {
        format!(
            "unknown expectation '{}'; use deadline, state, rtt, in_flight, pings_sent, \
             pongs_received, timeouts, reconnects, attempt or config_error",
            words.join(" ")
        )
    };
    let none_or = |s: &str| (s != "none").then_some(());
    Ok(match words {
        ["deadline", t] => Check::Deadline(match none_or(t) {
            None => None,
            Some(()) => Some(parse_instant(t)?),
        }),
        ["state", s] => Check::State(
            STATES
                .iter()
                .find(|(n, _)| n == s)
                .map(|(_, st)| *st)
                .ok_or_else(|| format!("unknown state '{s}'; use backoff, connecting, open, closing, closed, stopped or gave_up"))?,
        ),
        ["rtt", d] => Check::Rtt(match none_or(d) {
            None => None,
            Some(()) => Some(parse_duration(d)?),
        }),
        ["in_flight", p] => Check::InFlight(match none_or(p) {
            None => None,
            Some(()) => Some(PingId::new(p.parse().map_err(|_| format!("'{p}' is not a ping id"))?)),
        }),
        [name, n] => match STATS.iter().position(|(k, _)| k == name) {
            Some(i) => Check::Stat(i, n.parse().map_err(|_| format!("'{n}' is not a count"))?),
            None => return Err(unknown()),
        },
        _ => return Err(unknown()),
    })
}

const SETTINGS: [Setting; 12] = [
    Setting::PingInterval,
    Setting::PongTimeout,
    Setting::IdleTimeout,
    Setting::PingPolicy,
    Setting::BackoffInitial,
    Setting::BackoffMax,
    Setting::BackoffMultiplier,
    Setting::StableAfter,
    Setting::CloseTimeout,
    Setting::ConnectTimeout,
    Setting::PathIdleLimit,
    Setting::RetryAfterMax,
];

fn parse_setting(s: &str) -> Result<Setting, String> {
    SETTINGS
        .into_iter()
        .find(|k| k.name() == s)
        .ok_or_else(|| format!("unknown setting '{s}'"))
}

fn parse_config(words: &[&str]) -> Result<ConfigBuilder, String> {
    let (role, settings) = words
        .split_first()
        .ok_or("config needs a role: `config client …` or `config server …`")?;
    let mut b = match *role {
        "client" => Config::client(),
        "server" => Config::server(),
        other => return Err(format!("unknown role '{other}'; use client or server")),
    }
    .seed(0);
    for kv in settings {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("'{kv}' is not key=value"))?;
        let d = || parse_duration(v);
        b = match k {
            "ping_interval" => b.ping_interval(d()?),
            "pong_timeout" => b.pong_timeout(d()?),
            "idle_timeout" => b.idle_timeout(d()?),
            "ping_policy" => b.ping_policy(text::parse_policy(v)?),
            "backoff_initial" => b.backoff_initial(d()?),
            "backoff_max" => b.backoff_max(d()?),
            "backoff_multiplier" => {
                b.backoff_multiplier(v.parse().map_err(|_| format!("'{v}' is not a number"))?)
            }
            "jitter" => b.jitter(text::parse_jitter(v)?),
            "max_attempts" => {
                b.max_attempts(v.parse().map_err(|_| format!("'{v}' is not a count"))?)
            }
            "stable_after" => b.stable_after(d()?),
            "close_timeout" => b.close_timeout(d()?),
            "connect_timeout" => b.connect_timeout(d()?),
            "seed" => b.seed(
                v.parse()
                    .map_err(|_| format!("'{v}' is not a 64-bit number"))?,
            ),
            "path_idle_limit" => b.path_idle_limit(d()?),
            "retry_after_max" => b.retry_after_max(d()?),
            "reconnect_policy" => match v {
                "end_on_normal_close" => b.reconnect_policy(end_on_normal_close),
                _ => {
                    return Err(format!(
                        "unknown reconnect_policy '{v}'; scenarios know end_on_normal_close \
                         (leave it out for the default table)"
                    ))
                }
            },
            _ => {
                return Err(format!(
                    "unknown setting '{k}'; use one of: {}, max_attempts, seed, jitter, reconnect_policy",
                    SETTINGS.map(|s| s.name()).join(", ")
                ))
            }
        };
    }
    Ok(b)
}

/// Writes a config as a scenario's `config` line.
pub(crate) fn fmt_config(c: &Config) -> String {
    let role = match c.role() {
        Role::Client => "client",
        Role::Server => "server",
    };
    let policy = match c.ping_policy() {
        PingPolicy::WhenIdle => "when_idle",
        PingPolicy::Fixed => "fixed",
        PingPolicy::Never => "never",
    };
    let jitter = match c.jitter() {
        Jitter::None => "none",
        Jitter::Full => "full",
        Jitter::Equal => "equal",
    };
    let mut s = format!(
        "config {role} ping_interval={} pong_timeout={} ping_policy={policy}",
        fmt_duration(c.ping_interval()),
        fmt_duration(c.pong_timeout())
    );
    if let Some(i) = c.idle_timeout() {
        let _ = write!(s, " idle_timeout={}", fmt_duration(i));
    }
    let _ = write!(
        s,
        " backoff_initial={} backoff_max={} backoff_multiplier={} jitter={jitter} stable_after={} \
         close_timeout={} connect_timeout={} retry_after_max={} seed={}",
        fmt_duration(c.backoff_initial()),
        fmt_duration(c.backoff_max()),
        c.backoff_multiplier(),
        fmt_duration(c.stable_after()),
        fmt_duration(c.close_timeout()),
        fmt_duration(c.connect_timeout()),
        fmt_duration(c.retry_after_max()),
        c.seed()
    );
    if c.reconnect_policy().map(|p| p as usize) == Some(end_on_normal_close as Policy as usize) {
        s.push_str(" reconnect_policy=end_on_normal_close");
    }
    if let Some(n) = c.max_attempts() {
        let _ = write!(s, " max_attempts={n}");
    }
    s
}

/// Drives a machine and writes what happens as scenario text, so that a trace found by
/// a property test or the fuzzer becomes a scenario file to keep.
///
/// ```
/// use keepalive::{Config, Event, Instant, sim::{Recorder, replay}};
///
/// let mut r = Recorder::new(Config::client().seed(3).build()?, Instant::ZERO);
/// r.handle(Instant::ZERO, Event::Connected);
/// r.handle(Instant::from_secs(20), Event::Tick);
/// let text = r.scenario();
/// assert!(text.contains("20s tick -> send_ping 1"));
/// replay(&text)?; // and it replays
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Recorder {
    machine: HeartbeatMachine,
    text: String,
}

impl Recorder {
    /// Starts recording a new machine.
    pub fn new(config: Config, now: Instant) -> Recorder {
        Recorder {
            machine: HeartbeatMachine::new(config, now),
            text: format!("{}\nstart {}\n", fmt_config(&config), fmt_instant(now)),
        }
    }

    /// Calls `handle` on the machine and records the step.
    pub fn handle(&mut self, now: Instant, event: Event) -> Vec<Action> {
        let actions: Vec<Action> = self.machine.handle(now, event).collect();
        let _ = write!(self.text, "{} {}", fmt_instant(now), fmt_event(event));
        if !actions.is_empty() {
            let _ = write!(self.text, " -> {}", fmt_actions(&actions));
        }
        self.text.push('\n');
        actions
    }

    /// The machine.
    pub fn machine(&self) -> &HeartbeatMachine {
        &self.machine
    }

    /// The scenario so far.
    pub fn scenario(&self) -> String {
        self.text.clone()
    }
}
