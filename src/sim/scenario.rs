//! Scenario files: a configuration, then one `(time, event) -> expected actions` step per
//! line, replayed against a [`HeartbeatMachine`].

use super::text::{
    self, fmt_actions, fmt_duration, fmt_event, fmt_instant, from_word, parse_duration, parse_id,
    parse_instant, to_word, Pattern,
};
use crate::config::{Config, ConfigBuilder, ConfigError, Role, Setting};
use crate::event::{Action, Event};
use crate::machine::HeartbeatMachine;
use crate::policy::Decision;
use crate::reason::CloseReason;
use crate::state::State;
use crate::time::Instant;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::{self, Write};

/// What went wrong with a scenario, on which line (1-based), and what was expected and
/// what happened (or what is malformed).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScenarioError {
    /// The text is malformed.
    Parse {
        /// The line of the scenario text.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// The configuration was refused, or refused with another error than expected.
    Config {
        /// The `config` line.
        line: usize,
        /// What the builder said.
        message: String,
    },
    /// The machine did something other than the scenario expects.
    Mismatch {
        /// The step or expectation.
        line: usize,
        /// What was expected, and what happened.
        message: String,
    },
}

impl ScenarioError {
    /// The line of the scenario text it is about.
    pub fn line(&self) -> usize {
        match self {
            ScenarioError::Parse { line, .. }
            | ScenarioError::Config { line, .. }
            | ScenarioError::Mismatch { line, .. } => *line,
        }
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        match self {
            ScenarioError::Parse { message, .. }
            | ScenarioError::Config { message, .. }
            | ScenarioError::Mismatch { message, .. } => message,
        }
    }
}

impl fmt::Display for ScenarioError {
    /// `line 3: at 20s `tick`: expected send_pong, got send_ping 1`: the line, then the
    /// message.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line(), self.message())
    }
}

impl core::error::Error for ScenarioError {}

fn parse_err(line: usize) -> impl Fn(String) -> ScenarioError {
    move |message| ScenarioError::Parse { line, message }
}

/// An expectation: a figure of [`FIGURES`], by its index there, and its expected value
/// as the machine shows it (`None`: none).
type Check = (usize, Option<String>);

#[derive(Clone, Debug)]
enum Line {
    Step {
        at: Instant,
        event: Event,
        expect: Vec<Pattern>,
    },
    Expect(Check),
}

/// A parsed scenario, ready to replay: the tool the crate's own tests use, public so
/// that your property tests can replay your situations with your settings.
///
/// The format:
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
/// - `config client|server key=value …` comes first. Keys are the builder's setters
///   ([`Setting::name`](crate::Setting::name)): durations as `30s`, `1.5s`, `150ms`
///   (`off` or `0s` for a setting that has an off), `ping_policy`
///   (`when_idle`|`fixed`|`never`), `jitter` (`none`|`full`|`equal`), counts and the
///   multiplier as numbers (`max_attempts` also `unlimited`), switches as `on`|`off`,
///   `seed` (0 unless given, so replays are exact), `spread_pings` (off unless given,
///   so a first ping is a full interval after the open), and the reconnect overrides `on_close_code=4001:give_up`,
///   `on_http_status=503:not_before:30s` (decisions `backoff`, `soon`, `later`, `give_up`, `not_before:<duration>`).
/// - `expect config_error <setting>`, right after `config`: the builder must refuse
///   the configuration, naming that setting. Such a scenario has no steps.
/// - A step is `<time> <event> [-> action, action, …]`. The time is absolute (`30s`,
///   `1.5s`, `150ms`, `max` for the last instant) or relative to the previous step
///   (`+5s`); the machine is created at the first step's time, or at the time of a
///   `start <time>` line before the first step. A step without `->` expects no action at
///   all. Events: `tick`, `connected`, `connect_failed`, `disconnected`,
///   `closed <reason>`, `ping_received`, `pong_received [id]`, `ping_written <id>`,
///   `data_received`, `data_sent`, `data_delivered`, `path_rtt <srtt> <rttvar>`,
///   `path_heard <ago>`, `pause`,
///   `resume`, `network_changed`, `shutdown`. Actions: `send_ping [id]`, `send_pong`,
///   `close <reason>`, `force_close`, `reconnect <delay|lo..hi>`, `connect`,
///   `abort_connect`, `give_up <reason> [fatal]`. Reasons, one word for every place:
///   `pong_timeout`, `idle_timeout`, `shutdown`, `too_many_pings`, `transport`,
///   `connect_timeout`, `peer_closed <code>`, `refused <status> [retry_after]`.
/// - `expect deadline <time|none>`, `expect state <backoff|connecting|open|closing|
///   closed|stopped|gave_up>`, `expect in_flight <id|none>`, and the figures of
///   [`Stats`](crate::Stats): `expect <pings_sent|pongs_received|timeouts|reconnects|attempt> <n>`,
///   `expect <rtt|smoothed_rtt|rtt_var> <duration|none>`, `expect <ping_interval|pong_timeout|
///   bound> <duration>` (the values in force), check the machine after the step above.
///   `deadline` is the deadline the rules give; `next_deadline()` hands out that or,
///   after traffic on the fast path, an earlier wake-up, never later.
///
/// ```
/// keepalive::sim::Scenario::replay("
///     config client ping_interval=20s pong_timeout=10s
///     0s   connected
///     20s  tick   -> send_ping 1
///     30s  tick   -> close pong_timeout
/// ")?;
/// # Ok::<(), keepalive::sim::ScenarioError>(())
/// ```
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
            let err = parse_err(n);
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
                    config = Some((n, parse_config(rest).map_err(&err)?));
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
                    expect_error = Some(parse_setting(setting).map_err(&err)?);
                }
                ["expect", rest @ ..] => {
                    lines.push((n, Line::Expect(parse_check(rest).map_err(&err)?)))
                }
                ["start", t] => {
                    if start.is_some() || !lines.is_empty() {
                        return Err(err(
                            "`start <time>` comes once, before the first step".into()
                        ));
                    }
                    start = Some(parse_instant(t).map_err(&err)?);
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
                            let d = parse_duration(rel).map_err(&err)?;
                            last.unwrap_or(Instant::ZERO) + d
                        }
                        None => parse_instant(time).map_err(&err)?,
                    };
                    last = Some(at);
                    let event = text::parse_event(words.get(1..).unwrap_or(&[])).map_err(&err)?;
                    let expect = if content.contains("->") {
                        tail.split(',')
                            .map(|a| text::parse_action(a.trim()))
                            .collect::<Result<_, _>>()
                            .map_err(&err)?
                    } else {
                        Vec::new()
                    };
                    lines.push((n, Line::Step { at, event, expect }));
                }
                [] => {}
            }
        }
        let (config_line, config) = config.ok_or_else(|| ScenarioError::Parse {
            line: text.lines().count().max(1),
            message: "no `config client|server …` line".into(),
        })?;
        if expect_error.is_none() && !lines.iter().any(|(_, l)| matches!(l, Line::Step { .. })) {
            return Err(ScenarioError::Parse {
                line: config_line,
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

    /// Parses and replays scenario text: the one call a test needs. Returns the machine
    /// at the end, or `None` for a scenario whose point is that the configuration is
    /// refused.
    pub fn replay(text: &str) -> Result<Option<HeartbeatMachine>, ScenarioError> {
        Scenario::parse(text)?.run()
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
        let fail = |message| ScenarioError::Config {
            line: self.config_line,
            message,
        };
        match (self.config, self.expect_error) {
            (Ok(config), None) => self.run_with(config).map(Some),
            (Err(e), Some(s)) if e.setting() == Some(s) => Ok(None),
            (Err(e), Some(s)) => Err(fail(format!("expected a config error about {s}, got: {e}"))),
            (Err(e), None) => Err(fail(format!("config refused: {e}"))),
            (Ok(_), Some(s)) => Err(fail(format!(
                "expected the config to be refused for {s}, but it was accepted"
            ))),
        }
    }

    /// Replays the steps with another configuration (the scenario's expectations still
    /// apply): for checking your own settings against a recorded situation.
    pub fn run_with(&self, config: Config) -> Result<HeartbeatMachine, ScenarioError> {
        let mut m = HeartbeatMachine::new(config, self.start());
        for (n, entry) in &self.lines {
            let line = *n;
            match entry {
                Line::Step { at, event, expect } => {
                    let got: Vec<Action> = m.handle(*at, *event).collect();
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
                        return Err(ScenarioError::Mismatch {
                            line,
                            message: format!(
                                "at {} `{}`: expected {want}, got {}",
                                fmt_instant(*at),
                                fmt_event(*event),
                                fmt_actions(&got)
                            ),
                        });
                    }
                }
                Line::Expect(check) => check_machine(&m, check)
                    .map_err(|message| ScenarioError::Mismatch { line, message })?,
            }
        }
        Ok(m)
    }
}

fn check_machine(m: &HeartbeatMachine, (i, want): &Check) -> Result<(), String> {
    let (name, read, _) = FIGURES[*i];
    let got = read(m);
    if got == *want {
        return Ok(());
    }
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
    Err(format!(
        "expected {name} {}, got {}",
        show(want),
        show(&got)
    ))
}

/// How the machine shows a figure.
type Read = fn(&HeartbeatMachine) -> Option<String>;
/// How an expected value is read, and shown as the machine shows it (so `1.50s` matches
/// `1.5s`).
type Value = fn(&str) -> Result<String, String>;

fn count(s: &str) -> Result<String, String> {
    s.parse::<u32>()
        .map(|n| n.to_string())
        .map_err(|_| format!("'{s}' is not a count"))
}

fn duration(s: &str) -> Result<String, String> {
    parse_duration(s).map(fmt_duration)
}

/// What a scenario can expect of the machine after a step, by name.
const FIGURES: [(&str, Read, Value); 14] = [
    (
        "deadline",
        |m| m.rule_deadline().map(fmt_instant),
        |s| parse_instant(s).map(fmt_instant),
    ),
    (
        "state",
        |m| Some(to_word(&STATES, m.state())),
        |s| from_word(&STATES, "state", s).map(|st| to_word(&STATES, st)),
    ),
    (
        "in_flight",
        |m| m.ping_in_flight().map(|p| p.to_string()),
        |s| parse_id(s).map(|p| p.to_string()),
    ),
    (
        "pings_sent",
        |m| Some(m.stats().pings_sent.to_string()),
        count,
    ),
    (
        "pongs_received",
        |m| Some(m.stats().pongs_received.to_string()),
        count,
    ),
    ("timeouts", |m| Some(m.stats().timeouts.to_string()), count),
    (
        "reconnects",
        |m| Some(m.stats().reconnects.to_string()),
        count,
    ),
    ("attempt", |m| Some(m.stats().attempt.to_string()), count),
    ("rtt", |m| m.stats().rtt.map(fmt_duration), duration),
    (
        "smoothed_rtt",
        |m| m.stats().smoothed_rtt.map(fmt_duration),
        duration,
    ),
    ("rtt_var", |m| m.stats().rtt_var.map(fmt_duration), duration),
    (
        "ping_interval",
        |m| Some(fmt_duration(m.stats().ping_interval)),
        duration,
    ),
    (
        "pong_timeout",
        |m| Some(fmt_duration(m.stats().pong_timeout)),
        duration,
    ),
    (
        "bound",
        |m| Some(fmt_duration(m.stats().dead_peer_bound)),
        duration,
    ),
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

fn parse_check(words: &[&str]) -> Result<Check, String> {
    let figure = match words {
        [name, _] => FIGURES.iter().position(|(n, ..)| n == name),
        _ => None,
    };
    let (Some(i), [_, value]) = (figure, words) else {
        let names: Vec<&str> = FIGURES.iter().map(|(n, ..)| *n).collect();
        return Err(format!(
            "unknown expectation '{}'; use `expect <figure> <value>` with one of {}, or \
             config_error",
            words.join(" "),
            names.join(", ")
        ));
    };
    match *value {
        "none" => Ok((i, None)),
        v => Ok((i, Some((FIGURES[i].2)(v)?))),
    }
}

fn parse_setting(s: &str) -> Result<Setting, String> {
    Setting::ALL
        .iter()
        .copied()
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
    .seed(0)
    .spread_pings(false);
    for kv in settings {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("'{kv}' is not key=value"))?;
        if let Some(set) = text::set_text(b, k, v) {
            b = set?;
            continue;
        }
        let set: fn(ConfigBuilder, u16, Decision) -> ConfigBuilder = match k {
            "on_close_code" => ConfigBuilder::on_close_code,
            "on_http_status" => ConfigBuilder::on_http_status,
            _ => {
                let names: Vec<&str> = Setting::ALL.iter().map(|s| s.name()).collect();
                return Err(format!(
                    "unknown setting '{k}'; use one of: {}",
                    names.join(", ")
                ));
            }
        };
        let (code, decision) = v
            .split_once(':')
            .ok_or_else(|| format!("{k} takes <code>:<decision>, like {k}=4001:give_up"))?;
        let code: u16 = code
            .parse()
            .map_err(|_| format!("'{code}' is not a close code or an HTTP status"))?;
        b = set(b, code, text::parse_decision(decision)?);
    }
    Ok(b)
}

/// Writes a config as a scenario's `config` line.
pub(crate) fn fmt_config(c: &Config) -> String {
    let role = match c.role() {
        Role::Client => "client",
        Role::Server => "server",
    };
    let mut s = format!("config {role}");
    for kv in text::settings_text(c) {
        let _ = write!(s, " {kv}");
    }
    for (reason, decision) in c.overrides() {
        let (name, code) = match reason {
            CloseReason::Refused { status, .. } => ("on_http_status", status),
            other => ("on_close_code", other.code()),
        };
        let _ = write!(s, " {name}={code}:{}", text::fmt_decision(decision));
    }
    s
}

/// Drives a machine and writes what happens as scenario text, so that a trace found by
/// a property test or the fuzzer becomes a scenario file to keep.
///
/// ```
/// use keepalive::{Config, Event, Instant, sim::{Recorder, Scenario}};
///
/// let mut r = Recorder::new(Config::client().seed(3).build()?, Instant::ZERO);
/// r.handle(Instant::ZERO, Event::Connected);
/// r.handle(Instant::from_secs(20), Event::Tick);
/// let text = r.scenario();
/// assert!(text.contains("20s tick -> send_ping 1"));
/// Scenario::replay(&text)?; // and it replays
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
